"""Power-cut-safe writes (temp in the same dir, fsync, rename, fsync dir) and the fault-injection hook.

``GAPSCAN_UPDATE_FAULT_STEP=K`` makes the process SIGKILL itself right after its K-th durable step
(write, fsync, rename); ``GAPSCAN_UPDATE_STEP_LOG=FILE`` appends each step's name. The power-cut tests
use them to stop a real installer between every pair of steps. Unset, they cost one dict lookup.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from firmware import atomic

_steps = 0


def step(name: str) -> None:
    """Mark one durable step done; the fault hook may kill the process here."""
    global _steps
    _steps += 1
    log = os.environ.get("GAPSCAN_UPDATE_STEP_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{_steps} {name}\n")
    if os.environ.get("GAPSCAN_UPDATE_FAULT_STEP") == str(_steps):
        os.kill(os.getpid(), signal.SIGKILL)


def fsync_dir(path: Path) -> None:
    atomic.fsync_dir(path, step=step)


def write_file(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write a new file (not atomic by itself) and fsync it."""
    atomic.write_new(path, data, mode=mode, step=step)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    atomic.write_atomic(path, data, mode=mode, step=step)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=1, sort_keys=True).encode() + b"\n")


def read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return default
