"""A RAM-only file for plaintext hash-list bytes on their way into the store.

A hash list's plaintext must never reach a filesystem (disk, log or temp file): an upload or a list read
from USB is staged in an anonymous ``memfd`` instead, which lives only in memory and is gone when the last
descriptor closes. The appliance has no swap, so those pages are never written out either. The importers
open files by path; ``/proc/self/fd/N`` names the memfd for them (each open gets its own offset).

NSRL RDSv3 SQLite databases cannot be staged this way: SQLite resolves the ``/proc/self/fd/N`` link to
``/memfd:... (deleted)`` and fails to open it, so :func:`refuse_sqlite` turns them away with a clear message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from appliance.errors import GapscanError

SQLITE_MAGIC = b"SQLite format 3\x00"


def open_memfd(name: str = "gapscan-hashlist") -> BinaryIO:
    """A new, empty in-memory file opened read/write (the caller closes it)."""
    return os.fdopen(os.memfd_create(name, os.MFD_CLOEXEC), "w+b")


@contextmanager
def memfd_file(name: str = "gapscan-hashlist") -> Iterator[tuple[BinaryIO, Path]]:
    """Yield ``(file object, /proc/self/fd/N path)`` for a new in-memory file; both are closed on exit.
    Write the bytes through the file object, then hand the path to ``HashListStore.import_file``."""
    fh = open_memfd(name)
    try:
        yield fh, Path(f"/proc/self/fd/{fh.fileno()}")
    finally:
        fh.close()


def refuse_sqlite(fh: BinaryIO) -> None:
    """Raise GapscanError where the staged bytes are a SQLite database (NSRL RDSv3): not importable from RAM."""
    fh.flush()
    head = os.pread(fh.fileno(), len(SQLITE_MAGIC), 0)
    if head == SQLITE_MAGIC:
        raise GapscanError("NSRL RDSv3 SQLite databases cannot be imported from USB or upload (SQLite cannot "
                           "open an in-memory file, and list plaintext never goes to disk); import the legacy "
                           "NSRLFile.txt CSV instead")
