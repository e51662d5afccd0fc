"""The one small interface every media reader implements.

A Source walks a tree it does not trust and opens its files read-only. It never writes: there is no
write method to call. Paths are ``bytes`` end to end (a hostile name may not be valid UTF-8); they are
escaped only where a person or a JSON reader sees them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol, runtime_checkable


class SourceError(Exception):
    """The source as a whole cannot be read (missing, not a directory, device gone, bad credentials)."""


class MediaGone(SourceError):
    """The medium vanished mid-scan (USB drive pulled, image truncated or deleted, share dropped).

    Raised by ``walk()`` or by a stream's ``read``; the scan job ends the scan ``interrupted`` and keeps every
    result recorded so far, so ``--resume`` can finish it once the medium is back.
    """


#: ``Entry.size`` of a FILE whose size the walk did not look up (a local directory walked for a scan, see
#: ``LocalDirSource.defer_file_stat``): the opened stream's ``stat`` (an ``os.stat_result``) tells it.
SIZE_UNKNOWN = -1


class EntryKind(enum.StrEnum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    FIFO = "fifo"
    SOCKET = "socket"
    CHARDEV = "chardev"
    BLOCKDEV = "blockdev"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing found while walking a source.

    ``path`` is relative to the source root, ``/``-separated bytes. ``error`` is set when the entry
    could not be examined (permission denied, EIO, vanished); such entries are recorded, not hashed.
    ``flags`` carries facts such as ``deleted`` (recovered from unallocated metadata), ``archive``
    (a member inside an archive), ``ads`` (an NTFS alternate data stream), ``sparse``.
    ``ref`` is the reader's own opaque handle used by :meth:`Source.open`; callers never inspect it.
    ``size`` is :data:`SIZE_UNKNOWN` (and ``mtime`` None) only where the scan asked the source to defer the stat.
    """

    path: bytes
    kind: EntryKind
    size: int = 0
    mtime: float | None = None
    flags: frozenset[str] = field(default_factory=frozenset)
    error: str | None = None
    ref: object = field(default=None, compare=False, repr=False)


@runtime_checkable
class Source(Protocol):
    """A read-only tree of entries: a directory, a block device, an image, an SMB share, an archive."""

    #: Human-readable identity for reports, e.g. ``/media/usb`` or ``smb://host/share``.
    name: str

    def describe(self) -> dict[str, object]:
        """Identity facts recorded in the scan report (type, path/URL, device serial, fs type ...)."""
        ...

    def walk(self) -> Iterator[Entry]:
        """Yield every entry, streaming, in a deterministic order (so an interrupted scan can resume)."""
        ...

    def open(self, entry: Entry) -> BinaryIO:
        """Open a FILE entry for reading. Raises ``OSError`` with a clear message on failure."""
        ...

    def close(self) -> None:
        """Release handles. Safe to call twice."""
        ...
