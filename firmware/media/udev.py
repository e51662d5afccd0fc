"""USB drive detection through udev (pyudev): what is attached now, and add/remove events as they happen.

A :class:`BlockDevice` is built from udev properties (``ID_VENDOR``, ``ID_MODEL``, ``ID_SERIAL_SHORT``,
``ID_BUS``, ``ID_USB_INTERFACES``, ``ID_PART_TABLE_TYPE``, and per partition ``ID_FS_TYPE``/``ID_FS_LABEL``/
``ID_FS_UUID``) plus the sysfs ``size``. The same pure function (:func:`device_from_properties`) serves live
pyudev devices and recorded event properties, so tests drive the real code path either way.

``mass_storage`` is True for a USB disk whose interfaces include class 08 (mass storage) or for a removable
disk (card reader); it is False for the appliance's own disks, virtual block devices and for USB devices that
are not storage at all (a "USB stick" enumerating as a keyboard: class 03 HID) — those are reported, with
``bus == "usb"`` and no devnode for scanning, and must be ignored by callers.

Where udev is not running (containers, CI) there is no property database and no events: :func:`udev_available`
says so, :func:`list_block_devices` still lists disks from sysfs (without vendor/filesystem details) and
:func:`watch` raises :class:`UdevUnavailable` with the reason instead of waiting forever.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

#: USB interface class codes (bInterfaceClass) for the report of non-storage devices.
USB_CLASSES = {"01": "audio", "02": "communications", "03": "HID (keyboard/mouse)", "06": "imaging",
               "07": "printer", "08": "mass storage", "09": "hub", "0a": "CDC data", "0e": "video",
               "e0": "wireless", "ef": "miscellaneous", "ff": "vendor specific"}
_UDEV_CONTROL = "/run/udev/control"
_SECTOR = 512


class UdevUnavailable(RuntimeError):
    """udev is not running here: no device details, no plug events."""


@dataclass(frozen=True, slots=True)
class Volume:
    devnode: str
    fstype: str | None
    label: str | None
    uuid: str | None
    size: int


@dataclass(frozen=True, slots=True)
class BlockDevice:
    devnode: str | None  # None for a non-storage USB device (nothing to scan)
    vendor: str | None
    model: str | None
    serial: str | None
    size: int
    bus: str | None
    mass_storage: bool
    partition_table: str | None
    volumes: list[Volume] = field(default_factory=list)
    kind: str = "disk"  # "disk", or for non-storage USB devices the interface class, e.g. "HID (keyboard/mouse)"


@dataclass(frozen=True, slots=True)
class MediaEvent:
    action: str  # "add" | "remove"
    device: BlockDevice


def udev_available() -> tuple[bool, str]:
    """(True, "") where udevd runs; else (False, why), e.g. inside a container or a CI job."""
    try:
        import pyudev  # noqa: F401
    except ImportError as exc:
        return False, f"pyudev is not installed ({exc})"
    if not os.path.exists(_UDEV_CONTROL):
        return False, (f"udev is not running here ({_UDEV_CONTROL} missing: a container or CI?); drives are listed "
                       "from sysfs without vendor/filesystem details and plug events cannot be watched")
    return True, ""


def _text(props: Mapping[str, str], *keys: str) -> str | None:
    for key in keys:
        value = props.get(key)
        if value:
            return value.replace("\\x20", " ").strip() or None
    return None


def _is_mass_storage(props: Mapping[str, str], removable: bool) -> bool:
    if props.get("SUBSYSTEM") not in (None, "block") or props.get("DEVTYPE") not in (None, "disk"):
        return False
    if props.get("ID_BUS") == "usb":
        interfaces = props.get("ID_USB_INTERFACES", "")
        return not interfaces or ":08" in interfaces
    return removable


def device_from_properties(props: Mapping[str, str], *, size_sectors: int | str | None = None,
                           removable: bool = False,
                           partitions: list[tuple[Mapping[str, str], int | str | None]] = ()) -> BlockDevice:
    """Build a BlockDevice from one udev event's (or database) properties; ``partitions``: (props, size)."""
    subsystem = props.get("SUBSYSTEM", "block")
    if subsystem == "usb":  # a USB device or interface that is not a block device: report, never scan
        iface = props.get("INTERFACE", "")  # "3/1/1" = HID keyboard, "8/6/80" = mass storage (bulk-only)
        cls = f"{int(iface.split('/')[0]):02x}" if iface.split("/")[0].isdigit() else ""
        product = props.get("PRODUCT", "")  # "vid/pid/bcd" in hex
        vid = product.split("/")[0] if product else None
        return BlockDevice(None, _text(props, "ID_VENDOR_FROM_DATABASE", "ID_VENDOR") or vid,
                           _text(props, "ID_MODEL_FROM_DATABASE", "ID_MODEL"), _text(props, "ID_SERIAL_SHORT"),
                           0, "usb", False, None, [], kind=USB_CLASSES.get(cls, f"USB class {cls or 'unknown'}"))
    volumes = [Volume(p.get("DEVNAME", ""), _text(p, "ID_FS_TYPE"), _text(p, "ID_FS_LABEL_ENC", "ID_FS_LABEL"),
                      _text(p, "ID_FS_UUID"), int(s or 0) * _SECTOR) for p, s in partitions]
    if not volumes and props.get("ID_FS_TYPE"):  # a "superfloppy": a filesystem on the whole disk
        volumes = [Volume(props.get("DEVNAME", ""), _text(props, "ID_FS_TYPE"),
                          _text(props, "ID_FS_LABEL_ENC", "ID_FS_LABEL"), _text(props, "ID_FS_UUID"),
                          int(size_sectors or 0) * _SECTOR)]
    return BlockDevice(props.get("DEVNAME"), _text(props, "ID_VENDOR_ENC", "ID_VENDOR"),
                       _text(props, "ID_MODEL_ENC", "ID_MODEL"), _text(props, "ID_SERIAL_SHORT", "ID_SERIAL"),
                       int(size_sectors or 0) * _SECTOR, props.get("ID_BUS"),
                       _is_mass_storage(props, removable), _text(props, "ID_PART_TABLE_TYPE"), volumes)


