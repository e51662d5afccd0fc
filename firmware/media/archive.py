"""Expand ZIP and TAR (.tar, .tar.gz/.tgz, .tar.bz2, .tar.xz) members of any Source as more entries.

A member is reported as ``outer.zip!inner/path`` (nested: ``a.zip!b.tar!c.txt``) with flag ``archive``; the
archive file itself is still hashed as a file. Archives are hostile input, so each top-level archive (with
everything nested in it) has limits (:class:`ArchiveLimits`): members, total expanded bytes, expansion ratio,
nesting depth. A limit tripping ends that archive with one error entry ``outer.zip!`` giving the reason; the
members already listed stay, the scan goes on. Encrypted ZIP members are recorded (flag ``encrypted``, an
error saying so), never guessed at. Nothing is written to the medium: compressed tars and nested archives are
decompressed into anonymous in-memory files (memfd: scanned content never reaches a disk, not even the
appliance's own), bounded by the same limits.
"""

from __future__ import annotations

import bz2
import calendar
import errno
import gzip
import io
import lzma
import os
import tarfile
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from firmware.media.source import Entry, EntryKind, Source

_ZIP_SUFFIXES = (b".zip",)
_TAR_SUFFIXES = (b".tar", b".tar.gz", b".tgz", b".tar.bz2", b".tbz2", b".tar.xz", b".txz")
_CHUNK = 1 << 20
#: Exceptions the stdlib archive readers raise on corrupt input; each becomes an OSError (a recorded error).
_CORRUPT = (zipfile.BadZipFile, tarfile.TarError, zlib.error, lzma.LZMAError, EOFError, NotImplementedError,
            RuntimeError, ValueError, gzip.BadGzipFile)


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """Per top-level archive (nested ones count towards their outermost archive)."""

    max_members: int = 100_000
    max_total_bytes: int = 8 << 30
    max_ratio: int = 1000  # expanded / compressed, checked once a member or stream is past ratio_min_bytes
    ratio_min_bytes: int = 1 << 20
    max_depth: int = 3  # archives inside archives: a.zip (1) ! b.zip (2) ! c.zip (3); deeper ones are not opened
    #: Compressed tars and nested archives are unpacked into memory (a memfd), at most this many bytes:
    max_spool_bytes: int = 1 << 30

    def to_json(self) -> dict[str, int]:
        return {"max_members": self.max_members, "max_total_bytes": self.max_total_bytes,
                "max_ratio": self.max_ratio, "max_depth": self.max_depth, "max_spool_bytes": self.max_spool_bytes}


class LimitExceeded(Exception):
    """An archive tripped a bomb limit; the message says which."""


@dataclass(slots=True)
class _Budget:
    limits: ArchiveLimits
    members: int = 0
    expanded: int = 0

    def add_member(self, size: int, compressed: int | None) -> None:
        lim = self.limits
        self.members += 1
        self.expanded += size
        if self.members > lim.max_members:
            raise LimitExceeded(f"more than {lim.max_members} members")
        if compressed is not None and size >= lim.ratio_min_bytes and size > lim.max_ratio * max(compressed, 1):
            raise LimitExceeded(f"a member expands more than {lim.max_ratio}:1 ({compressed} -> {size} bytes)")
        if self.expanded > lim.max_total_bytes:
            raise LimitExceeded(f"members expand to more than {lim.max_total_bytes} bytes")


@dataclass(slots=True)
class _Shared:
    """An open archive shared by its member entries' refs; reads are serialised (one file position)."""

    fh: BinaryIO
    zf: zipfile.ZipFile | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True, slots=True)
class _ZipRef:
    shared: _Shared
    info: zipfile.ZipInfo


@dataclass(frozen=True, slots=True)
class _TarRef:
    shared: _Shared
    offset: int
    size: int


def _opened_size(stream: BinaryIO) -> int:
    st = getattr(stream, "stat", None)
    if isinstance(st, os.stat_result):
        return st.st_size
    pos = stream.tell()
    size = stream.seek(0, io.SEEK_END)
    stream.seek(pos)
    return size


def archive_kind(path: bytes) -> str | None:
    """'zip' or 'tar' from the name (compressed tars are recognised by content when opened)."""
    low = path.lower()
    if low.endswith(_ZIP_SUFFIXES):
        return "zip"
    if low.endswith(_TAR_SUFFIXES):
        return "tar"
    return None


