"""Media events as the daemon reads them from the media layer. appliance.media is built on another branch;
the objects below have the exact field names of its AttachedDrive/AttachedVolume/MediaChange (INTERFACES.md),
so the adapter is checked against that shape until the branches meet."""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.daemon.events import drive_from, event_from, is_storage


@dataclass
class AttachedVolume:
    devnode: str
    fstype: str | None
    label: str | None
    uuid: str | None
    size: int
    size_text: str = ""


@dataclass
class AttachedDrive:
    devnode: str | None
    title: str
    vendor: str | None
    model: str | None
    serial: str | None
    size: int
    size_text: str = ""
    bus: str | None = "usb"
    mass_storage: bool = True
    kind: str = "disk"
    partition_table: str | None = "dos"
    volumes: list[AttachedVolume] = field(default_factory=list)


@dataclass
class MediaChange:
    action: str
    drive: AttachedDrive


def test_volumes_readable_or_skipped_with_a_reason():
    drive = AttachedDrive("/dev/sdb", "Kingston DT", "Kingston", "DT", "0042", 16 << 30, volumes=[
        AttachedVolume("/dev/sdb1", "vfat", "STICK", "AB-CD", 1 << 30),
        AttachedVolume("/dev/sdb2", "crypto_LUKS", None, None, 1 << 30),
        AttachedVolume("/dev/sdb3", None, None, None, 1 << 20),
    ])
    ev = event_from(MediaChange("add", drive))
    assert ev.action == "add" and ev.drive.key == "/dev/sdb"
    vols = {v.spec: v for v in ev.drive.volumes}
    assert vols["/dev/sdb1"].readable
    assert not vols["/dev/sdb2"].readable and "encrypted" in vols["/dev/sdb2"].why_not
    assert not vols["/dev/sdb3"].readable and "no filesystem" in vols["/dev/sdb3"].why_not


def test_whole_device_filesystem_and_non_storage_devices():
    bare = AttachedDrive("/dev/sdc", "SD card", None, None, None, 8 << 30)
    assert [v.spec for v in drive_from(bare).volumes] == ["/dev/sdc"]  # read the device itself
    keyboard = AttachedDrive(None, "USB keyboard", "Logitech", "K120", None, 0, mass_storage=False)
    assert not is_storage(MediaChange("add", keyboard))
    assert is_storage(MediaChange("add", bare))
