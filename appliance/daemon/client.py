"""``DaemonClient``: what the web UI and the CLI use to reach gapscand; the same methods as ScanController
(start / cancel / running / status / wait) plus ``enqueue()``, ``media()``, ``scan_drive()``, ``eject()`` and
``ping()``."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from appliance.daemon import SOCKET_NAME
from appliance.errors import GapscanError
from appliance.scan.control import START_TIMEOUT, ScanStatus

#: ``start`` waits for the self-test and for the scan to be recorded.
START_CALL_TIMEOUT = START_TIMEOUT + 60.0


def socket_path(state_dir: Path) -> Path:
    return Path(state_dir) / "run" / SOCKET_NAME


class DaemonClient:
    def __init__(self, state_dir: Path, *, timeout: float = 10.0) -> None:
        self.state_dir = Path(state_dir)
        self.path = socket_path(self.state_dir)
        self.timeout = timeout

    def call(self, op: str, *, timeout: float | None = None, **args: Any) -> dict[str, Any]:
        """One request; raises GapscanError with the daemon's message (or why it could not be reached)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout or self.timeout)
        try:
            try:
                s.connect(str(self.path))
            except OSError as exc:
                raise GapscanError(f"gapscand is not answering on {self.path} ({exc.strerror or exc}); "
                                   "check that the service runs: systemctl status gapscand") from None
            s.sendall(json.dumps({"op": op, **args}).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    raise GapscanError(f"gapscand closed the connection during {op!r}; see its log "
                                       "(journalctl -u gapscand)")
                buf += chunk
        except TimeoutError:
            raise GapscanError(f"gapscand did not answer {op!r} within {timeout or self.timeout:g} s") from None
        finally:
            s.close()
        reply = json.loads(buf)
        if not reply.get("ok"):
            raise GapscanError(reply.get("error") or f"gapscand refused {op!r}")
        return reply

    # -- ScanController's methods --------------------------------------------------------------------
    def start(self, source: str, *, extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None) -> str:
        return str(self.call("start", timeout=START_CALL_TIMEOUT, source=source, extra_args=list(extra_args),
                             env=dict(env or {}))["scan_id"])

    def cancel(self, scan_id: str) -> bool:
        return bool(self.call("cancel", scan_id=scan_id)["cancelled"])

    def running(self) -> list[str]:
        return list(self.call("running")["scans"])

    def status(self, scan_id: str) -> ScanStatus | None:
        data = self.call("status", scan_id=scan_id)["status"]
        return ScanStatus(**data) if data else None

    def wait(self, scan_id: str, timeout: float | None = None) -> int | None:
        """Wait until the scan is no longer running: 0 clean, 1 hits, 2 not finished; None if unknown.
        Raises TimeoutError after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            st = self.status(scan_id)
            if st is None:
                return None
            if st.status != "running" and scan_id not in self.running():
                return (1 if st.hits else 0) if st.status == "finished" else 2
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"scan {scan_id} still running after {timeout:g} s")
            time.sleep(0.2)

    # -- daemon-only ---------------------------------------------------------------------------------
    def enqueue(self, source: str, *, extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None) -> int:
        """Queue a scan behind the device's current one (one scan per device). Returns how many are ahead."""
        return int(self.call("enqueue", source=source, extra_args=list(extra_args), env=dict(env or {}))["ahead"])

    def ping(self) -> dict[str, Any]:
        return self.call("ping")

    def media(self) -> list[dict[str, Any]]:
        """Attached drives as the daemon knows them: identity, volumes, state, scans and progress."""
        return list(self.call("media")["drives"])

    def scan_drive(self, drive: str) -> int:
        """Queue a scan of every readable volume of an attached drive (auto-scan off). Returns how many."""
        return int(self.call("scan_drive", drive=drive)["queued"])

    def eject(self, drive: str) -> None:
        """Stop scanning a drive so it can be unplugged (the panel then says REMOVE DRIVE)."""
        self.call("eject", drive=drive)
