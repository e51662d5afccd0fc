"""A real ``gapscan scan`` subprocess killed mid-scan (SIGKILL, SIGTERM, SIGINT) leaves a consistent store, and
``--resume`` finishes it with exactly the records an uninterrupted scan of the same tree produces."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.core.conftest import (
    db_file_count,
    digest,
    parse_scan,
    popen_gapscan,
    scan_records,
)

SMALL_FILES = 3000
HOLEY = 256 << 20  # hashed with --hash-sparse: keeps the scan busy after its first batch is recorded


@dataclass
class ResumeTree:
    root: Path
    hashlist: Path
    total: int
    baseline_state: Path
    baseline: dict


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> ResumeTree:
    base = tmp_path_factory.mktemp("resume")
    root = base / "media"
    listed = []
    for i in range(SMALL_FILES):
        p = root / f"a{i % 10}" / f"small-{i:05d}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        data = f"small file {i}\n".encode() * (1 + i % 50)
        p.write_bytes(data)
        if i % 500 == 7:
            listed.append(digest(data, "sha1"))
    with open(root / "m-holey.img", "wb") as fh:
        fh.seek(HOLEY - 4)
        fh.write(b"end!")
    listed.append(digest(bytes(HOLEY - 4) + b"end!", "md5"))
    (root / "z-last.txt").write_bytes(b"the last file in walk order")
    listed.append(digest(b"the last file in walk order", "sha256"))
    hashlist = base / "list.txt"
    hashlist.write_text("\n".join(f"{d} resume-test" for d in listed) + "\n")
    state = base / "baseline-state"
    state.mkdir()
    proc = popen_gapscan(state, "scan", root, "--hashlist", hashlist, "--hash-sparse", "--json")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    summary = json.loads(out.splitlines()[-1])["summary"]
    assert summary["files"] == SMALL_FILES + 2 and summary["hits"] == len(listed)
    return ResumeTree(root, hashlist, SMALL_FILES + 2, state, summary)


def _start_and_wait_for_first_batch(state_dir: Path, tree: ResumeTree):
    proc = popen_gapscan(state_dir, "scan", tree.root, "--hashlist", tree.hashlist, "--hash-sparse", "--json")
    deadline = time.monotonic() + 60
    while db_file_count(state_dir) == 0:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "scan recorded nothing in 60 s"
        time.sleep(0.01)
    return proc


def _scan_status(state_dir: Path) -> tuple[str, str]:
    with sqlite3.connect(state_dir / "results.sqlite") as con:
        return con.execute("SELECT id, status FROM scans").fetchone()


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _assert_same_as_baseline(state_dir: Path, scan_id: str, tree: ResumeTree) -> None:
    base_id = tree.baseline["scan_id"]
    assert scan_records(state_dir, scan_id) == scan_records(tree.baseline_state, base_id)


def test_sigkill_mid_scan_then_resume_equals_an_uninterrupted_scan(tree, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    proc = _start_and_wait_for_first_batch(state, tree)
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    scan_id, status = _scan_status(state)
    assert status == "running"  # nobody could mark it: the process died at once
    with sqlite3.connect(state / "results.sqlite") as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        recorded = con.execute("SELECT path, md5 FROM files ORDER BY seq").fetchall()
    assert 0 < len(recorded) < tree.total, "the kill did not land mid-scan"
    deadline = time.monotonic() + 10  # forked hashing workers die with their scan
    while any(Path(f"/proc/{w}").exists() and "Z" not in Path(f"/proc/{w}/stat").read_text().split()[2]
              for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(not Path(f"/proc/{w}").exists() or Path(f"/proc/{w}/stat").read_text().split()[2] == "Z"
               for w in workers)

    # Change a file that was already recorded: a resume that re-read finished files would notice.
    first_path = tree.root / os.fsdecode(recorded[0][0])
    original = first_path.read_bytes()
    try:
        first_path.write_bytes(original + b"changed after the kill")
        proc = popen_gapscan(state, "scan", "--resume", scan_id, "--json")
        out, err = proc.communicate(timeout=120)
    finally:
        first_path.write_bytes(original)
    resumed = parse_scan(_completed(proc, out, err))
    assert resumed.returncode == 1, err
    assert resumed.summary["scan_id"] == scan_id
    for key in ("files", "bytes", "hits", "errors", "skipped"):
        assert resumed.summary[key] == tree.baseline[key], key
    _assert_same_as_baseline(state, scan_id, tree)
    assert _scan_status(state) == (scan_id, "finished")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_and_sigint_interrupt_cleanly_and_resume(tree, tmp_path, sig):
    state = tmp_path / "state"
    state.mkdir()
    proc = _start_and_wait_for_first_batch(state, tree)
    proc.send_signal(signal.SIGSTOP)  # hold it mid-scan, whatever the machine's speed
    scan_id, _ = _scan_status(state)
    twice = popen_gapscan(state, "scan", "--resume", scan_id)
    _, err = twice.communicate(timeout=60)
    assert twice.returncode == 2 and "still running" in err  # one process per scan
    proc.send_signal(sig)
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=60)

    assert proc.returncode == 2, err
    scan_id, status = _scan_status(state)
    assert status == "interrupted"
    assert f"gapscan scan --resume {scan_id}" in err
    summary = json.loads(out.splitlines()[-1])["summary"]
    assert summary["status"] == "interrupted" and 0 < summary["files"] < tree.total

    proc = popen_gapscan(state, "scan", "--resume", scan_id, "--json")
    out, err = proc.communicate(timeout=120)
    resumed = parse_scan(_completed(proc, out, err))
    assert resumed.returncode == 1, err
    _assert_same_as_baseline(state, scan_id, tree)

    again = popen_gapscan(state, "scan", "--resume", scan_id)
    _, err = again.communicate(timeout=60)
    assert again.returncode == 2 and "already finished" in err
    unknown = popen_gapscan(state, "scan", "--resume", "no-such-scan")
    _, err = unknown.communicate(timeout=60)
    assert unknown.returncode == 2 and "no-such-scan" in err


def _completed(proc, out: str, err: str):
    import subprocess

    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
