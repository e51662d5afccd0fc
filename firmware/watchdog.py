"""The Linux hardware watchdog (``/dev/watchdog``): pet it while healthy, and the board reboots a hung appliance.

Linux semantics: opening the device arms it; any write pets it; writing ``V`` just before closing ("magic
close") disarms it, so a clean stop does not reboot the box, while a crash (no ``V``) does. The caller decides
when it is healthy; this module only does the device I/O, and never raises on a missing device.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

DEFAULT_DEVICE = "/dev/watchdog"


class Watchdog:
    def __init__(self, path: str = DEFAULT_DEVICE) -> None:
        self.path = path
        self._fd: int | None = None
        self.problem: str | None = None
        self.pets = 0

    def open(self) -> bool:
        """Arm the watchdog. False (with ``problem`` set) when there is none or it cannot be opened."""
        if self._fd is not None:
            return True
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as exc:
            self.problem = f"watchdog {self.path} unavailable ({exc.strerror or exc}); a hang will not reboot"
            return False
        self.problem = None
        return True

    @property
    def armed(self) -> bool:
        return self._fd is not None

    def pet(self) -> bool:
        if self._fd is None:
            return False
        try:
            os.write(self._fd, b"\0")
        except OSError as exc:
            self.problem = f"cannot pet watchdog {self.path}: {exc.strerror or exc}"
            return False
        self.pets += 1
        return True

    def close(self, *, magic: bool = True) -> None:
        """Disarm (magic close) on a clean stop; ``magic=False`` leaves it to fire (e.g. on a fatal error)."""
        if self._fd is None:
            return
        try:
            if magic:
                os.write(self._fd, b"V")
        except OSError:
            pass
        finally:
            os.close(self._fd)
            self._fd = None


class Petter:
    """A thread that pets ``watchdog`` every ``interval`` seconds for as long as ``healthy()`` says so.

    When health fails it simply stops petting: the hardware then reboots the box after its timeout. It never
    "fixes" anything itself, so a hang anywhere the health check looks is a reboot, as intended.
    """

    def __init__(self, watchdog: Watchdog, healthy: Callable[[], tuple[bool, str]], interval: float = 5.0) -> None:
        self.watchdog = watchdog
        self.healthy = healthy
        self.interval = interval
        self.last_problem: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)

    def start(self) -> Petter:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            ok, why = self.healthy()
            if ok:
                self.watchdog.pet()
                self.last_problem = None
            else:
                self.last_problem = why
            self._stop.wait(self.interval)

    def stop(self, *, magic: bool = True) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.watchdog.close(magic=magic)
