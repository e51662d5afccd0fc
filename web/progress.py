"""Live scan progress as the Scan page shows it: counts, rate, ETA, stage and a percentage.

The scan subprocess records into results.sqlite; progress is read back from there (through the controller's
``status``). A percentage and ETA need the size of the job, which a directory source cannot tell in advance:
for those the UI takes a bounded census of the directory (names and sizes only, never content, symlinks not
followed) when the scan starts. Where no census is possible the bar is indeterminate until the scan ends.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

CENSUS_SECONDS = 2.0
CENSUS_ENTRIES = 500_000

_totals: dict[str, tuple[int, int]] = {}
_lock = threading.Lock()


def census(root: str) -> tuple[int, int] | None:
    """(files, bytes) under ``root``, or None if it takes too long or cannot be read."""
    deadline = time.monotonic() + CENSUS_SECONDS
    files = size = 0
    stack = [os.fsencode(root)]
    while stack:
        top = stack.pop()
        try:
            with os.scandir(top) as it:
                for entry in it:
                    if time.monotonic() > deadline or files > CENSUS_ENTRIES:
                        return None
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        else:
                            files += 1
                            if entry.is_file(follow_symlinks=False):
                                size += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        files += 1
        except OSError:
            continue
    return files, size


def remember_total(scan_id: str, total: tuple[int, int] | None) -> None:
    if total:
        with _lock:
            _totals[scan_id] = total


@dataclass(frozen=True)
class Progress:
    scan_id: str
    status: str
    stage: str
    files: int
    bytes: int
    hits: int
    errors: int
    skipped: int
    seconds: float
    rate: float            # bytes per second
    files_per_s: float
    total_files: int | None
    percent: float | None  # None: unknown (indeterminate bar)
    eta_s: float | None
    done: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


STAGES = {"finished": "finished", "interrupted": "interrupted (results kept; can be resumed)",
          "cancelled": "cancelled", "failed": "failed"}


def progress_of(status: Any) -> Progress:
    """From a ScanStatus (controller or daemon client)."""
    with _lock:
        total = _totals.get(status.scan_id)
    running = status.status == "running"
    files_per_s = status.files / status.seconds if status.seconds > 0 else 0.0
    percent = eta = None
    total_files = total[0] if total else None
    if not running:
        stage = STAGES.get(status.status, status.status)
        percent = 100.0 if status.status == "finished" else None
        eta = 0.0 if status.status == "finished" else None
    else:
        stage = "hashing" if status.files else "starting: self-test, hash lists, reading the source"
        if total_files:
            percent = min(99.0, 100.0 * status.files / total_files)
            if files_per_s > 0:
                eta = max(0.0, (total_files - status.files) / files_per_s)
    return Progress(status.scan_id, status.status, stage, status.files, status.bytes, status.hits, status.errors,
                    status.skipped, round(status.seconds, 2), status.rate, files_per_s, total_files,
                    None if percent is None else round(percent, 1), None if eta is None else round(eta, 1),
                    not running)
