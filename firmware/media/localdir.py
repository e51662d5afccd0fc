"""Walk an already-mounted local directory tree without trusting anything in it.

Rules (each has a test in tests/core/test_walk_hostile.py):
- never follows symlinks (they are recorded as SYMLINK entries);
- never opens FIFOs, sockets or device nodes (opening a FIFO would hang the scan);
- iterative depth-first walk with directory file descriptors and ``openat``-style calls, so depth is not
  limited by Python's recursion limit nor by PATH_MAX;
- every directory is listed once, sorted by name bytes, so the order is deterministic (resume relies on it);
- a file is opened with O_NOFOLLOW | O_NOATIME (where permitted) | O_NONBLOCK and the open descriptor is
  checked (fstat): a file swapped for a symlink after listing is not followed (O_NOFOLLOW) and one swapped
  for a FIFO, socket or device is refused before any read (not S_ISREG); a stat-time entry also has its
  device/inode checked against what the walk saw;
- with ``defer_stat`` (what a scan sets: :meth:`defer_file_stat`), regular files are told apart by the
  directory entry's type (d_type) and yielded with size ``SIZE_UNKNOWN``, without a stat in the walk: the
  open descriptor's fstat supplies size, mtime and the sparse flag (:attr:`OpenedFile.stat`), in the hashing
  worker. d_ino is not compared (on overlayfs it need not equal st_ino); the fstat type check still holds.
- permission errors, vanished files and EIO become entries (or, for a file, results) with ``error`` set; the
  walk goes on (tests/core/test_walk_faults.py).
"""

from __future__ import annotations

import errno
import io
import os
import resource
import stat
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

from firmware.media.source import SIZE_UNKNOWN, Entry, EntryKind, SourceError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NOATIME = getattr(os, "O_NOATIME", 0)
#: Paths at most this long are opened in one call; longer ones component by component.
_SHORT_PATH = 3800
#: File descriptors kept free for hashing workers, SQLite and the rest of the process.
_FD_RESERVE = 256
_NO_FLAGS: frozenset[str] = frozenset()
_SPARSE = frozenset({"sparse"})
_FILE = EntryKind.FILE


def _kind_of(mode: int) -> EntryKind:
    if stat.S_ISREG(mode):
        return EntryKind.FILE
    if stat.S_ISDIR(mode):
        return EntryKind.DIR
    if stat.S_ISLNK(mode):
        return EntryKind.SYMLINK
    if stat.S_ISFIFO(mode):
        return EntryKind.FIFO
    if stat.S_ISSOCK(mode):
        return EntryKind.SOCKET
    if stat.S_ISCHR(mode):
        return EntryKind.CHARDEV
    if stat.S_ISBLK(mode):
        return EntryKind.BLOCKDEV
    return EntryKind.OTHER


def _describe_oserror(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0, "OSError")
    return f"{name}: {exc.strerror or exc}"