class ArchiveSource:
    """Wraps a Source; yields its entries and, after each archive file, the archive's members."""

    def __init__(self, inner: Source, limits: ArchiveLimits | None = None) -> None:
        self._inner = inner
        self.limits = limits or ArchiveLimits()
        self.name = inner.name
        #: Forked hashing workers may open the inner source's files (archive members stay in the scan process:
        #: their refs hold the open archive, which does not cross a process boundary).
        self.fork_safe = bool(getattr(inner, "fork_safe", False))
        #: Members are read through the inner source's streams, so they raise MediaGone exactly when it may.
        self.reads_raise_media_gone = bool(getattr(inner, "reads_raise_media_gone", True))

    @staticmethod
    def forkable(entry: Entry) -> bool:
        """May a forked hashing worker open this entry? Not an archive member (see ``fork_safe``)."""
        return not isinstance(entry.ref, (_ZipRef, _TarRef))

    def defer_file_stat(self) -> None:
        """Passed on to the inner source (see ``LocalDirSource.defer_file_stat``); an archive whose size the
        walk left unknown is measured when it is opened for expansion."""
        defer = getattr(self._inner, "defer_file_stat", None)
        if defer is not None:
            defer()

    def describe(self) -> dict[str, object]:
        return {**self._inner.describe(), "archives": self.limits.to_json()}

    def walk(self) -> Iterator[Entry]:
        for entry in self._inner.walk():
            yield entry
            if entry.kind is EntryKind.FILE and entry.error is None and archive_kind(entry.path):
                budget = _Budget(self.limits)
                yield from self._expand(entry.path, lambda e=entry: self._inner.open(e), entry.size, 1, budget,
                                        entry.flags)

    def open(self, entry: Entry) -> BinaryIO:
        ref = entry.ref
        if isinstance(ref, _ZipRef):
            try:
                with ref.shared.lock:
                    assert ref.shared.zf is not None
                    member = ref.shared.zf.open(ref.info)
            except _CORRUPT as exc:
                raise OSError(errno.EIO, f"corrupt archive member: {exc}") from None
            return io.BufferedReader(_Guarded(member, ref.shared.lock), _CHUNK)  # type: ignore[return-value]
        if isinstance(ref, _TarRef):
            return io.BufferedReader(_Region(ref.shared, ref.offset, ref.size), _CHUNK)  # type: ignore[return-value]
        return self._inner.open(entry)

    def close(self) -> None:
        self._inner.close()

    # -- expansion -------------------------------------------------------------------------------
    def _expand(self, path: bytes, opener: Callable[[], BinaryIO], size: int, depth: int, budget: _Budget,
                outer_flags: frozenset[str]) -> Iterator[Entry]:
        flags = frozenset(outer_flags - {"ads"}) | {"archive"}
        marker = path + b"!"
        if depth > self.limits.max_depth:
            yield Entry(marker, EntryKind.OTHER, flags=flags,
                        error=f"archive nested deeper than {self.limits.max_depth} levels: not opened")
            return
        kind = archive_kind(path)
        try:
            stream = opener()
            if size < 0:  # the walk deferred the stat: the open file tells (the ratio limit needs the size)
                size = _opened_size(stream)
            fh = self._prepare(stream, kind, size, budget, depth)
            shared = _Shared(fh)
            if kind == "zip":
                shared.zf = zipfile.ZipFile(fh)
                members = self._zip_members(shared, marker, flags, budget)
            else:
                members = self._tar_members(shared, marker, flags, budget)
            for member, reopen in members:
                yield member
                if reopen is not None:
                    yield from self._expand(member.path, reopen, member.size, depth + 1, budget, member.flags)
        except LimitExceeded as exc:
            yield Entry(marker, EntryKind.OTHER, flags=flags,
                        error=f"archive limit reached: {exc}; the rest of this archive is not scanned")
        except (OSError, *_CORRUPT) as exc:  # MediaGone is neither: it ends the scan, not just this archive
            yield Entry(marker, EntryKind.OTHER, flags=flags, error=f"cannot read archive: {_text(exc)}")

    def _prepare(self, fh: BinaryIO, kind: str | None, size: int, budget: _Budget, depth: int) -> BinaryIO:
        """The archive as a seekable, decompressed file: the medium's own stream for a plain top-level archive,
        else an anonymous in-memory copy (compressed tars, archives nested in archives), within the limits."""
        reader: Any = fh if hasattr(fh, "peek") else io.BufferedReader(fh)  # type: ignore[arg-type]
        head = reader.peek(6)[:6]
        decoder: Any = None
        if kind == "tar" and head.startswith(b"\x1f\x8b"):
            decoder = gzip.GzipFile(fileobj=reader)
        elif kind == "tar" and head.startswith(b"BZh"):
            decoder = bz2.BZ2File(reader)
        elif kind == "tar" and head.startswith(b"\xfd7zXZ"):
            decoder = lzma.LZMAFile(reader)  # noqa: SIM115
        if decoder is None and depth == 1 and reader.seekable():
            return reader  # type: ignore[no-any-return]
        lim = self.limits
        # RAM only (the appliance has no swap): decompressed members of hostile media never touch a disk.
        spool = os.fdopen(os.memfd_create("gapscan-archive", os.MFD_CLOEXEC), "w+b")
        written = 0
        try:
            with reader:
                src = decoder or reader
                while chunk := src.read(_CHUNK):
                    written += len(chunk)
                    if written > lim.max_spool_bytes:
                        raise LimitExceeded(f"too large to unpack for scanning (over {lim.max_spool_bytes} bytes)")
                    if budget.expanded + written > lim.max_total_bytes:
                        raise LimitExceeded(f"expands to more than {lim.max_total_bytes} bytes")
                    if written >= lim.ratio_min_bytes and written > lim.max_ratio * max(size, 1):
                        raise LimitExceeded(f"expands more than {lim.max_ratio}:1 ({size} -> over {written} bytes)")
                    spool.write(chunk)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool  # type: ignore[return-value]

    def _zip_members(self, shared: _Shared, marker: bytes, flags: frozenset[str],
                     budget: _Budget) -> Iterator[tuple[Entry, Callable[[], BinaryIO] | None]]:
        assert shared.zf is not None
        for info in shared.zf.infolist():
            if info.is_dir():
                continue
            budget.add_member(info.file_size, info.compress_size)
            path = marker + info.filename.encode("utf-8", "surrogateescape")
            mtime = _zip_mtime(info)
            if info.flag_bits & 0x1:
                yield Entry(path, EntryKind.FILE, size=info.file_size, mtime=mtime, flags=flags | {"encrypted"},
                            error="encrypted archive member: content not readable"), None
                continue
            entry = Entry(path, EntryKind.FILE, size=info.file_size, mtime=mtime, flags=flags,
                          ref=_ZipRef(shared, info))
            yield entry, (self._member_opener(entry) if archive_kind(path) else None)

    def _tar_members(self, shared: _Shared, marker: bytes, flags: frozenset[str],
                     budget: _Budget) -> Iterator[tuple[Entry, Callable[[], BinaryIO] | None]]:
        with tarfile.open(fileobj=shared.fh, mode="r:") as tf:
            for info in tf:
                if not info.isfile():
                    continue
                budget.add_member(info.size, None)
                path = marker + info.name.encode("utf-8", "surrogateescape")
                entry = Entry(path, EntryKind.FILE, size=info.size, mtime=float(info.mtime), flags=flags,
                              ref=_TarRef(shared, info.offset_data, info.size))
                yield entry, (self._member_opener(entry) if archive_kind(path) else None)

    def _member_opener(self, entry: Entry) -> Callable[[], BinaryIO]:
        return lambda: self.open(entry)


