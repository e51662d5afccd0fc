"""The README's run command path: demo media scanned against the demo list finds exactly the planted files."""

import json

from appliance.demo import make_demo


def test_demo_scan_finds_exactly_the_planted_files(gapscan, state_dir):
    demo = make_demo(state_dir / "demo")
    result = gapscan("scan", demo.media, "--hashlist", demo.hashlist, "--json")
    assert result.returncode == 1, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    hits = sorted(line["path"] for line in lines if "path" in line)
    assert hits == sorted(demo.planted)
    summary = lines[-1]["summary"]
    assert summary["hits"] == 3 and summary["errors"] == 0 and summary["files"] == 9


def test_scan_without_hits_exits_zero_and_missing_source_exits_two(gapscan, state_dir, tmp_path):
    demo = make_demo(state_dir / "demo")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "a.txt").write_text("nothing known\n")
    assert gapscan("scan", empty, "--hashlist", demo.hashlist).returncode == 0
    missing = gapscan("scan", tmp_path / "nope", "--hashlist", demo.hashlist)
    assert missing.returncode == 2
    assert "nope" in missing.stderr
