"""The media facade the web UI and the daemon call (web never imports firmware): attached drives, plug
events, update bundles and hash lists on a drive, and a single size-checked read of such a file.

Everything returned is a plain, display-ready dataclass. Drives are read in userland (pytsk3), never mounted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from appliance.errors import GapscanError
from appliance.pathfmt import display_path
from firmware.media import udev
from firmware.media.source import EntryKind, SourceError
from firmware.media.tsk import TskSource

#: File name endings taken as update bundles (the update area's signed bundles), case-insensitive.
BUNDLE_SUFFIXES = (".gsb",)  # the container format of appliance/update/container.py
#: Bundles are looked for in a volume's root and one folder down (an operator copies them to the top).
BUNDLE_SEARCH_DEPTH = 1
#: File name endings offered as hash lists to import from a drive, case-insensitive (the importers sniff content).
HASHLIST_SUFFIXES = (".txt", ".csv", ".tsv", ".json", ".hdb", ".hsb", ".hash", ".md5", ".sha1", ".sha256", ".db")
#: Hash lists are looked for in a volume's root and one folder down.
HASHLIST_SEARCH_DEPTH = 1


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


@dataclass(frozen=True, slots=True)
class AttachedVolume:
    devnode: str
    fstype: str | None
    label: str | None
    uuid: str | None
    size: int
    size_text: str


@dataclass(frozen=True, slots=True)
class AttachedDrive:
    devnode: str | None
    title: str  # "Vendor Model" or the device node
    vendor: str | None
    model: str | None
    serial: str | None
    size: int
    size_text: str
    bus: str | None
    mass_storage: bool  # False: not a drive to scan (system disk, virtual device, USB keyboard ...)
    kind: str
    partition_table: str | None
    volumes: list[AttachedVolume] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MediaChange:
    action: str  # "add" | "remove"
    drive: AttachedDrive


@dataclass(frozen=True, slots=True)
class FoundFile:
    """A file found on a medium. Name and size are the medium's word (hostile): display-escaped, re-checked."""

    volume: str  # the device node or image the file is on
    path_in_volume: str  # for display, e.g. "p1/updates/list-42.gsb"
    size: int
    raw_path: bytes = field(default=b"", repr=False)  # lossless path for copy_from_media / read_from_media
    depth: int = field(default=1, repr=False)  # the search depth it was found with (to find it again)


#: An update bundle on a medium (the name the update area uses).
FoundBundle = FoundFile


def _drive(bd: udev.BlockDevice) -> AttachedDrive:
    title = " ".join(x for x in (bd.vendor, bd.model) if x) or bd.devnode or bd.kind
    vols = [AttachedVolume(v.devnode, v.fstype, v.label, v.uuid, v.size, human_size(v.size)) for v in bd.volumes]
    return AttachedDrive(bd.devnode, title, bd.vendor, bd.model, bd.serial, bd.size, human_size(bd.size), bd.bus,
                         bd.mass_storage, bd.kind, bd.partition_table, vols)


def udev_status() -> tuple[bool, str]:
    """(True, "") where plug events can be watched; else (False, a sentence saying why)."""
    return udev.udev_available()


def attached_media(*, mass_storage_only: bool = True) -> list[AttachedDrive]:
    """Drives attached now; by default only mass-storage drives (what may be scanned)."""
    drives = [_drive(bd) for bd in udev.list_block_devices()]
    return [d for d in drives if d.mass_storage or not mass_storage_only]


def watch_media(*, timeout: float | None = None) -> Iterator[MediaChange]:
    """Plug events as they happen (non-storage USB devices included, with ``mass_storage=False``).
    Raises GapscanError saying why where udev is not running."""
    try:
        for ev in udev.watch(timeout=timeout):
            yield MediaChange(ev.action, _drive(ev.device))
    except udev.UdevUnavailable as exc:
        raise GapscanError(str(exc)) from None


def _medium(drive_or_volume: str | AttachedDrive | AttachedVolume) -> str:
    medium = drive_or_volume if isinstance(drive_or_volume, str) else drive_or_volume.devnode
    if not medium:
        raise GapscanError(f"{drive_or_volume!r} has no device node to read")
    return medium


@dataclass(frozen=True, slots=True)
class MediumVolume:
    name: str  # "p1", "p2" ... or "/" for an unpartitioned medium
    offset: int
    size: int
    size_text: str
    partition: str
    fstype: str | None
    error: str | None