def device_from_pyudev(device: object) -> BlockDevice:
    """A BlockDevice from a live ``pyudev.Device`` (a disk, or a USB device/interface)."""
    props = dict(device.properties)  # type: ignore[attr-defined]
    if props.get("SUBSYSTEM") == "usb":
        return device_from_properties(props)
    attrs = device.attributes  # type: ignore[attr-defined]
    parts = []
    for child in device.children:  # type: ignore[attr-defined]
        if child.subsystem == "block" and child.device_type == "partition":
            parts.append((dict(child.properties), _attr(child.attributes, "size")))
    parts.sort(key=lambda p: p[0].get("DEVNAME", ""))
    return device_from_properties(props, size_sectors=_attr(attrs, "size"),
                                  removable=_attr(attrs, "removable") == "1", partitions=parts)


def _attr(attrs: object, name: str) -> str | None:
    try:
        value = attrs.get(name)  # type: ignore[attr-defined]
    except (KeyError, OSError):
        return None
    return value.decode("ascii", "replace").strip() if isinstance(value, bytes) else value


def list_block_devices(*, include_empty: bool = False) -> list[BlockDevice]:
    """Every whole disk attached now (partitions appear as its volumes). Loop/ram/zram devices without a
    backing file (size 0) are left out unless ``include_empty``."""
    import pyudev

    ctx = pyudev.Context()
    out = []
    for dev in ctx.list_devices(subsystem="block", DEVTYPE="disk"):
        bd = device_from_pyudev(dev)
        if bd.size or include_empty:
            out.append(bd)
    out.sort(key=lambda d: d.devnode or "")
    return out


#: After a disk's "add", its partitions' events follow within moments; wait this long for them to settle.
PARTITION_SETTLE_S = 1.0


def watch(*, timeout: float | None = None) -> Iterator[MediaEvent]:
    """Yield add/remove events for disks and for USB devices that are not storage (reported, to be ignored).
    A disk's "add" is reported once its partitions have appeared (so its volumes are listed).
    ``timeout``: stop after this many idle seconds (None: forever). Raises UdevUnavailable where udev is absent."""
    ok, why = udev_available()
    if not ok:
        raise UdevUnavailable(why)
    import pyudev

    ctx = pyudev.Context()
    monitor = pyudev.Monitor.from_netlink(ctx)
    monitor.filter_by("block")
    monitor.filter_by("usb")
    monitor.start()

    def refetch(sys_path: str) -> object | None:
        try:
            return pyudev.Devices.from_sys_path(ctx, sys_path)
        except pyudev.DeviceNotFoundError:
            return None

    yield from media_events(monitor.poll, refetch, timeout=timeout)


def media_events(poll: Callable[[float | None], Any], refetch: Callable[[str], Any], *,
                 timeout: float | None = None, settle: float = PARTITION_SETTLE_S) -> Iterator[MediaEvent]:
    """The event loop of :func:`watch`, over any ``poll(timeout) -> device | None`` (pyudev's Monitor.poll, or
    recorded events) and ``refetch(sys_path) -> device | None`` (re-read a disk once its partitions are in)."""
    backlog: deque[Any] = deque()
    while True:
        dev = backlog.popleft() if backlog else poll(timeout)
        if dev is None:
            return
        if dev.action == "add" and dev.subsystem == "block" and dev.device_type == "disk":
            deadline = time.monotonic() + settle
            while (left := deadline - time.monotonic()) > 0:
                more = poll(left)
                if more is None:
                    break
                if not (more.subsystem == "block" and more.device_type == "partition"
                        and more.sys_path.startswith(dev.sys_path + "/")):
                    backlog.append(more)  # someone else's event: handled after this one
            fresh = refetch(dev.sys_path)  # now with its partitions as children
            if fresh is None:
                continue  # gone again already; its "remove" follows
            event: MediaEvent | None = MediaEvent("add", device_from_pyudev(fresh))
        else:
            event = event_from_device(dev.action, dev)
        if event is not None:
            yield event


def event_from_device(action: str | None, dev: object) -> MediaEvent | None:
    """The MediaEvent for one udev event, or None for events callers need not see (partitions, USB parents
    of storage interfaces, 'change'/'bind' noise). ``dev``: a pyudev Device, or a recorded event's properties
    (then the size comes from its ``SIZE_SECTORS`` key if present, partitions are not known)."""
    if action not in ("add", "remove"):
        return None
    recorded = isinstance(dev, Mapping)
    props = dict(dev) if recorded else dict(dev.properties)  # type: ignore[arg-type, attr-defined]
    subsystem = props.get("SUBSYSTEM")
    if subsystem == "block":
        if props.get("DEVTYPE") != "disk":
            return None
        if action == "remove":
            return MediaEvent("remove", device_from_properties(props))
        if recorded:
            return MediaEvent("add", device_from_properties(props, size_sectors=props.get("SIZE_SECTORS")))
        return MediaEvent("add", device_from_pyudev(dev))
    if subsystem == "usb" and props.get("DEVTYPE") == "usb_interface":
        iface = props.get("INTERFACE", "")
        if iface.startswith(("8/", "9/")):  # storage shows up as a block disk; hubs are plumbing
            return None
        return MediaEvent(action, device_from_properties(props))
    return None
