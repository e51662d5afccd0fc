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
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    step(f"fsync-dir {path.name}")


def write_file(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write a new file (not atomic by itself) and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        step(f"write {path.name}")
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(path, mode)
    step(f"fsync {path.name}")


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    write_file(tmp, data, mode=mode)
    os.replace(tmp, path)
    step(f"rename {path.name}")
    fsync_dir(path.parent)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=1, sort_keys=True).encode() + b"\n")


def read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return default