def volumes_of(medium: str) -> tuple[str | None, list[MediumVolume]]:
    """The partition table type and volumes of a device or image, as the userland reader sees them."""
    try:
        with TskSource(medium, max_depth=0, deleted=False) as src:
            info = src.describe()
    except SourceError as exc:
        raise GapscanError(str(exc)) from None
    raw = cast(list[dict[str, Any]], info["volumes"])
    vols = [MediumVolume(v["name"], v["offset"], v["size"], human_size(v["size"]), v["partition"], v["fstype"],
                         v["error"]) for v in raw]
    return cast(str | None, info.get("partition_table")), vols


def find_files(drive_or_volume: str | AttachedDrive | AttachedVolume, suffixes: tuple[str, ...],
               depth: int) -> list[FoundFile]:
    """Allocated files on a drive (every volume), a volume, or an image whose name ends with one of
    ``suffixes`` (case-insensitive), in each volume's root and up to ``depth`` folders down. Deleted files never
    count."""
    medium = _medium(drive_or_volume)
    ends = tuple(s.lower().encode() for s in suffixes)
    found = []
    try:
        with TskSource(medium, max_depth=depth, deleted=False) as src:
            for e in src.walk():
                if e.kind is EntryKind.FILE and not e.flags and e.error is None and e.path.lower().endswith(ends):
                    found.append(FoundFile(medium, display_path(e.path), e.size, e.path, depth))
    except SourceError as exc:
        raise GapscanError(str(exc)) from None
    return found


def find_bundles(drive_or_volume: str | AttachedDrive | AttachedVolume, *,
                 suffixes: tuple[str, ...] = BUNDLE_SUFFIXES) -> list[FoundFile]:
    """Update bundles on a drive (every volume), a volume, or an image, in each volume's root and one folder
    down."""
    return find_files(drive_or_volume, suffixes, BUNDLE_SEARCH_DEPTH)


def find_hashlists(drive_or_volume: str | AttachedDrive | AttachedVolume, *,
                   suffixes: tuple[str, ...] = HASHLIST_SUFFIXES) -> list[FoundFile]:
    """Hash-list files on a drive (every volume), a volume, or an image, in each volume's root and one folder
    down. Only names are looked at here: the store's importer judges the content."""
    return find_files(drive_or_volume, suffixes, HASHLIST_SEARCH_DEPTH)


def _read_found(found: FoundFile, out: BinaryIO, max_bytes: int, what: str) -> int:
    """Copy ``found`` into ``out`` in a single read of the medium; refuses more than ``max_bytes`` before and
    while copying (the size the medium reported is not trusted). Returns the bytes copied."""
    if found.size > max_bytes:
        raise GapscanError(f"{what} {found.path_in_volume} on {found.volume} is {found.size} bytes, "
                           f"over the {max_bytes}-byte limit")
    raw = found.raw_path or found.path_in_volume.encode()
    with TskSource(found.volume, max_depth=found.depth, deleted=False) as src:
        entry = next((e for e in src.walk() if e.path == raw and e.kind is EntryKind.FILE and not e.flags), None)
        if entry is None:
            raise GapscanError(f"{what} {found.path_in_volume} is no longer on {found.volume}")
        copied = 0
        with src.open(entry) as fh:
            while chunk := fh.read(1 << 20):
                copied += len(chunk)
                if copied > max_bytes:
                    raise GapscanError(f"{what} {found.path_in_volume} grew past the {max_bytes}-byte limit")
                out.write(chunk)
    return copied


def read_from_media(found: FoundFile, out: BinaryIO, max_bytes: int) -> int:
    """Copy one found file into ``out`` (any writable binary file object, e.g. a RAM-only memfd) in a single
    read; refuses files over ``max_bytes``. Returns the number of bytes written."""
    try:
        return _read_found(found, out, max_bytes, "file")
    except (SourceError, OSError) as exc:
        raise GapscanError(f"cannot read {found.path_in_volume} from {found.volume}: {exc}") from None


def copy_from_media(found: FoundFile, dest: Path, max_bytes: int) -> Path:
    """Copy one bundle into ``dest`` (a file path on the appliance) in a single read: written to a temp file
    beside it, fsynced, renamed. Refuses bundles larger than ``max_bytes`` before and while copying. The update
    engine verifies the copy (never the medium, which could change between check and use)."""
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.part")
    try:
        with open(tmp, "wb") as out:
            _read_found(found, out, max_bytes, "bundle")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
        dir_fd = os.open(dest.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except (SourceError, OSError) as exc:
        raise GapscanError(f"cannot copy bundle {found.path_in_volume} from {found.volume}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return dest
