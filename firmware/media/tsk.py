"""Read a block device or raw image in userland with The Sleuth Kit (pytsk3) — never a kernel mount.

A hostile USB stick may carry a filesystem crafted against the kernel's drivers, and even a read-only
kernel mount can replay a journal. TSK parses FAT12/16/32, exFAT, NTFS, ext2/3/4, HFS+ and ISO 9660 in
this process, read-only. Partition tables (MBR, GPT) are found and each allocated partition is a volume
named ``p1``, ``p2`` ... (in table order; paths read ``p1/dir/file``); a medium without a partition table
is one volume and paths carry no prefix.

Besides allocated files the walk yields:
- deleted files whose metadata still describes their content (flag ``deleted``); deleted names whose
  metadata is gone or reused by another file are not yielded (nothing of theirs can be read);
- NTFS alternate data streams as ``path:stream`` (flag ``ads``);
- TSK's ``$OrphanFiles`` virtual folder (deleted files whose name is lost), flagged ``deleted``.
Filesystem metadata files (NTFS ``$MFT`` ..., FAT ``$FAT1`` ..., exFAT ``$ALLOC_BITMAP`` ...) are skipped.

A volume TSK cannot read (corrupt, unsupported) becomes one error entry named after the volume; the other
volumes are still walked. A read error that turns out to be the medium vanishing raises :class:`MediaGone`.
TSK is not documented as thread-safe, so every call into it holds one lock per source.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import pytsk3

from firmware.media.rawdev import gone_reason, medium_size
from firmware.media.source import Entry, EntryKind, MediaGone, SourceError

_META_KIND = {
    int(pytsk3.TSK_FS_META_TYPE_REG): EntryKind.FILE,
    int(pytsk3.TSK_FS_META_TYPE_DIR): EntryKind.DIR,
    int(pytsk3.TSK_FS_META_TYPE_LNK): EntryKind.SYMLINK,
    int(pytsk3.TSK_FS_META_TYPE_FIFO): EntryKind.FIFO,
    int(pytsk3.TSK_FS_META_TYPE_SOCK): EntryKind.SOCKET,
    int(pytsk3.TSK_FS_META_TYPE_CHR): EntryKind.CHARDEV,
    int(pytsk3.TSK_FS_META_TYPE_BLK): EntryKind.BLOCKDEV,
}
_VIRT = int(pytsk3.TSK_FS_META_TYPE_VIRT)
_VIRT_DIR = int(pytsk3.TSK_FS_META_TYPE_VIRT_DIR)
_NAME_UNALLOC = int(pytsk3.TSK_FS_NAME_FLAG_UNALLOC)
_META_ALLOC = int(pytsk3.TSK_FS_META_FLAG_ALLOC)
_PART_ALLOC = int(pytsk3.TSK_VS_PART_FLAG_ALLOC)
_ATTR_NTFS_DATA = int(pytsk3.TSK_FS_ATTR_TYPE_NTFS_DATA)
_ATTR_DEFAULT = int(pytsk3.TSK_FS_ATTR_TYPE_DEFAULT)
_EXFAT_SYSTEM = {b"$ALLOC_BITMAP", b"$UPCASE_TABLE", b"$VOLUME_GUID", b"$TEXFAT", b"$ACT"}
#: NTFS MFT records 0..15 are the filesystem's own files ($MFT, $LogFile, $Bitmap, $Extend ...).
_NTFS_FIRST_USER_RECORD = 16


def _fs_type_names() -> dict[int, str]:
    names: dict[int, str] = {}
    for attr in dir(pytsk3):
        if attr.startswith("TSK_FS_TYPE_") and not attr.endswith(("DETECT", "_ALL", "UNSUPP", "ENUM")):
            names.setdefault(int(getattr(pytsk3, attr)), attr[len("TSK_FS_TYPE_"):].lower())
    return names


_FS_TYPES = _fs_type_names()
_VS_TYPES = {int(getattr(pytsk3, a)): a[len("TSK_VS_TYPE_"):].lower() for a in dir(pytsk3)
             if a.startswith("TSK_VS_TYPE_") and not a.endswith(("DETECT", "UNSUPP", "ENUM"))}


@dataclass(slots=True)
class _Volume:
    """One filesystem on the medium (a partition, or the whole medium)."""

    prefix: bytes  # b"p1" or b"" for an unpartitioned medium
    offset: int
    length: int
    description: str
    fs: Any = None  # pytsk3.FS_Info once opened
    fstype: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"name": self.prefix.decode() or "/", "offset": self.offset, "size": self.length,
                "partition": self.description, "fstype": self.fstype, "error": self.error}


@dataclass(frozen=True, slots=True)
class _TskRef:
    file: Any  # pytsk3.File
    attr_type: int
    attr_id: int
    size: int


@dataclass(slots=True)
class _DirRow:
    name: bytes
    kind: EntryKind | None  # None: TSK virtual file (skipped)
    virtual_dir: bool
    deleted: bool
    meta_addr: int
    size: int
    mtime: float | None
    file: Any
    streams: list[tuple[bytes, int, int]] = field(default_factory=list)  # NTFS ADS: (name, attr id, size)


class TskSource:
    """A block device (``/dev/sdb``, ``/dev/sdb1``) or a raw disk/partition image, read through pytsk3."""

    def __init__(self, path: str, *, max_depth: int | None = None, deleted: bool = True) -> None:
        """``max_depth``: descend at most this many folders below each volume's root (None: all).
        ``deleted=False``: allocated files only (no deleted names, no ``$OrphanFiles``, whose listing makes TSK
        read every inode of the volume) — for quick looks such as finding update bundles."""
        self._path = path
        self._max_depth = max_depth
        self._deleted = deleted
        self.name = path
        self._lock = threading.RLock()
        try:
            mode = os.stat(path).st_mode
            self._size = medium_size(path)
        except OSError as exc:
            raise SourceError(f"cannot read {path!r}: {exc.strerror or exc}") from exc
        self._kind = "blockdevice" if stat.S_ISBLK(mode) else "image"
        if self._size == 0:
            raise SourceError(f"{path!r} is empty (no medium in the drive?)")
        try:
            self._img = pytsk3.Img_Info(path)
        except OSError as exc:
            raise SourceError(f"cannot open {path!r} as a disk image: {exc}") from exc
        self._table, self._volumes = self._find_volumes()
        if not any(v.fs is not None for v in self._volumes):
            details = "; ".join(f"{v.prefix.decode() or 'volume'}: {v.error}" for v in self._volumes)
            raise SourceError(f"{path!r}: no readable filesystem found ({details})")

    # -- Source interface ------------------------------------------------------------------------
    def describe(self) -> dict[str, object]:
        return {"type": self._kind, "path": self._path, "size": self._size, "reader": "pytsk3",
                "partition_table": self._table, "volumes": [v.to_json() for v in self._volumes]}

    def walk(self) -> Iterator[Entry]:
        for vol in self._volumes:
            if vol.fs is None:
                yield Entry(vol.prefix or b".", EntryKind.DIR, error=f"volume {vol.prefix.decode() or '/'} "
                            f"({vol.description}, offset {vol.offset}): {vol.error}")
                continue
            if vol.offset + vol.length > self._size:
                yield Entry(vol.prefix or b".", EntryKind.DIR, error=f"volume {vol.prefix.decode() or '/'} is "
                            f"truncated: it ends {vol.offset + vol.length - self._size} bytes past the end of the "
                            f"medium; files stored there cannot be read")
            yield from self._walk_volume(vol)

    def open(self, entry: Entry) -> BinaryIO:
        ref = entry.ref
        if entry.kind is not EntryKind.FILE or not isinstance(ref, _TskRef):
            raise OSError(errno.EINVAL, f"not a file from this source: {entry.path!r}")
        return io.BufferedReader(_TskStream(self, ref), buffer_size=1 << 20)  # type: ignore[return-value]

    def close(self) -> None:
        """pytsk3 objects are released with the source; nothing else is held."""

    def __enter__(self) -> TskSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- volumes ---------------------------------------------------------------------------------
    def _find_volumes(self) -> tuple[str | None, list[_Volume]]:
        try:
            vs = pytsk3.Volume_Info(self._img)
        except OSError:
            vs = None
        parts = [p for p in vs if int(p.flags) & _PART_ALLOC] if vs is not None else []
        if vs is None or not parts:
            vol = _Volume(b"", 0, self._size, "whole medium")
            self._open_fs(vol)
            return None, [vol]
        block = vs.info.block_size
        table = _VS_TYPES.get(int(vs.info.vstype), str(vs.info.vstype))  # "dos" (MBR), "gpt", ...
        volumes = []
        for i, p in enumerate(parts, 1):
            desc = p.desc.decode("utf-8", "replace") if isinstance(p.desc, bytes) else str(p.desc)
            vol = _Volume(f"p{i}".encode(), p.start * block, p.len * block, desc)
            self._open_fs(vol)
            volumes.append(vol)
        return table, volumes

    def _open_fs(self, vol: _Volume) -> None:
        try:
            vol.fs = pytsk3.FS_Info(self._img, offset=vol.offset)
            vol.fstype = _FS_TYPES.get(int(vol.fs.info.ftype), str(vol.fs.info.ftype))
        except OSError as exc:
            self._raise_if_gone()
            vol.error = f"no filesystem TSK can read ({_tsk_message(exc)})"

    # -- walking ---------------------------------------------------------------------------------
    def _walk_volume(self, vol: _Volume) -> Iterator[Entry]:
        fs = vol.fs
        try:
            with self._lock:
                root = fs.open_dir(path="/")
                root_addr = int(root.info.fs_file.meta.addr) if root.info.fs_file.meta else -1
        except OSError as exc:
            self._raise_if_gone()
            yield Entry(vol.prefix or b".", EntryKind.DIR, error=f"volume {vol.prefix.decode() or '/'}: "
                        f"cannot read the root folder ({_tsk_message(exc)})")
            return
        visited = {root_addr}
        stack: list[tuple[Any, bytes, bool, bool]] = [(root, vol.prefix, False, True)]
        while stack:
            directory, rel, deleted_parent, is_root = stack.pop()
            try:
                rows = self._list(vol, directory, is_root)
            except OSError as exc:
                self._raise_if_gone()
                yield Entry(rel or b".", EntryKind.DIR, error=f"cannot list folder: {_tsk_message(exc)}")
                continue
            children: list[tuple[Any, bytes, bool, bool]] = []
            for row in rows:
                path = rel + b"/" + row.name if rel else row.name
                deleted = row.deleted or deleted_parent
                flags = frozenset({"deleted"}) if deleted else frozenset()
                if row.virtual_dir or row.kind is EntryKind.DIR:
                    if row.meta_addr in visited:
                        continue
                    visited.add(row.meta_addr)
                    try:
                        with self._lock:
                            sub = row.file.as_directory()
                    except OSError as exc:
                        self._raise_if_gone()
                        if not deleted:
                            yield Entry(path, EntryKind.DIR, mtime=row.mtime, flags=flags,
                                        error=f"cannot open folder: {_tsk_message(exc)}")
                        continue
                    yield Entry(path, EntryKind.DIR, mtime=row.mtime, flags=flags)
                    depth = len(path.split(b"/")) - (1 if vol.prefix else 0)  # folders below the volume root
                    if self._max_depth is None or depth <= self._max_depth:
                        children.append((sub, path, deleted or row.virtual_dir, False))
                elif row.kind is EntryKind.FILE:
                    yield Entry(path, EntryKind.FILE, size=row.size, mtime=row.mtime, flags=flags,
                                ref=_TskRef(row.file, _ATTR_DEFAULT, -1, row.size))
                elif row.kind is not None:
                    yield Entry(path, row.kind, mtime=row.mtime, flags=flags)
                for sname, sid, ssize in row.streams:
                    yield Entry(path + b":" + sname, EntryKind.FILE, size=ssize, mtime=row.mtime,
                                flags=flags | {"ads"}, ref=_TskRef(row.file, _ATTR_NTFS_DATA, sid, ssize))
            stack.extend(reversed(children))  # depth-first, in name order

    def _list(self, vol: _Volume, directory: Any, is_root: bool) -> list[_DirRow]:
        """One folder's entries as plain rows, sorted by name bytes (the walk order resume relies on)."""
        ntfs = vol.fstype == "ntfs"
        rows: list[_DirRow] = []
        with self._lock:
            for f in directory:
                name_info = f.info.name
                name = name_info.name
                if name in (b".", b"..") or not name:
                    continue
                meta = f.info.meta
                deleted = bool(int(name_info.flags) & _NAME_UNALLOC)
                if deleted and not self._deleted:
                    continue
                if meta is None:
                    continue  # a deleted name whose metadata is gone: nothing to read
                if deleted and int(meta.flags) & _META_ALLOC:
                    continue  # a deleted name whose metadata now belongs to another (scanned) file
                mtype = int(meta.type)
                addr = int(meta.addr)
                if mtype == _VIRT or (ntfs and addr < _NTFS_FIRST_USER_RECORD) or (
                        mtype == _VIRT_DIR and not self._deleted):
                    continue
                if is_root and vol.fstype == "exfat" and name in _EXFAT_SYSTEM:
                    continue
                if name.endswith(b"(Volume Label Entry)") and int(meta.size) == 0:
                    continue
                kind = _META_KIND.get(mtype, EntryKind.OTHER) if mtype != _VIRT_DIR else EntryKind.DIR
                row = _DirRow(name.replace(b"/", b"%2F"), kind, mtype == _VIRT_DIR, deleted, addr,
                              int(meta.size), float(meta.mtime) if meta.mtime else None, f)
                if ntfs:
                    row.streams = _named_streams(f)
                rows.append(row)
        rows.sort(key=lambda r: r.name)
        return rows

    # -- reading ---------------------------------------------------------------------------------
    def _read(self, ref: _TskRef, offset: int, length: int) -> bytes:
        try:
            with self._lock:
                data = ref.file.read_random(offset, length, ref.attr_type, ref.attr_id)
        except OSError as exc:
            self._raise_if_gone()
            raise OSError(errno.EIO, f"read error at offset {offset}: {_tsk_message(exc)}") from None
        # Checked after every read: where the medium vanished under it, TSK can return zero-filled blocks
        # instead of an error, and those must never be hashed as the file's content.
        self._raise_if_gone()
        if not data:
            raise OSError(errno.EIO, f"short read at offset {offset} of {ref.size} bytes")
        return data

    def _raise_if_gone(self) -> None:
        reason = gone_reason(self._path, self._size)
        if reason:
            raise MediaGone(reason)


def _named_streams(f: Any) -> list[tuple[bytes, int, int]]:
    streams = []
    for attr in f:
        info = attr.info
        if int(info.type) == _ATTR_NTFS_DATA and info.name:
            streams.append((bytes(info.name).replace(b"/", b"%2F"), int(info.id), int(info.size)))
    streams.sort()
    return streams


def _tsk_message(exc: BaseException) -> str:
    """TSK's messages start with the C++ location (``Volume_Info_Con: (tsk3.cpp:1004) ...``); keep the rest."""
    text = str(exc).strip()
    if ") " in text and text.split(") ", 1)[0].count("(") == 1:
        text = text.split(") ", 1)[1]
    return text or type(exc).__name__


class _TskStream(io.RawIOBase):
    """A file's content (or one named stream) read through TSK, as a seekable read-only stream."""

    def __init__(self, source: TskSource, ref: _TskRef) -> None:
        super().__init__()
        self._source = source
        self._ref = ref
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._ref.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = min(len(view), self._ref.size - self._pos)
        if n <= 0:
            return 0
        data = self._source._read(self._ref, self._pos, n)
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)
