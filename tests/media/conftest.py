"""Media fixtures: real filesystem images built once per session with the real tools."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.media import images

NEEDED = ["mkfs.vfat", "mcopy", "mdel", "mkfs.ext4", "debugfs", "mkntfs", "ntfscp", "mkfs.exfat", "sfdisk"]


@pytest.fixture(scope="session")
def media_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    missing = [t for t in NEEDED if shutil.which(t) is None]
    if missing:
        pytest.fail(f"media test tools missing: {missing} (scripts/bootstrap --test installs deps/apt/test/media.txt)")
    d = tmp_path_factory.mktemp("media-images")
    out = {
        "fat12": images.make_fat(d / "fat12.img", 2, 12),
        "fat16": images.make_fat(d / "fat16.img", 16, 16),
        "fat32": images.make_fat(d / "fat32.img", 40, 32),
        "ext2": images.make_ext4(d / "ext2.img", kind="ext2"),
        "ext3": images.make_ext4(d / "ext3.img", kind="ext3"),
        "ext4": images.make_ext4(d / "ext4.img"),
        "ntfs": images.make_ntfs(d / "ntfs.img"),
    }
    exfat, why_empty = images.make_exfat(d / "exfat.img")
    if why_empty is None:
        out["exfat"] = exfat
    if shutil.which("genisoimage"):
        out["iso9660"] = images.make_iso(d / "cd.iso")
    out["mbr"] = images.make_partitioned(d / "mbr.img", [out["fat16"], out["ext4"]], "dos")
    out["gpt"] = images.make_partitioned(d / "gpt.img", [out["ext4"], out["fat16"]], "gpt")
    return out


@pytest.fixture(scope="session")
def media_hashlist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return images.write_hashlist(tmp_path_factory.mktemp("media-lists") / "known.txt")
