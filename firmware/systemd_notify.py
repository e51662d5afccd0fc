"""systemd's service notification protocol (sd_notify(3)) without libsystemd: one datagram per message.

gapscand runs as ``Type=notify`` with ``WatchdogSec``: it says ``READY=1`` once it serves, ``STOPPING=1`` when
it shuts down, and ``WATCHDOG=1`` at least every ``WATCHDOG_USEC / 2`` while healthy, so systemd restarts a
hung daemon (the hardware watchdog then covers a hung kernel). Outside systemd ``NOTIFY_SOCKET`` is unset and
every call is a no-op, so the same code runs in a terminal and in tests.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping


class SystemdNotifier:
    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        path = environ.get("NOTIFY_SOCKET", "")
        self.address = "\0" + path[1:] if path.startswith("@") else path  # "@name": Linux abstract socket
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        #: How often systemd wants ``WATCHDOG=1``: half its timeout, or None where it set no watchdog.
        self.watchdog_interval = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 and mine else None
        self.pets = 0

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, *fields: str) -> bool:
        """Send ``fields`` (e.g. ``"READY=1"``, ``"STATUS=idle"``) as one message. False if not sent."""
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(fields).encode(), self.address)
        except OSError:
            return False
        return True

    # The Watchdog interface of firmware.watchdog, so the same health-gated Petter drives both.
    def pet(self) -> bool:
        sent = self.notify("WATCHDOG=1")
        self.pets += sent
        return sent

    def close(self, *, magic: bool = True) -> None:
        """Nothing to disarm: systemd stops expecting pets once the service stops."""
