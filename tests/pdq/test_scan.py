"""Perceptual matching inside a real scan: modified copies of a listed image are hits with their distance."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from appliance.hashing import pdq
from appliance.hashing.canaries import PDQ_CANARIES
from appliance.hashlist.index import LoadedList, Matcher
from appliance.hashlist.model import HashRecord, ListInfo
from appliance.results.store import ResultStore
from appliance.scan.analyzers import PerceptualAnalyzer, analyzers_for
from appliance.scan.job import ScanJob, ScanOptions
from firmware.media.localdir import LocalDirSource
from tests.conftest import REPO, gapscan_env
from tests.pdq.conftest import encode

LOW_QUALITY = next(c for c in PDQ_CANARIES if c.pdq_quality is not None and c.pdq_quality < 50)


def _tree(pdq_data: Path, root: Path) -> Image.Image:
    """A scanned tree: copies of the bridge photo (resized, recompressed, rotated, mirrored), an unrelated
    photo, a low-quality image whose hash is listed, a truncated JPEG and a text file."""
    original = Image.open(pdq_data / "images/bridge-mods/aaa-orig.jpg").convert("RGB")
    root.mkdir()
    (root / "dcim").mkdir()
    half = original.resize((original.width // 2, original.height // 2), Image.Resampling.LANCZOS)
    (root / "dcim" / "resized-q70.jpg").write_bytes(encode(half, "JPEG", quality=70))
    (root / "dcim" / "rotated.png").write_bytes(encode(original.rotate(90, expand=True), "PNG"))
    (root / "mirrored.webp").write_bytes(encode(original.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "WEBP"))
    (root / "unrelated.png").write_bytes((pdq_data / "images/reg-test-input/pen-and-coaster.png").read_bytes())
    (root / "flat.bmp").write_bytes(LOW_QUALITY.data)
    jpeg = (pdq_data / "images/bridge-mods/blur-a-lot.jpg").read_bytes()
    (root / "broken.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (root / "notes.txt").write_text("not an image\n")
    return original


def _list_file(path: Path, original: Image.Image) -> Path:
    """A ThreatExchange/HMA-style PDQ CSV (the header tells it from a SHA-256 list: both are 64 hex)."""
    listed = pdq.pdq_from_image(original, xp=np)
    path.write_text(f"pdq_hash,label\n{listed.hex},bridge-series\n{LOW_QUALITY.pdq},flat-series\n")
    return path


def test_gapscan_scan_reports_modified_copies_with_distance_and_never_low_quality_images(
        pdq_data: Path, tmp_path: Path, state_dir: Path) -> None:
    original = _tree(pdq_data, tmp_path / "media")
    hashlist = _list_file(tmp_path / "vics-pdq.csv", original)
    proc = subprocess.run([sys.executable, "-m", "appliance", "scan", str(tmp_path / "media"),
                           "--hashlist", str(hashlist), "--json"], capture_output=True, text=True, timeout=120,
                          cwd=REPO, env=gapscan_env(state_dir))
    assert proc.returncode == 1, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    hits = {h["path"].split("/media/")[-1]: h for h in lines if "path" in h}
    assert set(hits) == {"dcim/resized-q70.jpg", "dcim/rotated.png", "mirrored.webp"}
    for hit in hits.values():
        assert hit["algorithm"] == "pdq" and hit["list"] == "vics-pdq.csv" and hit["list_version"] == 1
        assert hit["label"] == "bridge-series"
        assert 0 <= hit["distance"] <= 31
    summary = lines[-1]["summary"]
    assert summary["status"] == "finished" and summary["files"] == 7 and summary["hits"] == 3

    with ResultStore.in_state_dir(state_dir) as store:
        files = {f.path.decode().split("/")[-1]: f for f in store.iter_files(summary["scan_id"])}
    flat = files["flat.bmp"].extra
    assert flat["pdq"] == LOW_QUALITY.pdq and flat["pdq_quality"] < 50 and flat["pdq_low_quality"] is True
    assert "truncated" in files["broken.jpg"].extra["pdq_error"]
    assert files["unrelated.png"].extra["pdq_quality"] == 100
    assert files["notes.txt"].extra is None
    # Hits name the file's own PDQ, never the listed value (the list stays unexported).
    with ResultStore.in_state_dir(state_dir) as store:
        digests = {h.digest.hex() for h in store.iter_hits(summary["scan_id"])}
    assert pdq.pdq_from_image(original, xp=np).hex not in digests


def test_store_list_keeps_its_pdq_distance_through_import_info_and_scan(
        pdq_data: Path, tmp_path: Path, gapscan) -> None:
    """``hashlist import --pdq-distance N``: the list's own threshold decides a stored PDQ list's hits."""
    original = Image.open(pdq_data / "images/bridge-mods/aaa-orig.jpg").convert("RGB")
    media = tmp_path / "media"
    media.mkdir()
    data = encode(original.resize((200, 125), Image.Resampling.BILINEAR), "JPEG", quality=40)
    (media / "copy.jpg").write_bytes(data)
    dist = pdq.pdq_from_bytes(data, xp=np).distance(pdq.pdq_from_image(original, xp=np))
    assert 2 <= dist <= 31
    listed = _list_file(tmp_path / "te.csv", original)
    env = {"GAPSCAN_PASSPHRASE": "pdq distance test", "GAPSCAN_RUNTIME_DIR": str(tmp_path / "run"),
           "GAPSCAN_TPM_TCTI": "none"}

    def scan_hits(distance: int) -> list[int]:
        r = gapscan("hashlist", "import", listed, "--name", "te", "--pdq-distance", str(distance), env=env)
        assert r.returncode == 0, r.stderr
        r = gapscan("scan", media, "--json", env=env)
        assert r.returncode in (0, 1), r.stderr
        return [line["distance"] for line in map(json.loads, r.stdout.splitlines()) if "path" in line]

    assert scan_hits(dist - 1) == []  # stricter than this copy's distance: no hit
    info = gapscan("hashlist", "info", env=env)
    assert f"PDQ match distance: {dist - 1} bits" in info.stdout
    assert scan_hits(dist) == [dist]  # version 2 of the list, with the copy's distance: a hit
    lists = json.loads(gapscan("hashlist", "info", "--json", env=env).stdout)["lists"]
    assert [(x["version"], x["pdq_distance"]) for x in lists] == [(2, dist)]
    bad = gapscan("hashlist", "import", listed, "--name", "te", "--pdq-distance", "300", env=env)
    assert bad.returncode == 2 and "--pdq-distance must be 0..256" in bad.stderr


def test_threshold_overrides_per_list_and_per_entry(pdq_data: Path, tmp_path: Path) -> None:
    original = Image.open(pdq_data / "images/bridge-mods/aaa-orig.jpg").convert("RGB")
    small = original.resize((200, 125), Image.Resampling.BILINEAR)
    data = encode(small, "JPEG", quality=40)
    dist = pdq.pdq_from_bytes(data, xp=np).distance(pdq.pdq_from_image(original, xp=np))
    assert 2 <= dist <= 31
    listed = pdq.pdq_from_image(original, xp=np).hash

    def analyzer(entry_radius: int | None, list_radius: int | None) -> PerceptualAnalyzer:
        lst = LoadedList.from_records(ListInfo("l"), [HashRecord("pdq", listed, "x", distance=entry_radius)])
        return PerceptualAnalyzer(Matcher([lst]), thresholds={"l": list_radius} if list_radius is not None else {})

    assert [d for _m, d in analyzer(None, None).analyze(data, "image/jpeg")[1]] == [dist]
    assert analyzer(None, dist - 1).analyze(data, "image/jpeg")[1] == []  # per-list threshold
    assert analyzer(dist - 1, None).analyze(data, "image/jpeg")[1] == []  # per-entry radius
    assert len(analyzer(dist, 0).analyze(data, "image/jpeg")[1]) == 1  # the entry's own radius wins


def test_scan_job_in_process_and_analyzer_selection(pdq_data: Path, tmp_path: Path) -> None:
    original = _tree(pdq_data, tmp_path / "media")
    listed = pdq.pdq_from_image(original, xp=np)
    lst = LoadedList.from_records(ListInfo("hma"), [HashRecord("pdq", listed.hash, "bridge")])
    matcher = Matcher([lst])
    assert analyzers_for(Matcher([]), ("md5",)) == []
    assert len(analyzers_for(Matcher([]), ("md5", "pdq"))) == 1
    analyzers = analyzers_for(matcher, ("md5", "sha1", "sha256"))
    assert [a.name for a in analyzers] == ["pdq"]
    with ResultStore(tmp_path / "r.sqlite") as store:
        job = ScanJob(LocalDirSource(tmp_path / "media"), matcher, store, ScanOptions(workers=2),
                      analyzers=analyzers)
        counts = job.start()
        assert counts.hits == 3 and counts.errors == 0
        assert all(h.algorithm == "pdq" and h.distance is not None for h in store.iter_hits(job.scan_id))


def test_image_bigger_than_the_memory_bound_is_not_read_for_pdq() -> None:
    analyzer = PerceptualAnalyzer(Matcher([]))
    assert analyzer.wants("image/jpeg", 10 << 20)
    assert not analyzer.wants("image/jpeg", 1 << 40)
    assert not analyzer.wants("application/pdf", 100)
    assert not analyzer.wants(None, 100)


def test_batched_analyzer_gives_the_same_facts_and_hits_as_the_direct_one(pdq_data: Path) -> None:
    from appliance.hashing.pdq import BatchHasher

    data = (pdq_data / "images/bridge-mods/square-512x512.jpg").read_bytes()
    listed = pdq.pdq_from_bytes((pdq_data / "images/bridge-mods/aaa-orig.jpg").read_bytes(), xp=np)
    matcher = Matcher([LoadedList.from_records(ListInfo("l"), [HashRecord("pdq", listed.hash, "x")])])
    direct = PerceptualAnalyzer(matcher, xp=np).analyze(data, "image/jpeg")
    batched = PerceptualAnalyzer(matcher, xp=np, batcher=BatchHasher(np)).analyze(data, "image/jpeg")
    assert direct == batched and len(direct[1]) == 1


def test_fast_path_is_selectable_for_scans_and_marked(pdq_data: Path, monkeypatch) -> None:
    data = (pdq_data / "images/bridge-mods/aaa-orig.jpg").read_bytes()
    monkeypatch.setenv("GAPSCAN_PDQ_PATH", "fast")
    (fast,) = analyzers_for(Matcher([]), ("pdq",))
    extra, _ = fast.analyze(data, "image/jpeg")
    assert extra["pdq_fast"] is True
    monkeypatch.delenv("GAPSCAN_PDQ_PATH")
    (exact,) = analyzers_for(Matcher([]), ("pdq",))
    extra_exact, _ = exact.analyze(data, "image/jpeg")
    assert "pdq_fast" not in extra_exact
    assert pdq.hamming(bytes.fromhex(extra["pdq"]), bytes.fromhex(extra_exact["pdq"])) <= 4
