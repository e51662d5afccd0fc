"""The explicit kernel-mount fallback (``gapscan scan --mount``), for filesystems the userland reader cannot read.

Each volume (partitions found by pytsk3's volume reader, else the whole medium) is attached to a read-only
loop device (``losetup -r -o OFFSET --sizelimit SIZE``) and mounted ``ro,nosuid,nodev,noexec,noatime`` plus
``noload`` (ext3/ext4) or ``norecovery`` (XFS, Btrfs...) so no journal is replayed, on a private mount point
(a fresh 0700 folder) that is unmounted and removed when the source is closed — also at interpreter exit.
Files are then walked with the hostile-safe local walker. Needs root (mount(2)).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO

from firmware.media.localdir import LocalDirSource
from firmware.media.rawdev import medium_size
from firmware.media.source import Entry, EntryKind, SourceError

BASE_OPTIONS = ("ro", "nosuid", "nodev", "noexec", "noatime")
#: Options that stop a journal replay, per filesystem type (blkid's names).
NO_REPLAY = {"ext3": "noload", "ext4": "noload", "xfs": "norecovery", "btrfs": "nologreplay", "nilfs2": "norecovery",
             "ext2": None, "vfat": None, "exfat": None, "ntfs": None, "ntfs3": None, "iso9660": None, "hfsplus": None,
             "udf": None}


@dataclass(frozen=True, slots=True)
class _MountRef:
    index: int
    inner: object


@dataclass(slots=True)
class _Mounted:
    prefix: bytes
    loop: str
    mountpoint: str
    fstype: str
    options: str
    source: LocalDirSource | None = None


def _run(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    except subprocess.CalledProcessError as exc:
        raise SourceError(f"{cmd[0]} failed: {' '.join((exc.stderr or exc.stdout).split())}") from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SourceError(f"{cmd[0]} failed: {exc}") from None


def _volumes(path: str) -> list[tuple[bytes, int, int]]:
    """(prefix, offset, size) for each allocated partition, or the whole medium."""
    import pytsk3

    size = medium_size(path)
    try:
        vs = pytsk3.Volume_Info(pytsk3.Img_Info(path))
    except OSError:
        return [(b"", 0, size)]
    parts = [p for p in vs if int(p.flags) & int(pytsk3.TSK_VS_PART_FLAG_ALLOC)]
    block = vs.info.block_size
    return [(f"p{i}".encode(), p.start * block, p.len * block) for i, p in enumerate(parts, 1)] or [(b"", 0, size)]


class MountedSource:
    """A device or image read through read-only kernel mounts of each of its volumes."""

    def __init__(self, path: str) -> None:
        if os.geteuid() != 0:
            raise SourceError(f"--mount needs root to mount {path!r}; without it the userland reader is used")
        self._path = path
        self.name = path
        self._dir = tempfile.mkdtemp(prefix="gapscan-mnt-")  # 0700: private to this process's user
        self._mounted: list[_Mounted] = []
        self._errors: list[tuple[bytes, str]] = []
        atexit.register(self.close)
        try:
            for prefix, offset, size in _volumes(path):
                try:
                    self._mount(prefix, offset, size)
                except SourceError as exc:
                    self._errors.append((prefix, str(exc)))
        except BaseException:
            self.close()
            raise
        if not self._mounted:
            self.close()
            raise SourceError(f"{path!r}: no volume could be mounted ("
                              + "; ".join(f"{p.decode() or 'volume'}: {e}" for p, e in self._errors) + ")")

    def _mount(self, prefix: bytes, offset: int, size: int) -> None:
        loop = _run("losetup", "-f", "--show", "-r", "-o", str(offset), "--sizelimit", str(size), self._path)
        try:
            fstype = _run("blkid", "-p", "-o", "value", "-s", "TYPE", loop)
            if not fstype:
                raise SourceError("no filesystem signature found")
            extra = NO_REPLAY.get(fstype)
            options = ",".join((*BASE_OPTIONS, extra) if extra else BASE_OPTIONS)
            mountpoint = os.path.join(self._dir, prefix.decode() or "volume")
            os.mkdir(mountpoint, 0o700)
            try:
                _run("mount", "-t", fstype, "-o", options, loop, mountpoint)
            except SourceError:
                os.rmdir(mountpoint)
                raise
        except BaseException:
            subprocess.run(["losetup", "-d", loop], check=False, capture_output=True)
            raise
        vol = _Mounted(prefix, loop, mountpoint, fstype, options)
        self._mounted.append(vol)
        vol.source = LocalDirSource(mountpoint)

    # -- Source interface ------------------------------------------------------------------------
    def describe(self) -> dict[str, object]:
        return {"type": "mounted", "path": self._path, "reader": "kernel mount (--mount)",
                "volumes": [{"name": v.prefix.decode() or "/", "fstype": v.fstype, "options": v.options}
                            for v in self._mounted] + [{"name": p.decode() or "/", "error": e}
                                                       for p, e in self._errors]}

    def walk(self) -> Iterator[Entry]:
        for prefix, error in self._errors:
            yield Entry(prefix or b".", EntryKind.DIR, error=f"volume {prefix.decode() or '/'}: cannot mount: {error}")
        for i, vol in enumerate(self._mounted):
            assert vol.source is not None
            for e in vol.source.walk():
                path = (vol.prefix + b"/" + e.path if e.path else vol.prefix) if vol.prefix else e.path
                yield replace(e, path=path, ref=_MountRef(i, e) if e.ref is not None else None)

    def open(self, entry: Entry) -> BinaryIO:
        ref = entry.ref
        if not isinstance(ref, _MountRef):
            raise OSError(22, f"not a file from this source: {entry.path!r}")
        source = self._mounted[ref.index].source
        assert source is not None
        return source.open(ref.inner)  # type: ignore[arg-type]

    def close(self) -> None:
        """Unmount, detach and remove every mount point (safe to call twice)."""
        while self._mounted:
            vol = self._mounted.pop()
            subprocess.run(["umount", vol.mountpoint], check=False, capture_output=True)
            subprocess.run(["losetup", "-d", vol.loop], check=False, capture_output=True)
            with contextlib.suppress(OSError):  # still mounted (busy): left rather than deleted through
                os.rmdir(vol.mountpoint)
        if os.path.isdir(self._dir) and not os.listdir(self._dir):
            shutil.rmtree(self._dir, ignore_errors=True)
        atexit.unregister(self.close)
