"""`gapscan scan --mount`: the explicit kernel-mount fallback (read-only loop, ro,nosuid,nodev,noexec,noatime,
noload), mount point removed afterwards. Runs where loop mounts work (root, a kernel with ext4)."""

from __future__ import annotations

import glob
import os
import tempfile

import pytest

from tests.media import images
from tests.media.test_images import EXPECTED, scan_extra, scan_json


def _our_mounts() -> list[str]:
    with open("/proc/self/mountinfo") as fh:
        return [line for line in fh if "gapscan-mnt-" in line]


def test_mount_fallback_reads_ext4_read_only_and_cleans_up(media_images, media_hashlist, gapscan, state_dir):
    if os.geteuid() != 0:
        pytest.skip("--mount needs root (mount(2))")
    image = media_images["mbr"]  # p1 FAT16, p2 ext4
    before = images.sha256_file(image)
    leftovers = set(glob.glob(os.path.join(tempfile.gettempdir(), "gapscan-mnt-*")))
    result, hits, summary = scan_json(gapscan, image, media_hashlist, "--mount")
    if result.returncode == 2 and "no volume could be mounted" in result.stderr:
        pytest.skip(f"loop mounts do not work here: {result.stderr.strip()}")
    assert result.returncode == 1, result.stderr
    scan, files = scan_extra(state_dir, summary["scan_id"])
    vols = {v["name"]: v for v in scan.source_info["volumes"]}
    assert vols["p2"]["fstype"] == "ext4"
    assert vols["p2"]["options"].split(",") == ["ro", "nosuid", "nodev", "noexec", "noatime", "noload"]
    # a kernel mount shows no deleted files: only the allocated known files
    assert {p: f for p, f in hits.items() if p.startswith("p2/")} == {
        f"p2/{p}": f for p, f in EXPECTED["ext4"].items() if "deleted" not in f}
    if "error" in vols["p1"]:  # this kernel may lack vfat: a clear per-volume error, the rest scanned
        assert any(f.path == b"p1" and "cannot mount" in f.error for f in files if f.error)
    assert images.sha256_file(image) == before and scan.extra["device_fingerprint"]["unchanged"] is True
    assert _our_mounts() == []
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "gapscan-mnt-*"))) == leftovers
