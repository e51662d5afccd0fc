"""Media events as the daemon sees them, and where they come from.

Two sources feed the same ``Daemon.on_media`` path: ``udev_events`` (the appliance: ``appliance.media``'s
watcher) and ``recorded_events`` (JSON lines from a file or FIFO: development, and the tests, which have no
udev or USB here). Both turn whatever the media layer reports into the small records below; nothing from the
drive (labels, vendor strings) is ever shown on the panel, only in the web UI and logs, escaped.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class VolumeInfo:
    spec: str  # what ``gapscan scan`` is given: a devnode, image or directory
    fstype: str | None = None
    label: str | None = None
    size: int | None = None
    used: int | None = None  # bytes in use when known: the denominator of the progress percentage
    readable: bool = True
    why_not: str | None = None


@dataclass(frozen=True)
class DriveInfo:
    key: str  # the whole device (e.g. /dev/sdb): one scan at a time per key
    vendor: str | None = None
    model: str | None = None
    serial: str | None = None
    size: int | None = None
    volumes: tuple[VolumeInfo, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["volumes"] = [asdict(v) for v in self.volumes]
        return d


@dataclass(frozen=True)
class MediaEvent:
    action: str  # "add" | "remove"
    drive: DriveInfo
    boot: bool = False  # already attached when the daemon started: announced, never auto-scanned


def _get(obj: Any, *names: str) -> Any:
    for name in names:
        value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if value is not None:
            return value
    return None


#: Volume types that hold no readable file tree without a key or an assembler.
UNREADABLE_FSTYPES = {"crypto_LUKS": "encrypted (LUKS)", "BitLocker": "encrypted (BitLocker)",
                      "swap": "swap space, not a filesystem", "LVM2_member": "an LVM member, not a filesystem",
                      "linux_raid_member": "a RAID member, not a filesystem"}


def volume_from(obj: Any) -> VolumeInfo:
    spec = _get(obj, "spec", "devnode", "path", "device")
    fstype = _get(obj, "fstype", "filesystem")
    readable = _get(obj, "readable", "supported")
    why = _get(obj, "why_not", "problem", "reason")
    if readable is None:
        if fstype in UNREADABLE_FSTYPES:
            readable, why = False, why or UNREADABLE_FSTYPES[fstype]
        else:
            readable = bool(fstype) or bool(spec and os.path.isdir(str(spec)))
    if not readable and not why:
        why = "no filesystem gapscan can read" if not fstype else f"{fstype} is not supported"
    return VolumeInfo(str(spec), fstype, _get(obj, "label"), _get(obj, "size"), _get(obj, "used", "used_bytes"),
                      bool(readable), why)


def drive_from(obj: Any) -> DriveInfo:
    """Normalise a drive as the media layer (``AttachedDrive``/``BlockDevice``) or a recording describes it."""
    key = _get(obj, "key", "devnode", "id", "device")
    if key is None:
        raise ValueError("media event without a device node")
    volumes = tuple(volume_from(v) for v in (_get(obj, "volumes") or ()))
    if not volumes and str(key).startswith("/dev/"):
        # No partition the media layer could name (e.g. a filesystem on the whole device): read the device.
        volumes = (VolumeInfo(str(key), None, None, _get(obj, "size"), None, True, None),)
    return DriveInfo(str(key), _get(obj, "vendor"), _get(obj, "model"), _get(obj, "serial"), _get(obj, "size"),
                     volumes)


def is_storage(obj: Any) -> bool:
    """False for USB devices that are not drives (keyboards, the panel itself): the media layer says so."""
    drive = _get(obj, "drive", "device") if _get(obj, "action") else obj
    return _get(drive, "mass_storage") is not False


def event_from(obj: Any, *, boot: bool = False) -> MediaEvent:
    action = _get(obj, "action")
    if action not in ("add", "remove"):
        raise ValueError(f"media event action must be add or remove, not {action!r}")
    drive = _get(obj, "drive", "device")
    return MediaEvent(action, drive_from(drive), boot)


# -- sources -----------------------------------------------------------------------------------------
Sink = Callable[[MediaEvent], None]
Problem = Callable[[str], None]


def recorded_events(path: str, sink: Sink, problem: Problem, stop: threading.Event) -> None:
    """Feed JSON-line events from ``path`` (a FIFO is reopened after each writer; a file is read once)."""
    while not stop.is_set():
        try:
            is_fifo = stat.S_ISFIFO(os.stat(path).st_mode)
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    if stop.is_set():
                        return
                    if not line.strip():
                        continue
                    try:
                        raw = json.loads(line)
                        if is_storage(raw):
                            sink(event_from(raw))
                    except (ValueError, TypeError) as exc:
                        problem(f"ignored a malformed media event in {path}: {exc}")
        except OSError as exc:
            problem(f"cannot read media events from {path}: {exc.strerror or exc}")
            stop.wait(1.0)
            continue
        if not is_fifo:
            return


def udev_events(sink: Sink, problem: Problem, stop: threading.Event) -> None:
    """The appliance's source: drives attached at start (announced), then hot-plug events from udev."""
    try:
        from appliance import media
    except ImportError as exc:
        problem(f"media layer unavailable ({exc}): USB drives will not be noticed")
        return
    ok, why = _udev_available(media)
    if not ok:
        problem(f"udev unavailable ({why}): USB drives will not be noticed")
        return
    try:
        for drive in media.attached_media():
            if is_storage(drive):
                sink(MediaEvent("add", drive_from(drive), boot=True))
    except Exception as exc:
        problem(f"cannot list attached drives: {type(exc).__name__}: {exc}")
    while not stop.is_set():
        try:
            events: Iterator[Any] = media.watch_media()  # forever: a new monitor per call could miss events
            for raw in events:
                if stop.is_set():
                    return
                if not is_storage(raw):
                    continue
                try:
                    sink(event_from(raw))
                except (ValueError, TypeError) as exc:
                    problem(f"ignored a media event the daemon does not understand: {exc}")
        except Exception as exc:  # udev hiccup: say so and watch again rather than go blind
            problem(f"media watcher stopped ({type(exc).__name__}: {exc}); restarting it in 5 s")
            stop.wait(5.0)


def _udev_available(media: Any) -> tuple[bool, str]:
    check = getattr(media, "udev_status", None) or getattr(media, "udev_available", None)
    if check is None:
        try:
            from firmware.media import udev

            check = udev.udev_available
        except ImportError:
            return True, ""
    return check()
