"""``gapscan hash``: digests and PDQ per file, as text or JSON; exit 2 when a file cannot be read or decoded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.pdq.conftest import Reference


def test_hash_json_gives_path_digests_pdq_and_quality(gapscan, pdq_data: Path, references: list[Reference],
                                                      tmp_path: Path) -> None:
    ref = next(r for r in references if r.path.endswith("pen-and-coaster.png"))
    image = pdq_data / ref.path
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    result = gapscan("hash", image, text, "--json")
    assert result.returncode == 0, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    data = image.read_bytes()
    assert first == {"path": str(image), "type": "image/png", "md5": hashlib.md5(data).hexdigest(),
                     "sha1": hashlib.sha1(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest(),
                     "pdq": ref.pdq, "pdq_quality": ref.quality}
    assert second["pdq"] is None and second["md5"] == hashlib.md5(b"hello\n").hexdigest()


def test_hash_algorithm_selection_dihedral_and_text_output(gapscan, pdq_data: Path,
                                                           references: list[Reference]) -> None:
    ref = next(r for r in references if r.path.endswith("square-256x256.jpg"))
    result = gapscan("hash", pdq_data / ref.path, "--algorithms", "pdq", "--json", "--dihedral")
    out = json.loads(result.stdout)
    assert set(out) == {"path", "type", "pdq", "pdq_quality", "pdq_dihedral"}
    assert out["pdq_dihedral"] == ref.dihedral
    text = gapscan("hash", pdq_data / ref.path, "--algorithms", "md5,pdq")
    assert text.returncode == 0
    assert f"pdq={ref.pdq} quality={ref.quality}" in text.stdout and "md5=" in text.stdout
    assert "sha1=" not in text.stdout
    bad = gapscan("hash", pdq_data / ref.path, "--algorithms", "md5,crc32")
    assert bad.returncode == 2 and "crc32" in bad.stderr


def test_hash_reports_unreadable_and_corrupt_files_and_exits_two(gapscan, pdq_data: Path, tmp_path: Path) -> None:
    jpeg = (pdq_data / "images/bridge-mods/aaa-orig.jpg").read_bytes()
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(jpeg[:5000])
    result = gapscan("hash", broken, tmp_path / "missing.png", "--json")
    assert result.returncode == 2
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["md5"] == hashlib.md5(jpeg[:5000]).hexdigest() and first["pdq"] is None
    assert "truncated" in first["error"]
    assert "No such file" in second["error"]
    assert "broken.jpg" in result.stderr and "missing.png" in result.stderr


def test_hash_video_prints_vpdq_frames(gapscan, pdq_data: Path) -> None:
    result = gapscan("hash", pdq_data / "videos/pattern-sd-grey-bar.mp4", "--json", "--algorithms", "md5,pdq")
    out = json.loads(result.stdout)
    assert result.returncode == 0 and out["type"] == "video/mp4" and out["pdq"] is None
    assert len(out["vpdq"]) == 7 and out["vpdq"][1].startswith("30,100,")


def test_scan_with_pdq_in_algorithms_records_each_images_reference_hash(gapscan, pdq_data: Path,
                                                                         references: list[Reference],
                                                                         tmp_path: Path) -> None:
    ref = next(r for r in references if r.path.endswith("pen-and-coaster.png"))
    media = tmp_path / "media"
    media.mkdir()
    (media / "photo.bin").write_bytes((pdq_data / ref.path).read_bytes())  # type from magic bytes, not the name
    (media / "notes.txt").write_text("hello\n")
    scan = gapscan("scan", media, "--algorithms", "md5,pdq", "--json")
    assert scan.returncode == 0, scan.stderr
    scan_id = json.loads(scan.stdout.splitlines()[-1])["summary"]["scan_id"]
    report = json.loads(gapscan("report", scan_id, "--format", "json").stdout)
    files = {f["path"]: f for f in report["files"]}
    assert (files["photo.bin"]["pdq"], files["photo.bin"]["pdq_quality"]) == (ref.pdq, ref.quality)
    assert "pdq" not in files["notes.txt"] and files["notes.txt"]["sha1"] is None  # md5 only, as asked
