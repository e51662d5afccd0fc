"""`gapscan scan IMAGE`: real FAT12/16/32, exFAT, NTFS, ext4 and partitioned images, read in userland by pytsk3.

The oracle is hashlib over the known contents (tests/media/images.py); every image is hashed before and after
the scan and must be unchanged, and the scan itself records equal device fingerprints.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from appliance.results.store import ResultStore
from tests.media import images

ODD = "odd name \u00fc;'x.txt"
#: What each image must yield as hits: path -> flags. FAT loses a deleted name's first character (0xE5 marker).
EXPECTED = {
    "fat": {"known.bin": [], "docs/report.txt": [], ODD: [], "_eleted.bin": ["deleted"]},
    "ext4": {"known.bin": [], "docs/report.txt": [], ODD: [], "deleted.bin": ["deleted"]},
    "ntfs": {"known.bin": [], ODD: [], "known.bin:hidden": ["ads"]},
    "exfat": {"known.bin": [], "docs/report.txt": [], ODD: []},
    "iso9660": {"known.bin": [], "docs/report.txt": [], ODD.replace(";", "_"): []},  # Joliet forbids ';'

}


def scan_json(gapscan, source, hashlist, *extra):
    result = gapscan("scan", source, "--hashlist", hashlist, "--json", *extra)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    hits = {h["path"]: h.get("flags", []) for h in lines if "path" in h}
    summary = lines[-1]["summary"] if lines else None
    return result, hits, summary


def scan_extra(state_dir, scan_id):
    with ResultStore.in_state_dir(state_dir) as store:
        scan = store.get_scan(scan_id)
        assert scan is not None
        return scan, list(store.iter_files(scan_id))


@pytest.mark.parametrize("fs", ["fat12", "fat16", "fat32", "ext2", "ext3", "ext4", "ntfs", "exfat", "iso9660"])
def test_filesystem_image_hits_match_the_oracle_and_image_is_unchanged(fs, media_images, media_hashlist, gapscan,
                                                                       state_dir):
    if fs not in media_images:
        pytest.skip("exFAT image could not be populated here (needs exfat-fuse, /dev/fuse and a loop device)"
                    if fs == "exfat" else "genisoimage missing (deps/apt/test/media.txt)")
    image = media_images[fs]
    before = images.sha256_file(image)
    result, hits, summary = scan_json(gapscan, image, media_hashlist)
    assert result.returncode == 1, result.stderr
    assert hits == EXPECTED["fat" if fs.startswith("fat") else "ext4" if fs.startswith("ext") else fs]
    assert summary["errors"] == 0
    assert images.sha256_file(image) == before
    scan, files = scan_extra(state_dir, summary["scan_id"])
    fp = scan.extra["device_fingerprint"]
    assert fp["method"] == "sha256-full" and fp["before"] == fp["after"] == before and fp["unchanged"] is True
    assert scan.source_info["volumes"][0]["fstype"] == fs
    assert b"innocent.txt" in {f.path for f in files}  # scanned, just not on the list


@pytest.mark.parametrize("label", ["mbr", "gpt"])
def test_partitioned_image_scans_every_volume(label, media_images, media_hashlist, gapscan, state_dir):
    image = media_images[label]
    before = images.sha256_file(image)
    result, hits, summary = scan_json(gapscan, image, media_hashlist)
    assert result.returncode == 1, result.stderr
    first, second = ("fat", "ext4") if label == "mbr" else ("ext4", "fat")
    expected = {f"p1/{p}": f for p, f in EXPECTED[first].items()} | {f"p2/{p}": f for p, f in EXPECTED[second].items()}
    assert hits == expected
    assert images.sha256_file(image) == before
    scan, _ = scan_extra(state_dir, summary["scan_id"])
    assert scan.source_info["partition_table"] == ("dos" if label == "mbr" else "gpt")
    assert [v["fstype"] for v in scan.source_info["volumes"]] == (
        ["fat16", "ext4"] if label == "mbr" else ["ext4", "fat16"])
    assert scan.extra["device_fingerprint"]["unchanged"] is True


def test_corrupt_fat_volume_is_an_error_and_the_other_volume_is_scanned(media_images, media_hashlist, gapscan,
                                                                          state_dir, tmp_path):
    image = tmp_path / "corrupt.img"
    shutil.copyfile(media_images["mbr"], image)
    images.corrupt(image, images.MIB, 64 * 1024)  # random bytes over p1's boot sector and FAT
    result, hits, summary = scan_json(gapscan, image, media_hashlist)
    assert result.returncode == 1, result.stderr
    assert hits == {f"p2/{p}": f for p, f in EXPECTED["ext4"].items()}
    _, files = scan_extra(state_dir, summary["scan_id"])
    errors = {f.path: f.error for f in files if f.error}
    assert list(errors) == [b"p1"]
    assert "volume p1" in errors[b"p1"] and "no filesystem TSK can read" in errors[b"p1"]


def test_truncated_ntfs_volume_reports_unreadable_files_and_the_other_volume_is_scanned(
        media_images, media_hashlist, gapscan, state_dir, tmp_path):
    image = images.make_partitioned(tmp_path / "trunc.img", [media_images["fat16"], media_images["ntfs"]])
    os.truncate(image, (1 + 16 + 6) * images.MIB)  # NTFS (p2) cut after 6 of its 16 MiB
    result, hits, summary = scan_json(gapscan, image, media_hashlist)
    assert result.returncode == 1, result.stderr
    assert {p: f for p, f in hits.items() if p.startswith("p1/")} == {
        f"p1/{p}": f for p, f in EXPECTED["fat"].items()}
    _, files = scan_extra(state_dir, summary["scan_id"])
    errors = {f.path: f.error for f in files if f.error}
    assert "truncated" in errors.pop(b"p2")
    assert errors and all(p.startswith(b"p2/") and "read error" in e for p, e in errors.items())


def test_unreadable_medium_is_a_clear_exit_two(gapscan, media_hashlist, tmp_path):
    junk = tmp_path / "junk.img"
    junk.write_bytes(os.urandom(256 * 1024))
    result = gapscan("scan", junk, "--hashlist", media_hashlist)
    assert result.returncode == 2
    assert "junk.img" in result.stderr and "no readable filesystem" in result.stderr


def test_quick_fingerprint_covers_first_and_last_mib(media_images, media_hashlist, gapscan, state_dir):
    result, _, summary = scan_json(gapscan, media_images["fat32"], media_hashlist, "--fingerprint", "quick")
    assert result.returncode == 1, result.stderr
    scan, _ = scan_extra(state_dir, summary["scan_id"])
    fp = scan.extra["device_fingerprint"]
    assert fp["method"] == "sha256-first-last-mib" and fp["unchanged"] is True and fp["size"] == 40 * images.MIB
    assert scan.source_info["fingerprint_before"]["sha256"] == fp["before"]
    report = gapscan("report", summary["scan_id"], "--format", "json")
    assert report.returncode == 0, report.stderr
    head = json.loads(report.stdout)["scan"]
    assert head["device_fingerprint"]["unchanged"] is True
    assert head["source_info"]["volumes"][0]["fstype"] == "fat32"


def test_no_deleted_scans_allocated_files_only(media_images, media_hashlist, gapscan):
    result, hits, _ = scan_json(gapscan, media_images["ext4"], media_hashlist, "--no-deleted")
    assert result.returncode == 1, result.stderr
    assert hits == {p: f for p, f in EXPECTED["ext4"].items() if "deleted" not in f}
