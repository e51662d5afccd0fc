"""mkdisk.sh on a tiny stand-in root: the GPT layout, the A/B boot entries and the file systems are real.

The root here is a handful of files (a real Debian root takes minutes; `make -C image-build image-check`
builds one); everything mkdisk.sh does with it (mkfs.vfat + mtools, mkfs.ext4 -d, sfdisk, dd) runs for real.
"""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import pytest

from tests.image.conftest import IMAGE_BUILD, require_tool


@pytest.fixture(scope="module")
def disk(tmp_path_factory) -> tuple[Path, list[dict]]:
    for tool in ("sfdisk", "mkfs.vfat", "mcopy", "mkfs.ext4", "debugfs"):
        require_tool(tool)
    d = tmp_path_factory.mktemp("disk")
    root = d / "rootfs"
    (root / "boot").mkdir(parents=True)
    (root / "boot/vmlinuz-6.1.0-test-amd64").write_bytes(b"KERNEL" * 100)
    (root / "boot/initrd.img-6.1.0-test-amd64").write_bytes(b"INITRD" * 100)
    efi = root / "usr/lib/systemd/boot/efi"
    efi.mkdir(parents=True)
    (efi / "systemd-bootx64.efi").write_bytes(b"MZ-systemd-boot")
    (root / "etc").mkdir()
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/usr/sbin/nologin\n"
                                     "gapscan:x:999:998:gapscan:/var/lib/gapscan:/usr/sbin/nologin\n")
    (root / "etc/hostname").write_text("gapscan\n")
    img = d / "gapscan-amd64.img"
    result = subprocess.run([str(IMAGE_BUILD / "lib/mkdisk.sh"), str(root), "amd64", str(img)],
                            capture_output=True, text=True, timeout=120, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                                                              "SOURCE_DATE_EPOCH": "1700000000"})
    assert result.returncode == 0, result.stderr
    table = json.loads(subprocess.run(["sfdisk", "--json", str(img)], capture_output=True, text=True,
                                      check=True).stdout)["partitiontable"]
    assert table["label"] == "gpt"
    return img, table["partitions"]


def in_place(img: Path, part: dict, tool: str) -> str:
    """A partition as e2fsprogs (file?offset=N) or mtools (file@@N) address it: no copying out."""
    offset = part["start"] * 512
    return f"{img}?offset={offset}" if tool == "e2fs" else f"{img}@@{offset}"


def ext4_label(img: Path, part: dict) -> str:
    with img.open("rb") as f:
        f.seek(part["start"] * 512 + 1024)
        sb = f.read(1024)
    assert struct.unpack_from("<H", sb, 0x38)[0] == 0xEF53, "no ext4 superblock"
    return sb[0x78:0x88].rstrip(b"\0").decode()


def test_partition_layout(disk):
    _img, parts = disk
    assert [p["name"] for p in parts] == ["esp", "rootA", "rootB", "state"]
    assert parts[0]["type"] == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"  # EFI system partition
    assert parts[1]["size"] == parts[2]["size"], "A and B slots must be the same size"
    assert all(p["start"] % 2048 == 0 for p in parts), "partitions 1 MiB aligned"
    assert parts[1]["uuid"] == "6A9C0003-0000-4000-8000-00000000000A", "fixed ids: the same build, the same image"


def test_ext4_labels(disk):
    img, parts = disk
    assert [ext4_label(img, p) for p in parts[1:]] == ["rootA", "rootB", "state"]


def test_slot_a_holds_the_root_and_state_belongs_to_gapscan(disk):
    img, parts = disk
    hostname = subprocess.run(["debugfs", "-R", "cat /etc/hostname", in_place(img, parts[1], "e2fs")],
                              capture_output=True, text=True)
    assert hostname.stdout == "gapscan\n"
    stat = subprocess.run(["debugfs", "-R", "stat /", in_place(img, parts[3], "e2fs")], capture_output=True,
                          text=True).stdout
    assert "User:   999   Group:   998" in stat


def test_boot_entries_for_both_slots(disk):
    img, parts = disk
    esp = in_place(img, parts[0], "mtools")
    env = {"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"}

    def mtype(path: str) -> str:
        return subprocess.run(["mtype", "-i", esp, path], capture_output=True, text=True, env=env,
                              check=True).stdout

    assert "default gapscan-a.conf" in mtype("::/loader/loader.conf")
    for slot in ("a", "b"):
        entry = mtype(f"::/loader/entries/gapscan-{slot}.conf")
        options = next(line for line in entry.splitlines() if line.startswith("options "))
        assert f"root=PARTLABEL=root{slot.upper()}" in options
        for hardening in (" ro ", "usbcore.authorized_default=0", "systemd.gpt_auto=0", "init_on_free=1",
                          "lockdown=integrity"):
            assert hardening in options + " "
    assert mtype("::/gapscan/vmlinuz").startswith("KERNEL")
    assert mtype("::/EFI/BOOT/BOOTX64.EFI").startswith("MZ-systemd-boot")


def test_refuses_a_root_without_kernel(tmp_path):
    (tmp_path / "root/boot").mkdir(parents=True)
    result = subprocess.run([str(IMAGE_BUILD / "lib/mkdisk.sh"), str(tmp_path / "root"), "amd64",
                             str(tmp_path / "x.img")], capture_output=True, text=True)
    assert result.returncode == 2
    assert "no kernel/initrd" in result.stderr