def _raise_fd_limit() -> int:
    """Raise the soft open-files limit to the hard one; return how many directories may be open at once."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return max(16, soft - _FD_RESERVE)


class _FileRef(NamedTuple):
    """Which inode the walk saw at an entry's path (when it stat'ed it), checked by :meth:`LocalDirSource.open`.
    A tuple, so it crosses to a hashing worker process cheaply."""

    dev: int
    ino: int


class OpenedFile(io.FileIO):
    """An open regular file of a local directory, unbuffered (the hasher reads into its own buffer), with the
    fstat taken when it was opened: size, mtime and allocation for entries the walk did not stat."""

    stat: os.stat_result


class _Frame:
    __slots__ = ("fd", "names", "pos", "rel")

    def __init__(self, fd: int, rel: bytes, names: list[tuple[bytes, bool]]) -> None:
        self.fd = fd
        self.rel = rel
        self.names = names
        self.pos = 0


class LocalDirSource:
    """A plain directory (an already-mounted volume, or a tree of evidence files)."""

    #: No handle is held between calls, so forked hashing workers may open files through a copy of this object.
    fork_safe = True
    #: A failed read is an OSError (EIO ...) recorded for that file; :class:`MediaGone` never comes from here.
    reads_raise_media_gone = False

    def __init__(self, root: str | os.PathLike[str] | bytes) -> None:
        root_b = os.fsencode(root)
        self._root = os.path.abspath(root_b)
        self.name = os.fsdecode(self._root)
        try:
            st = os.stat(self._root)
        except OSError as exc:
            raise SourceError(f"cannot read source {self.name!r}: {_describe_oserror(exc)}") from exc
        if not stat.S_ISDIR(st.st_mode):
            raise SourceError(f"source {self.name!r} is not a directory")
        self._max_depth = _raise_fd_limit()
        self.defer_stat = False

    def defer_file_stat(self) -> None:
        """Yield regular files without a stat (size ``SIZE_UNKNOWN``): the opened file's fstat tells size and
        mtime. A scan asks for it: one syscall and one stat object less per file in the walking process."""
        self.defer_stat = True

    # -- Source interface ------------------------------------------------------------------------
    def describe(self) -> dict[str, object]:
        return {"type": "directory", "path": self.name}

    def walk(self) -> Iterator[Entry]:
        try:
            root_fd = os.open(self._root, _DIR_FLAGS)
        except OSError as exc:
            raise SourceError(f"cannot open source {self.name!r}: {_describe_oserror(exc)}") from exc
        stack: list[_Frame] = []
        defer = self.defer_stat
        try:
            names, err = self._list(root_fd)
            if err:
                yield Entry(b"", EntryKind.DIR, error=err)
            stack.append(_Frame(root_fd, b"", names))
            while stack:
                frame = stack[-1]
                if frame.pos >= len(frame.names):
                    stack.pop()
                    os.close(frame.fd)
                    continue
                name, is_file = frame.names[frame.pos]
                frame.pos += 1
                rel = frame.rel + b"/" + name if frame.rel else name
                if is_file and defer:
                    yield Entry(rel, _FILE, SIZE_UNKNOWN, None, _NO_FLAGS)
                    continue
                try:
                    st = os.stat(name, dir_fd=frame.fd, follow_symlinks=False)
                except OSError as exc:
                    yield Entry(rel, EntryKind.OTHER, error=_describe_oserror(exc))
                    continue
                kind = _kind_of(st.st_mode)
                if kind is not EntryKind.DIR:
                    yield self._entry(rel, kind, st)
                    continue
                if len(stack) >= self._max_depth:
                    yield Entry(rel, kind, mtime=st.st_mtime,
                                error=f"nested deeper than {self._max_depth} levels: not descended")
                    continue
                try:
                    fd = os.open(name, _DIR_FLAGS, dir_fd=frame.fd)
                except OSError as exc:
                    yield Entry(rel, kind, mtime=st.st_mtime, error=_describe_oserror(exc))
                    continue
                fst = os.fstat(fd)
                if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):
                    os.close(fd)
                    yield Entry(rel, kind, error="directory was replaced during the scan: not descended")
                    continue
                child_names, err = self._list(fd)
                yield Entry(rel, kind, mtime=st.st_mtime, error=err)
                stack.append(_Frame(fd, rel, child_names))
        finally:
            for frame in stack:
                os.close(frame.fd)

    def open(self, entry: Entry) -> BinaryIO:
        ref = entry.ref
        if entry.kind is not EntryKind.FILE or not (ref is None or isinstance(ref, _FileRef)):
            raise OSError(errno.EINVAL, f"not a regular file from this source: {entry.path!r}")
        try:
            fd = self._open_path(entry.path)
        except OSError as exc:  # unreadable or gone: an lstat, where it works, still tells size and mtime
            if entry.size < 0:
                exc.stat = self._lstat(entry.path)  # type: ignore[attr-defined]
            raise
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.ESTALE, "no longer a regular file (replaced during the scan): not read")
            if ref is not None and (st.st_dev, st.st_ino) != (ref.dev, ref.ino):
                raise OSError(errno.ESTALE, "file was replaced during the scan")
            f = OpenedFile(fd, "rb", closefd=True)
        except BaseException:
            os.close(fd)
            raise
        f.stat = st
        return f  # type: ignore[return-value]

    def close(self) -> None:
        """Nothing is held between calls: directory descriptors live only inside :meth:`walk`."""

    def __enter__(self) -> LocalDirSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------------
    def _entry(self, rel: bytes, kind: EntryKind, st: os.stat_result) -> Entry:
        flags = _NO_FLAGS
        ref = None
        if kind is EntryKind.FILE:
            allocated = getattr(st, "st_blocks", 0) * 512
            if st.st_size > 0 and allocated < st.st_size // 2:
                flags = _SPARSE
            ref = _FileRef(st.st_dev, st.st_ino)
        return Entry(rel, kind, size=st.st_size if kind is EntryKind.FILE else 0,
                     mtime=st.st_mtime, flags=flags, ref=ref)

    @staticmethod
    def _list(fd: int) -> tuple[list[tuple[bytes, bool]], str | None]:
        """Names in a directory, sorted by bytes, each with whether its d_type says regular file (no stat:
        DirEntry answers from d_type, and stats only where the file system leaves it unknown). A failure
        part-way keeps what was read."""
        names: list[tuple[bytes, bool]] = []
        err = None
        fsencode = os.fsencode
        try:
            with os.scandir(fd) as it:  # scandir duplicates the descriptor; ours stays open
                for de in it:
                    try:
                        is_file = de.is_file(follow_symlinks=False)
                    except OSError:  # d_type unknown and the lstat failed (vanished): the walk's stat says why
                        is_file = False
                    names.append((fsencode(de.name), is_file))
        except OSError as exc:
            err = _describe_oserror(exc)
        names.sort()
        return names, err

    def _lstat(self, rel: bytes) -> os.stat_result | None:
        path = self._root + b"/" + rel
        if len(path) > _SHORT_PATH:
            return None
        try:
            return os.stat(path, follow_symlinks=False)
        except OSError:
            return None

    def _open_path(self, rel: bytes) -> int:
        path = self._root + b"/" + rel
        if len(path) <= _SHORT_PATH:
            return _open_file(path, None)
        components = rel.split(b"/")
        fd = os.open(self._root, _DIR_FLAGS)
        try:
            for comp in components[:-1]:
                nxt = os.open(comp, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = nxt
            return _open_file(components[-1], fd)
        finally:
            os.close(fd)


def _open_file(path: bytes, dir_fd: int | None) -> int:
    try:
        return os.open(path, _FILE_FLAGS | _NOATIME, dir_fd=dir_fd)
    except PermissionError:
        if not _NOATIME:
            raise
        # O_NOATIME needs ownership or CAP_FOWNER; fall back (the mount should be noatime anyway).
        return os.open(path, _FILE_FLAGS, dir_fd=dir_fd)

