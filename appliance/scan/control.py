"""Start, watch and cancel scans from a long-running process (the daemon, or the web UI in demo mode).

Each scan runs as its own ``gapscan scan`` subprocess: a crashing scan cannot take down its caller, and a
crashing caller leaves a scan that the store marks resumable. Progress is read back from the results store,
which the scan writes in batches; there is no second channel to keep consistent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.errors import GapscanError
from appliance.results.store import ResultStore

if TYPE_CHECKING:
    from appliance.daemon.client import DaemonClient

#: How long ``start`` waits for a scan subprocess to record its scan before calling it failed.
START_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class ScanStatus:
    """What a UI shows of one scan. ``rate`` is bytes per second over the scan's hashing time."""

    scan_id: str
    source: str
    status: str  # running | finished | interrupted | failed | cancelled
    files: int
    bytes: int
    hits: int
    errors: int
    skipped: int
    seconds: float
    started_at: float
    finished_at: float | None
    rate: float


class ScanController:
    """Runs scans as subprocesses of this process, recording into ``state_dir``."""

    def __init__(self, state_dir: Path, *, command: Sequence[str] = (sys.executable, "-m", "appliance"),
                 selftest: bool = False) -> None:
        self.state_dir = Path(state_dir)
        self.command = list(command)
        #: Run the self-test before each scan, refuse the scan if it fails, store the report with the scan.
        self.selftest = selftest
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def start(self, source: str, *, extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None) -> str:
        """Start ``gapscan scan SOURCE`` and return its scan id once the scan is recorded.

        ``extra_args`` are further ``gapscan scan`` flags; ``env`` adds environment (e.g. a share password,
        which must never be put on a command line). Raises GapscanError with the scan's own message if it
        fails before recording anything.
        """
        report = None
        if self.selftest:
            from appliance.selftest import run_selftest

            report = run_selftest(self.state_dir, passphrase=(env or {}).get("GAPSCAN_PASSPHRASE"))
            if not report.passed:
                raise GapscanError(f"{report.summary()}; scanning is blocked until `gapscan selftest` passes")
        with tempfile.TemporaryDirectory(prefix="gapscan-ctl-") as tmp:
            id_file = Path(tmp) / "scan-id"
            argv = [*self.command, "--state-dir", str(self.state_dir), "scan", "--no-progress", "--json",
                    "--id-file", str(id_file), *extra_args, "--", source]
            log = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the child, closed by the reaper
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                                    env={**os.environ, **(env or {})}, start_new_session=True)
            deadline = time.monotonic() + START_TIMEOUT
            while not id_file.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    if proc.poll() is None:
                        proc.kill()
                    proc.wait()
                    log.seek(0)
                    message = log.read().decode("utf-8", "replace").strip() or f"exit status {proc.returncode}"
                    log.close()
                    raise GapscanError(f"scan of {source!r} did not start: {message}")
                time.sleep(0.05)
            scan_id = id_file.read_text(encoding="ascii").strip()
        with self._lock:
            self._procs[scan_id] = proc
        threading.Thread(target=_reap, args=(proc, log), daemon=True, name=f"reap-{scan_id}").start()
        if report is not None:
            with ResultStore.in_state_dir(self.state_dir) as store:
                store.update_extra(scan_id, selftest=report.to_json())
        return scan_id

    def cancel(self, scan_id: str) -> bool:
        """Ask a running scan to stop (SIGTERM: it checkpoints and ends ``interrupted``). False if not running."""
        with self._lock:
            proc = self._procs.get(scan_id)
        if proc is None or proc.poll() is not None:
            return False
        proc.send_signal(signal.SIGTERM)
        return True

    def running(self) -> list[str]:
        with self._lock:
            return [sid for sid, proc in self._procs.items() if proc.poll() is None]

    def wait(self, scan_id: str, timeout: float | None = None) -> int | None:
        """Wait for a scan started here to end; its exit status (0 clean, 1 hits, 2 error) or None."""
        with self._lock:
            proc = self._procs.get(scan_id)
        if proc is None:
            return None
        return proc.wait(timeout)

    def status(self, scan_id: str) -> ScanStatus | None:
        with ResultStore.in_state_dir(self.state_dir) as store:
            scan = store.get_scan(scan_id)
            if scan is None:
                return None
            c = store.counts(scan_id)
        seconds = scan.seconds
        if scan.status == "running":
            seconds = max(seconds, time.time() - scan.started_at)
        return ScanStatus(scan.id, scan.source, scan.status, c["files"], c["bytes"], c["hits"], c["errors"],
                          c["skipped"], seconds, scan.started_at, scan.finished_at,
                          c["bytes"] / seconds if seconds > 0 else 0.0)


def _reap(proc: subprocess.Popen[bytes], log: object) -> None:
    proc.wait()
    close = getattr(log, "close", None)
    if close:
        close()


def connect(state_dir: Path) -> DaemonClient | ScanController:
    """The daemon (``DaemonClient``) when gapscand answers on its socket, else a local ``ScanController``.

    Both have start / cancel / running / status / wait. The web UI uses this so scans are queued per device by
    the daemon on the appliance, and still work in development where no daemon runs. Either way each scan is
    preceded by the self-test, which blocks it on failure.
    """
    from appliance.daemon.client import DaemonClient

    client = DaemonClient(Path(state_dir), timeout=2.0)
    if client.path.exists():
        try:
            client.ping()
        except GapscanError:
            pass
        else:
            client.timeout = 10.0
            return client
    return ScanController(Path(state_dir), selftest=True)
