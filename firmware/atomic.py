"""Power-cut-safe file writes: write a temp file in the same directory, fsync it, rename it over the target,
fsync the directory. A crash at any point leaves the old file or the new one, never a mix.

One implementation for every piece of state (keys, hash lists, settings, update versions). ``step`` is told
each durable step by name ("write X", "fsync X", "rename X", "fsync-dir D"), so the power-cut tests can kill a
real process between any two of them (see appliance/update/durable.py).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

Step = Callable[[str], None]


def _no_step(_name: str) -> None:
    return None


def fsync_dir(path: Path, *, step: Step = _no_step) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    step(f"fsync-dir {Path(path).name}")


def write_new(path: Path, data: bytes, *, mode: int = 0o600, step: Step = _no_step) -> None:
    """Create ``path`` (it must not exist; never through a symlink) holding ``data``, fsynced. Not atomic alone."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        step(f"write {Path(path).name}")
        fh.flush()
        os.fchmod(fh.fileno(), mode)  # whatever the umask
        os.fsync(fh.fileno())
    step(f"fsync {Path(path).name}")


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600, step: Step = _no_step) -> None:
    """Replace ``path`` with ``data`` so that a power cut leaves either the old or the new file.

    The temp file is ``.NAME.tmp`` beside the target, so a leftover from a crash is found and replaced by the
    next write. Threads of one process (web requests saving settings) take turns per target; processes that
    may write the same file at once hold their own lock (the hash-list store does).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with _lock_for(path):
        tmp.unlink(missing_ok=True)
        try:
            write_new(tmp, data, mode=mode, step=step)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        step(f"rename {path.name}")
        fsync_dir(path.parent, step=step)


_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path.absolute(), threading.Lock())