class _Guarded(io.RawIOBase):
    """A ZIP member stream whose decompression errors become OSError (a recorded error, not a crash)."""

    def __init__(self, member: Any, lock: threading.Lock) -> None:
        super().__init__()
        self._member = member
        self._lock = lock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            with self._lock:
                return self._member.readinto(buffer)
        except _CORRUPT as exc:
            raise OSError(errno.EIO, f"corrupt archive member: {exc}") from None

    def close(self) -> None:
        self._member.close()
        super().close()


class _Region(io.RawIOBase):
    """A byte range of a shared, seekable file (a TAR member)."""

    def __init__(self, shared: _Shared, offset: int, size: int) -> None:
        super().__init__()
        self._shared, self._offset, self._size, self._pos = shared, offset, size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = min(len(view), self._size - self._pos)
        if n <= 0:
            return 0
        with self._shared.lock:
            self._shared.fh.seek(self._offset + self._pos)
            got = self._shared.fh.readinto(view[:n])
        if not got:
            raise OSError(errno.EIO, f"archive member truncated at {self._pos} of {self._size} bytes")
        self._pos += got
        return got


def _zip_mtime(info: zipfile.ZipInfo) -> float | None:
    try:
        return float(calendar.timegm((*info.date_time, 0, 0, 0)))
    except (ValueError, OverflowError):
        return None


def _text(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}"
