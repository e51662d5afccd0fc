"""ZIP and TAR members scanned as ``outer.zip!inner/path``, with bomb limits, encryption and nesting handled."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import zipfile

from firmware.media.archive import ArchiveLimits, ArchiveSource
from firmware.media.localdir import LocalDirSource
from tests.media import images
from tests.media.test_images import scan_json

KNOWN = images.FILES["known.bin"]
REPORT = images.FILES["docs/report.txt"]


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tgz_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def walk(root, limits=None):
    src = ArchiveSource(LocalDirSource(root), limits)
    out = {}
    for e in src.walk():
        data = None
        if e.kind == "file" and e.error is None:
            try:
                with src.open(e) as fh:
                    data = fh.read()
            except OSError as exc:
                data = exc
        out[e.path] = (e, data)
    return out


def test_zip_and_tgz_members_nested_are_listed_with_their_content(tmp_path):
    inner_tgz = tgz_bytes({"deep/report.txt": REPORT})
    (tmp_path / "outer.zip").write_bytes(zip_bytes({"a/known.bin": KNOWN, "inner.tar.gz": inner_tgz,
                                                    "plain.txt": b"x"}))
    (tmp_path / "t.tar").write_bytes(_plain_tar({"k.bin": KNOWN}))
    got = walk(tmp_path)
    assert got[b"outer.zip!a/known.bin"][1] == KNOWN
    assert got[b"outer.zip!inner.tar.gz!deep/report.txt"][1] == REPORT
    assert got[b"t.tar!k.bin"][1] == KNOWN
    assert "archive" in got[b"outer.zip!inner.tar.gz!deep/report.txt"][0].flags
    assert got[b"outer.zip"][1] is not None  # the archive itself is hashed as a file too


def _plain_tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_nesting_deeper_than_three_is_not_opened(tmp_path):
    data = zip_bytes({"known.bin": KNOWN})
    for level in (4, 3, 2):
        data = zip_bytes({f"l{level}.zip": data})
    (tmp_path / "l1.zip").write_bytes(data)
    got = walk(tmp_path)
    assert got[b"l1.zip!l2.zip!l3.zip!l4.zip"][1] is not None  # the depth-3 archive's member is hashed
    marker = got[b"l1.zip!l2.zip!l3.zip!l4.zip!"][0]
    assert "nested deeper than 3" in marker.error
    assert not any(p.endswith(b"known.bin") for p in got)


def test_bomb_limits_end_that_archive_with_a_reason(tmp_path):
    (tmp_path / "ratio.zip").write_bytes(zip_bytes({"ok.txt": b"fine", "zeros.bin": bytes(8 << 20)}))
    (tmp_path / "many.zip").write_bytes(zip_bytes({f"m{i:02}.txt": b"%d" % i for i in range(20)}))
    (tmp_path / "big.tar.gz").write_bytes(tgz_bytes({"a.bin": images._blob(3, 3 << 20)}))
    (tmp_path / "z.txt").write_bytes(b"after the archives")
    got = walk(tmp_path, ArchiveLimits(max_members=10, max_total_bytes=2 << 20, max_ratio=100))
    assert "expands more than 100:1" in got[b"ratio.zip!"][0].error
    assert got[b"ratio.zip!ok.txt"][1] == b"fine"
    assert "more than 10 members" in got[b"many.zip!"][0].error
    assert len([p for p in got if p.startswith(b"many.zip!m")]) == 10
    assert "more than 2097152 bytes" in got[b"big.tar.gz!"][0].error
    assert got[b"z.txt"][1] == b"after the archives"  # the walk goes on
    spool = walk(tmp_path, ArchiveLimits(max_spool_bytes=1 << 20))
    assert "too large to unpack for scanning" in spool[b"big.tar.gz!"][0].error


def test_encrypted_and_corrupt_archives_are_recorded(tmp_path):
    (tmp_path / "plain.bin").write_bytes(KNOWN)
    subprocess.run(["zip", "-q", "-P", "secret", str(tmp_path / "enc.zip"), "plain.bin"], cwd=tmp_path, check=True)
    (tmp_path / "plain.bin").unlink()
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    good = zip_bytes({"x.bin": KNOWN}, zipfile.ZIP_STORED)
    (tmp_path / "crc.zip").write_bytes(good.replace(KNOWN[1000:1010], b"0123456789"))
    got = walk(tmp_path)
    enc = got[b"enc.zip!plain.bin"][0]
    assert "encrypted" in enc.flags and "encrypted" in enc.error
    assert "cannot read archive" in got[b"broken.zip!"][0].error
    crc_error = got[b"crc.zip!x.bin"][1]  # listed; its content fails the CRC when read
    assert isinstance(crc_error, OSError) and "corrupt archive member: Bad CRC-32" in str(crc_error)


def test_cli_reports_members_and_no_archives_turns_it_off(gapscan, media_hashlist, tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    (media / "bundle.zip").write_bytes(zip_bytes({"in/known.bin": KNOWN, "r.tgz": tgz_bytes({"report.txt": REPORT})}))
    result, hits, _ = scan_json(gapscan, media, media_hashlist)
    assert result.returncode == 1, result.stderr
    assert hits == {"bundle.zip!in/known.bin": ["archive"], "bundle.zip!r.tgz!report.txt": ["archive"]}
    result, hits, summary = scan_json(gapscan, media, media_hashlist, "--no-archives")
    assert result.returncode == 0 and hits == {} and summary["files"] == 1


def test_archive_inside_a_fat_image_is_read_through_pytsk3(gapscan, media_hashlist, tmp_path):
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(zip_bytes({"known.bin": KNOWN}))
    img = tmp_path / "usb.img"
    with open(img, "wb") as fh:
        fh.truncate(4 << 20)
    images.run("mkfs.vfat", img)
    images.run("mcopy", "-i", img, bundle, "::/bundle.zip", env={"MTOOLS_SKIP_CHECK": "1"})
    result, hits, _ = scan_json(gapscan, img, media_hashlist, "--json")
    assert result.returncode == 1, result.stderr
    assert hits == {"bundle.zip!known.bin": ["archive"]}
    assert json.loads(result.stdout.splitlines()[-1])["summary"]["errors"] == 0


def test_unpacked_archive_content_lives_in_memory_never_in_a_file_on_disk(tmp_path):
    """A compressed tar (and an archive nested in another) is unpacked before its members are read: into a
    memfd, so decompressed content of hostile media never reaches a disk, not even the appliance's /tmp."""
    (tmp_path / "c.tar.gz").write_bytes(tgz_bytes({"k.bin": KNOWN}))
    (tmp_path / "outer.zip").write_bytes(zip_bytes({"inner.zip": zip_bytes({"r.txt": REPORT})}))
    src = ArchiveSource(LocalDirSource(tmp_path))
    spools = {}
    for e in src.walk():
        if e.path in (b"c.tar.gz!k.bin", b"outer.zip!inner.zip!r.txt"):
            fd = e.ref.shared.fh.fileno()
            spools[e.path] = os.readlink(f"/proc/self/fd/{fd}")
            with src.open(e) as fh:
                assert fh.read() == (KNOWN if e.path.endswith(b"k.bin") else REPORT)
    assert set(spools) == {b"c.tar.gz!k.bin", b"outer.zip!inner.zip!r.txt"}
    assert all(target.startswith("/memfd:gapscan-archive") for target in spools.values()), spools
