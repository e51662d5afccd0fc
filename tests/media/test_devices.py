"""Block devices and udev: a real loop device scanned as ``gapscan scan /dev/loopN``, real pyudev Devices from
this system, recorded udev event properties where no udev runs, ``gapscan media list|watch|bundles``, and the
appliance.media facade (bundles found and copied from an image read in userland)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from appliance.errors import GapscanError
from appliance.media import (
    attached_media,
    copy_from_media,
    find_bundles,
    find_files,
    find_hashlists,
    read_from_media,
    udev_status,
)
from firmware.media.udev import device_from_properties, device_from_pyudev, event_from_device, udev_available
from tests.media import images
from tests.media.test_images import EXPECTED, scan_extra, scan_json

# Recorded with `udevadm monitor --udev --property` on a Debian 12 machine, trimmed to the keys the code reads.
USB_STICK_ADD = {
    "ACTION": "add", "SUBSYSTEM": "block", "DEVTYPE": "disk", "DEVNAME": "/dev/sdb", "ID_BUS": "usb",
    "ID_VENDOR": "SanDisk", "ID_VENDOR_ENC": "SanDisk\\x20", "ID_MODEL": "Cruzer_Blade",
    "ID_MODEL_ENC": "Cruzer\\x20Blade\\x20\\x20\\x20\\x20", "ID_SERIAL_SHORT": "4C530001230615117151",
    "ID_USB_INTERFACES": ":080650:", "ID_PART_TABLE_TYPE": "dos", "SIZE_SECTORS": "30031872",
}
USB_STICK_PART = {"ACTION": "add", "SUBSYSTEM": "block", "DEVTYPE": "partition", "DEVNAME": "/dev/sdb1",
                  "ID_FS_TYPE": "vfat", "ID_FS_LABEL": "EVIDENCE", "ID_FS_UUID": "1A2B-3C4D"}
USB_STICK_REMOVE = {"ACTION": "remove", "SUBSYSTEM": "block", "DEVTYPE": "disk", "DEVNAME": "/dev/sdb",
                    "ID_BUS": "usb", "ID_VENDOR": "SanDisk", "ID_MODEL": "Cruzer_Blade",
                    "ID_USB_INTERFACES": ":080650:"}
BADUSB_KEYBOARD_ADD = {"ACTION": "add", "SUBSYSTEM": "usb", "DEVTYPE": "usb_interface", "INTERFACE": "3/1/1",
                       "PRODUCT": "1234/5678/100", "ID_VENDOR_FROM_DATABASE": "Generic", "ID_MODEL": "Flash_Disk"}


def test_recorded_usb_stick_events_become_media_events():
    add = event_from_device("add", USB_STICK_ADD)
    assert add is not None and add.action == "add"
    d = add.device
    assert (d.devnode, d.vendor, d.model, d.serial, d.bus, d.partition_table, d.mass_storage) == (
        "/dev/sdb", "SanDisk", "Cruzer Blade", "4C530001230615117151", "usb", "dos", True)
    assert d.size == 30031872 * 512
    assert event_from_device("add", USB_STICK_PART) is None  # partitions arrive as the disk's volumes
    with_parts = device_from_properties(USB_STICK_ADD, size_sectors=30031872, partitions=[(USB_STICK_PART, 30029824)])
    assert [(v.devnode, v.fstype, v.label, v.uuid, v.size) for v in with_parts.volumes] == [
        ("/dev/sdb1", "vfat", "EVIDENCE", "1A2B-3C4D", 30029824 * 512)]
    gone = event_from_device("remove", USB_STICK_REMOVE)
    assert gone is not None and gone.action == "remove" and gone.device.devnode == "/dev/sdb"
    assert event_from_device("change", USB_STICK_ADD) is None


def test_a_usb_stick_that_is_a_keyboard_is_reported_and_not_mass_storage():
    ev = event_from_device("add", BADUSB_KEYBOARD_ADD)
    assert ev is not None
    assert ev.device.mass_storage is False and ev.device.devnode is None
    assert ev.device.kind == "HID (keyboard/mouse)" and ev.device.bus == "usb"


def test_real_pyudev_devices_of_this_system():
    pyudev = pytest.importorskip("pyudev")
    ctx = pyudev.Context()
    disks = list(ctx.list_devices(subsystem="block", DEVTYPE="disk"))
    if not disks:
        pytest.skip("no block devices visible in sysfs here")
    for dev in disks:
        bd = device_from_pyudev(dev)
        assert bd.devnode == dev.device_node
        assert bd.size == int(dev.attributes.get("size") or 0) * 512
        if dev.sys_name.startswith(("loop", "ram", "zram")):
            assert bd.mass_storage is False  # virtual devices are never auto-scanned


def test_udev_absence_is_said_clearly(gapscan):
    ok, why = udev_available()
    assert ok == udev_status()[0]
    listed = gapscan("media", "list", "--all", "--json")
    assert listed.returncode == 0, listed.stderr
    for line in listed.stdout.splitlines():
        assert {"devnode", "size", "mass_storage", "volumes"} <= set(json.loads(line))
    if ok:
        pytest.skip("udev runs here: the absence message cannot be shown")
    assert "udev is not running here" in why
    assert "udev is not running here" in listed.stderr
    watched = gapscan("media", "watch", "--timeout", "1")
    assert watched.returncode == 2 and "udev is not running here" in watched.stderr
    assert attached_media() == [d for d in attached_media(mass_storage_only=False) if d.mass_storage]


@pytest.fixture
def loop_device(media_images, tmp_path):
    if os.geteuid() != 0 or not shutil.which("losetup"):
        pytest.skip("loop devices need root and losetup")
    image = tmp_path / "disk.img"
    shutil.copyfile(media_images["mbr"], image)
    try:
        dev = subprocess.run(["losetup", "-f", "--show", "-r", str(image)], check=True, capture_output=True,
                             text=True).stdout.strip()
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"no loop device here: {exc.stderr.strip()}")
    yield dev, image
    subprocess.run(["losetup", "-d", dev], check=False)


def test_scan_of_a_real_block_device(loop_device, media_hashlist, gapscan, state_dir):
    dev, image = loop_device
    before = images.sha256_file(image)
    result, hits, summary = scan_json(gapscan, dev, media_hashlist)
    assert result.returncode == 1, result.stderr
    assert hits == {f"p1/{p}": f for p, f in EXPECTED["fat"].items()} | {
        f"p2/{p}": f for p, f in EXPECTED["ext4"].items()}
    scan, _ = scan_extra(state_dir, summary["scan_id"])
    assert scan.source_info["type"] == "blockdevice"
    assert scan.extra["device_fingerprint"]["before"] == before == scan.extra["device_fingerprint"]["after"]
    assert images.sha256_file(image) == before


def test_find_and_copy_bundles_from_an_image(tmp_path):
    img = tmp_path / "usb.img"
    with open(img, "wb") as fh:
        fh.truncate(8 << 20)
    images.run("mkfs.vfat", img)
    env = {"MTOOLS_SKIP_CHECK": "1"}
    payload = images._blob(5, 70_000)
    src = tmp_path / "b"
    src.write_bytes(payload)
    images.run("mmd", "-i", img, "::/updates", "::/updates/deep", env=env)
    for where in ("::/list-42.gsb", "::/updates/sw-7.gsb", "::/updates/deep/too-deep.gsb",
                  "::/old.gsb", "::/readme.txt"):
        images.run("mcopy", "-i", img, src, where, env=env)
    images.run("mdel", "-i", img, "::/old.gsb", env=env)
    found = find_bundles(str(img))
    assert sorted(b.path_in_volume for b in found) == ["list-42.gsb", "updates/sw-7.gsb"]
    b = next(b for b in found if b.path_in_volume == "list-42.gsb")
    assert b.size == len(payload) and b.volume == str(img)
    out = copy_from_media(b, tmp_path / "copy.gsb", max_bytes=1 << 20)
    assert out.read_bytes() == payload
    assert not list(tmp_path.glob(".copy.gsb.part"))
    with pytest.raises(GapscanError, match="over the 1000-byte limit"):
        copy_from_media(b, tmp_path / "small.gsb", max_bytes=1000)
    assert not (tmp_path / "small.gsb").exists()


def test_find_hashlists_and_read_one_into_a_file_object(tmp_path):
    import io

    img = tmp_path / "usb.img"
    with open(img, "wb") as fh:
        fh.truncate(8 << 20)
    images.run("mkfs.vfat", img)
    env = {"MTOOLS_SKIP_CHECK": "1"}
    payload = images._blob(7, 90_000)
    src = tmp_path / "l"
    src.write_bytes(payload)
    images.run("mmd", "-i", img, "::/lists", "::/lists/deep", env=env)
    for where in ("::/known.TXT", "::/lists/vics.json", "::/lists/nsrl.db", "::/lists/deep/too-deep.md5",
                  "::/photo.jpg", "::/gone.hdb", "::/update.gsb"):
        images.run("mcopy", "-i", img, src, where, env=env)
    images.run("mdel", "-i", img, "::/gone.hdb", env=env)
    found = find_hashlists(str(img))
    assert sorted(f.path_in_volume for f in found) == ["known.TXT", "lists/nsrl.db", "lists/vics.json"]
    assert [b.path_in_volume for b in find_bundles(str(img))] == ["update.gsb"]
    deeper = find_files(str(img), (".md5",), 2)
    assert [f.path_in_volume for f in deeper] == ["lists/deep/too-deep.md5"]
    out = io.BytesIO()
    assert read_from_media(deeper[0], out, max_bytes=1 << 20) == len(payload)  # found again at its depth
    assert out.getvalue() == payload
    f = next(f for f in found if f.path_in_volume == "lists/vics.json")
    out = io.BytesIO()
    assert read_from_media(f, out, max_bytes=1 << 20) == len(payload) and out.getvalue() == payload
    with pytest.raises(GapscanError, match="over the 1000-byte limit"):
        read_from_media(f, io.BytesIO(), max_bytes=1000)
    images.run("mdel", "-i", img, "::/lists/vics.json", env=env)
    with pytest.raises(GapscanError, match="no longer on"):
        read_from_media(f, io.BytesIO(), max_bytes=1 << 20)


def test_media_watch_lines_say_a_keyboard_is_ignored():
    from appliance.cli.commands.media import _lines
    from appliance.media import _drive

    ev = event_from_device("add", BADUSB_KEYBOARD_ADD)
    assert ev is not None
    (line,) = _lines(_drive(ev.device))
    assert "HID (keyboard/mouse)" in line and "not mass storage, ignored" in line
    stick = event_from_device("add", USB_STICK_ADD)
    assert stick is not None
    head = _lines(_drive(stick.device))[0]
    assert head.startswith("/dev/sdb  SanDisk Cruzer Blade  serial 4C530001230615117151  15.4 GB  bus usb  table dos")


def test_media_volumes_lists_the_partitions_of_an_image(media_images, gapscan):
    result = gapscan("media", "volumes", media_images["mbr"], "--json")
    assert result.returncode == 0, result.stderr
    vols = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(v["name"], v["fstype"], v["offset"], v["size"]) for v in vols] == [
        ("p1", "fat16", images.MIB, 16 * images.MIB), ("p2", "ext4", 17 * images.MIB, 16 * images.MIB)]


class RecordedDevice:
    """A recorded udev event (properties, sysfs attributes, children) offering the part of pyudev's Device
    interface the watcher uses. udev does not run in containers/CI, so no live event can be produced; the
    properties are the recorded ones above."""

    def __init__(self, action, props, attrs=None, children=()):
        self.action = action
        self.properties = props
        self.attributes = attrs or {}
        self.children = list(children)
        self.subsystem = props["SUBSYSTEM"]
        self.device_type = props.get("DEVTYPE")
        self.sys_path = "/sys" + props["DEVPATH"]


def test_watch_loop_reports_a_disk_with_its_partitions_then_a_keyboard_then_the_removal():
    from firmware.media.udev import media_events

    disk_path = "/devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb"
    disk = {**USB_STICK_ADD, "DEVPATH": disk_path}
    p1 = {**USB_STICK_PART, "DEVPATH": disk_path + "/sdb1"}
    p2 = {**USB_STICK_PART, "DEVNAME": "/dev/sdb2", "ID_FS_TYPE": "exfat", "ID_FS_LABEL": "DATA",
          "ID_FS_UUID": "5E6F-7A8B", "DEVPATH": disk_path + "/sdb2"}
    keyboard = {**BADUSB_KEYBOARD_ADD, "DEVPATH": "/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0"}
    removed = {**USB_STICK_REMOVE, "DEVPATH": disk_path}
    queue = [RecordedDevice("add", disk), RecordedDevice("add", p1), RecordedDevice("add", keyboard),
             RecordedDevice("add", p2), RecordedDevice("remove", removed)]
    settled = RecordedDevice("add", disk, {"size": b"30031872", "removable": b"0"}, [
        RecordedDevice("add", p1, {"size": b"2097152"}), RecordedDevice("add", p2, {"size": b"27932672"})])

    def poll(_timeout):
        return queue.pop(0) if queue else None

    events = list(media_events(poll, lambda sys_path: settled if sys_path == "/sys" + disk_path else None,
                               settle=0.2))
    assert [(e.action, e.device.devnode, e.device.mass_storage) for e in events] == [
        ("add", "/dev/sdb", True), ("add", None, False), ("remove", "/dev/sdb", True)]
    vols = events[0].device.volumes
    assert [(v.devnode, v.fstype, v.label, v.size) for v in vols] == [
        ("/dev/sdb1", "vfat", "EVIDENCE", 2097152 * 512), ("/dev/sdb2", "exfat", "DATA", 27932672 * 512)]
    assert events[1].device.kind == "HID (keyboard/mouse)"
