"""Hits and digests of ``gapscan scan`` agree with an independent tool, hashdeep, on the same tree and list."""

from __future__ import annotations

import json

from tests.core.conftest import ALGORITHMS, digest, hashdeep_digests, hashdeep_matches, parse_scan

HIT_KEYS = {"path", "size", "md5", "sha1", "sha256", "algorithm", "list", "label"}
SUMMARY_KEYS = {"scan_id", "files", "bytes", "hits", "errors", "skipped", "seconds"}


def test_hits_equal_hashdeep_matching_mode(gapscan, planted):
    oracle = hashdeep_matches(planted)
    assert oracle == set(planted.planted)  # the oracle itself sees exactly what was planted

    out = parse_scan(gapscan("scan", planted.root, "--hashlist", planted.hashlist, "--json"))

    assert out.returncode == 1, out.stderr
    assert set(out.hit_paths) == oracle
    assert len(out.hits) == len(oracle)  # one hit object per (file, list entry): each planted once
    for hit in out.hits:
        assert hit.keys() >= HIT_KEYS
        data = planted.files[hit["path"]]
        assert hit["size"] == len(data)
        assert {a: hit[a] for a in ALGORITHMS} == {a: digest(data, a) for a in ALGORITHMS}
        algorithm, label = planted.planted[hit["path"]]
        assert (hit["algorithm"], hit["list"], hit["label"]) == (algorithm, "known.txt", label)
    s = out.summary
    assert s.keys() >= SUMMARY_KEYS
    assert (s["files"], s["hits"], s["errors"], s["skipped"]) == (len(planted.files), len(oracle), 0, 0)
    assert s["bytes"] == sum(map(len, planted.files.values()))
    assert s["seconds"] >= 0 and out.stderr == ""  # quiet when not a terminal


def test_every_files_digests_equal_hashdeep(gapscan, planted, state_dir):
    result = gapscan("scan", planted.root, "--hashlist", planted.hashlist, "--json")
    scan_id = parse_scan(result).summary["scan_id"]
    report = state_dir / "all.json"
    assert gapscan("report", scan_id, "--format", "json", "--out", report).returncode == 0
    ours = {f["path"]: {"size": str(f["size"]), **{a: f[a] for a in ALGORITHMS}}
            for f in json.loads(report.read_text())["files"]}
    assert ours == hashdeep_digests(planted.root)


def test_algorithms_narrows_the_digests_and_the_hits(gapscan, planted):
    out = parse_scan(gapscan("scan", planted.root, "--hashlist", planted.hashlist, "--json",
                             "--algorithms", "sha256"))
    expected = sorted(p for p, (alg, _) in planted.planted.items() if alg == "sha256")
    assert out.returncode == 1
    assert out.hit_paths == expected
    for hit in out.hits:
        assert hit["algorithm"] == "sha256" and hit["md5"] is None and hit["sha1"] is None

    bad = gapscan("scan", planted.root, "--hashlist", planted.hashlist, "--algorithms", "md5,crc32")
    assert bad.returncode == 2 and "crc32" in bad.stderr


def test_exit_status_zero_without_hits_two_on_errors(gapscan, planted, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text(digest(b"not in the tree", "sha1") + "\n")
    clean = parse_scan(gapscan("scan", planted.root, "--hashlist", other, "--json"))
    assert clean.returncode == 0 and clean.hits == [] and clean.summary["hits"] == 0

    missing_list = gapscan("scan", planted.root, "--hashlist", tmp_path / "absent.txt")
    assert missing_list.returncode == 2 and "absent.txt" in missing_list.stderr
    missing_source = gapscan("scan", tmp_path / "no-such-dir", "--hashlist", other)
    assert missing_source.returncode == 2 and "no-such-dir" in missing_source.stderr
    assert gapscan("scan", "--hashlist", other).returncode == 2  # no source at all
    assert gapscan("scan", planted.root, "--no-such-flag").returncode == 2
    assert gapscan("scan", planted.root, "--hashlist", other, "--workers", "0").returncode == 2
