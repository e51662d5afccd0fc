"""Run the real daemon (``python -m appliance.daemon.service``) as a subprocess, with its real Unix socket.

There is no udev and no USB here, so media events come from a FIFO of recorded events (``--media-events``):
the same ``Daemon.on_media`` path the udev watcher feeds on the appliance. The front panel is the simulator
on a real pty; the watchdog device is a regular file (no /dev/watchdog here), which shows each pet as a byte.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.daemon.client import DaemonClient
from firmware.panel.simulator import PanelSimulator
from tests.conftest import REPO, gapscan_env


class DaemonHarness:
    def __init__(self, state_dir: Path, tmp: Path, args: list[str], env: dict[str, str] | None = None) -> None:
        self.state_dir = state_dir
        self.fifo = tmp / "media-events"
        os.mkfifo(self.fifo)
        self._fifo_fd = os.open(self.fifo, os.O_RDWR)  # never blocks; keeps the FIFO open between events
        self.panel_link = tmp / "usb-gapscan_panel-if00"
        self.panel = PanelSimulator(self.panel_link)
        self.watchdog = tmp / "watchdog"
        self.watchdog.touch()
        self.log_path = tmp / "gapscand.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        argv = [sys.executable, "-m", "appliance.daemon.service", "--state-dir", str(state_dir),
                "--media-events", str(self.fifo), "--panel", str(self.panel_link), "--watchdog",
                str(self.watchdog), "--watchdog-interval", "0.1", "--page-seconds", "0.3",
                "--web-url", "https://192.0.2.10", *args]
        self.proc = subprocess.Popen(argv, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**gapscan_env(state_dir), **(env or {})})
        self.client = DaemonClient(state_dir)
        deadline = time.monotonic() + 20
        while True:
            try:
                self.client.ping()
                break
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gapscand did not come up:\n{self.log_path.read_text()}") from None
                time.sleep(0.1)

    def inject(self, action: str, key: str, volumes: list[dict[str, Any]] | None = None) -> None:
        drive: dict[str, Any] = {"devnode": key, "vendor": "Kingston", "model": "DataTraveler", "serial": "0042"}
        if volumes is not None:
            drive["volumes"] = volumes
        os.write(self._fifo_fd, json.dumps({"action": action, "drive": drive}).encode() + b"\n")

    def wait_drive(self, key: str, predicate, timeout: float = 30.0) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        drive: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            drive = next((d for d in self.client.media() if d["key"] == key), None)
            if drive is not None and predicate(drive):
                return drive
            time.sleep(0.1)
        raise AssertionError(f"drive {key} never reached the expected state; last: {drive}\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_text().splitlines() if line.strip()]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.panel.close()
        if self._fifo_fd >= 0:
            os.close(self._fifo_fd)
        self._fifo_fd = -1
        self._log.close()


@pytest.fixture
def start_daemon(state_dir: Path, tmp_path: Path) -> Iterator[Any]:
    started: list[DaemonHarness] = []

    def start(*args: str, env: dict[str, str] | None = None) -> DaemonHarness:
        h = DaemonHarness(state_dir, tmp_path, list(args), env)
        started.append(h)
        return h

    yield start
    for h in started:
        if h._fifo_fd >= 0:
            h.close()


#: Enough one-line files that a scan is still running when a test pulls the drive or stops the daemon: at
#: 6,000 a quiet machine finished the scan first (the scan pipeline reached ~15,000 files/s).
MANY_FILES = 30_000


@pytest.fixture(scope="session")
def many_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """MANY_FILES one-line files: a scan that takes a few seconds, long enough to pull the drive mid-way.

    Made on tmpfs (/dev/shm) when there is one: creating many files on the CI disk is the slow part.
    """
    import shutil
    import tempfile

    shm = Path("/dev/shm")
    base = Path(tempfile.mkdtemp(prefix="gapscan-many-", dir=shm)) if shm.is_dir() and os.access(shm, os.W_OK) \
        else tmp_path_factory.mktemp("many")
    root = base / "volume"
    for d in range(6):
        sub = root / f"dir{d}"
        sub.mkdir(parents=True)
        for i in range(MANY_FILES // 6):
            fd = os.open(sub / f"file{i:04d}.txt", os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, b"%d\n" % i)
            os.close(fd)
    yield root
    shutil.rmtree(base, ignore_errors=True)
