"""``gapscan report`` (CSV, JSON, DFXML; all files or hits only), ``gapscan scans``, and the terminal display."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import select
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from appliance.pathfmt import unescape_path
from tests.conftest import REPO, gapscan_env
from tests.core.conftest import ALGORITHMS, digest, gapscan_cmd, parse_scan

DFXML_NS = "{http://www.forensicswiki.org/wiki/Category:Digital_Forensics_XML}"
SECRET = b"CONTENT-MARKER-never-in-a-report"
HOSTILE = {b"new\nline.txt": b"one", b"bad-\xff.bin": b"two", b"<b>&amp;\x01.html": SECRET + b" three"}


@pytest.fixture
def scanned(gapscan, planted):
    """The planted tree plus hostile names (listed too), scanned once."""
    rb = os.fsencode(planted.root)
    expected = {os.fsencode(p): planted.files[p] for p in planted.planted}
    extra_list = []
    for name, data in HOSTILE.items():
        with open(os.path.join(rb, name), "wb") as fh:
            fh.write(data)
        expected[name] = data
        extra_list.append(digest(data, "sha256") + " hostile")
    with open(planted.hashlist, "a") as fh:
        fh.write("\n".join(extra_list) + "\n")
    out = parse_scan(gapscan("scan", planted.root, "--hashlist", planted.hashlist, "--json"))
    assert out.returncode == 1
    all_files = {os.fsencode(p): d for p, d in planted.files.items()} | HOSTILE
    return out.summary["scan_id"], expected, all_files


def _report(gapscan, state_dir, scan_id, fmt, *extra):
    path = state_dir / f"report.{fmt}"
    result = gapscan("report", scan_id, "--format", fmt, "--out", path, *extra)
    assert result.returncode == 0, result.stderr
    data = path.read_bytes()
    assert SECRET not in data  # metadata and digests only, never content
    return data.decode("utf-8")


def test_json_report_all_files_and_hits_only(gapscan, state_dir, scanned):
    scan_id, hits, all_files = scanned
    doc = json.loads(_report(gapscan, state_dir, scan_id, "json"))
    assert doc["scan"]["scan_id"] == scan_id and doc["scan"]["status"] == "finished"
    assert doc["scan"]["counts"]["files"] == len(all_files)
    files = {unescape_path(f["path"]): f for f in doc["files"]}
    assert set(files) == set(all_files)
    for path, data in all_files.items():
        f = files[path]
        assert f["size"] == len(data) and f["status"] == "hashed"
        assert {a: f[a] for a in ALGORITHMS} == {a: digest(data, a) for a in ALGORITHMS}
        assert bool(f["hits"]) == (path in hits)

    only = json.loads(_report(gapscan, state_dir, scan_id, "json", "--hits-only"))
    assert {unescape_path(f["path"]) for f in only["files"]} == set(hits)
    assert all(f["hits"][0]["list"] == "known.txt" for f in only["files"])


def test_csv_report(gapscan, state_dir, scanned):
    scan_id, hits, all_files = scanned
    rows = list(csv.DictReader(io.StringIO(_report(gapscan, state_dir, scan_id, "csv"))))
    assert {unescape_path(r["path"]) for r in rows} == set(all_files)
    assert len(rows) == len(all_files)  # one entry per file here: no file is on the list twice
    for r in rows:
        path = unescape_path(r["path"])
        assert r["sha1"] == digest(all_files[path], "sha1")
        assert (r["hit_list"] == "known.txt") == (path in hits)
    only = list(csv.DictReader(io.StringIO(_report(gapscan, state_dir, scan_id, "csv", "--hits-only"))))
    assert {unescape_path(r["path"]) for r in only} == set(hits)
    assert all(r["hit_algorithm"] in ALGORITHMS for r in only)


def test_dfxml_report_has_fileobjects_with_hashdigests(gapscan, state_dir, scanned):
    scan_id, hits, all_files = scanned
    root = ET.fromstring(_report(gapscan, state_dir, scan_id, "dfxml"))
    assert root.tag == f"{DFXML_NS}dfxml"
    objects = root.findall(f"{DFXML_NS}fileobject")
    assert len(objects) == len(all_files)
    seen = {}
    for fo in objects:
        name = fo.findtext(f"{DFXML_NS}filename")
        digests = {h.get("type"): h.text for h in fo.findall(f"{DFXML_NS}hashdigest")}
        seen[name] = (int(fo.findtext(f"{DFXML_NS}filesize")), digests)
    for path, data in all_files.items():
        # XML 1.0 cannot carry U+0001 even escaped: the report shows it as \u0001
        name = path.decode("utf-8", "backslashreplace").replace("\x01", "\\u0001")
        assert seen[name] == (len(data), {a: digest(data, a) for a in ALGORITHMS})
    only = ET.fromstring(_report(gapscan, state_dir, scan_id, "dfxml", "--hits-only"))
    assert len(only.findall(f"{DFXML_NS}fileobject")) == len(hits)
    assert len(only.findall(".//{urn:gapscan:dfxml:1}hit")) == len(hits)


def test_report_to_stdout_and_unknown_scan(gapscan, scanned):
    scan_id, hits, _ = scanned
    result = gapscan("report", scan_id, "--format", "json", "--hits-only")
    assert result.returncode == 0 and len(json.loads(result.stdout)["files"]) == len(hits)
    missing = gapscan("report", "20200101-000000-nope00", "--format", "csv")
    assert missing.returncode == 2 and "20200101-000000-nope00" in missing.stderr


def test_scans_lists_every_scan(gapscan, scanned, planted):
    scan_id, hits, all_files = scanned
    text = gapscan("scans")
    assert text.returncode == 0 and scan_id in text.stdout and "finished" in text.stdout
    listed = [json.loads(line) for line in gapscan("scans", "--json").stdout.splitlines()]
    assert [(s["scan_id"], s["status"], s["files"], s["hits"]) for s in listed] == [
        (scan_id, "finished", len(all_files), len(hits))]


def test_progress_display_on_a_terminal_quiet_otherwise(state_dir, planted):
    """On a terminal (a real pty) the scan draws a live display on stderr; through a pipe it prints nothing
    there (see test_oracle: stderr is empty)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(gapscan_cmd("scan", planted.root, "--hashlist", planted.hashlist), cwd=REPO,
                            env={**gapscan_env(state_dir), "TERM": "xterm", "COLUMNS": "120"},
                            stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    stdout, _ = proc.communicate(timeout=30)
    drawn = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 1
    assert "files" in drawn and "hits" in drawn
    assert stdout.count("HIT ") == len(planted.planted)  # hits and summary still go to stdout


def test_report_command_formats_match_the_writers() -> None:
    """The ``report`` command spells out its --format choices (so the CLI parser need not import the writers)."""
    from appliance.cli.commands import report
    from appliance.results import reports

    assert report.FORMATS == reports.FORMATS
    assert set(reports.WRITERS) == set(report.FORMATS)
