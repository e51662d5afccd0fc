"""A hostile tree: loops, special files, unreadable entries, hostile names, 2,000 levels, 100,000 entries in
one directory, a 1 TB sparse file. The scan must finish (never hang on the FIFO), count everything right and
report every name losslessly.

One scan of the big tree is shared by the tests of this module (building and scanning it is the slow part).
The scan runs with CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH dropped when the tests run as root (see
``NO_DAC_PREFIX``), so the mode-000 file and directory really are unreadable to it.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance.pathfmt import escape_path, unescape_path
from tests.core.conftest import (
    ALGORITHMS,
    ScanOutput,
    digest,
    parse_scan,
    remove_tree,
    run_gapscan_no_dac,
)

DEPTH = 2000
WIDE = 100_000
TERABYTE = 1 << 40

HOSTILE_NAMES = {  # name bytes -> content; every one of these is on the hash list
    b"bad-utf8-\xff\xfe\x80.bin": b"invalid utf-8 name",
    b"new\nline.txt": b"a newline in the name",
    b"<img src=x onerror=alert(1)>&amp;.html": b"html in the name",
    b"back\\slash \\x41.txt": b"a backslash that looks like an escape",
    b"\xe2\x80\xaeevil-rtl-override.txt": b"bidi override",
}


@dataclass
class Hostile:
    root: Path
    state_dir: Path
    out: ScanOutput
    listed: dict[bytes, bytes]  # path -> content of every listed file


def _make_deep(root: Path, depth: int, leaf: bytes) -> bytes:
    """``d/d/.../d/leaf.txt`` built with directory descriptors (the path is longer than PATH_MAX)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            nxt = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        leaf_fd = os.open("leaf.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf_fd, leaf)
        os.close(leaf_fd)
    finally:
        os.close(fd)
    return b"/".join([b"deep"] + [b"d"] * depth + [b"leaf.txt"])


def _build(base: Path) -> tuple[Path, dict[bytes, bytes]]:
    root = base / "media"
    root.mkdir()
    rb = os.fsencode(root)
    listed: dict[bytes, bytes] = {}
    (root / "normal.txt").write_bytes(b"hello")
    (root / "empty").write_bytes(b"")
    os.symlink("loop-b", root / "loop-a")
    os.symlink("loop-a", root / "loop-b")
    os.symlink(".", root / "dir-loop")
    os.symlink("/etc/passwd", root / "outside")  # must be recorded, never read
    os.mkfifo(root / "fifo")  # opening it would block forever
    os.mknod(root / "socket", stat.S_IFSOCK | 0o644)
    (root / "unreadable").write_bytes(b"secret")
    os.chmod(root / "unreadable", 0)
    (root / "locked-dir").mkdir()
    (root / "locked-dir" / "inside").write_bytes(b"not reachable")
    os.chmod(root / "locked-dir", 0)
    with open(root / "sparse-1tb", "wb") as fh:
        fh.truncate(TERABYTE)
    for name, data in HOSTILE_NAMES.items():
        with open(os.path.join(rb, name), "wb") as fh:
            fh.write(data)
        listed[name] = data
    (root / "deep").mkdir()
    listed[_make_deep(root / "deep", DEPTH, b"at the bottom")] = b"at the bottom"
    wide = root / "wide"
    wide.mkdir()
    wfd = os.open(wide, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i in range(WIDE):
            os.close(os.open(f"f{i:06d}", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=wfd))
    finally:
        os.close(wfd)
    with open(wide / "f099999", "wb") as fh:  # one of the 100k is listed
        fh.write(b"needle in the wide directory")
    listed[b"wide/f099999"] = b"needle in the wide directory"
    return root, listed


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("hostile")
    root, listed = _build(base)
    hashlist = base / "list.txt"
    hashlist.write_text("".join(f"{digest(d, ALGORITHMS[i % 3])} hostile-{i}\n"
                                for i, d in enumerate(listed.values())))
    state_dir = base / "state"
    state_dir.mkdir()
    try:
        result = run_gapscan_no_dac(state_dir, "scan", root, "--hashlist", hashlist, "--json", timeout=180)
        yield Hostile(root, state_dir, parse_scan(result), listed)
    finally:
        os.chmod(root / "locked-dir", 0o755)
        remove_tree(base)


def test_hostile_tree_finishes_with_exact_counts(hostile):
    out = hostile.out
    assert out.returncode == 1, out.stderr
    s = out.summary
    # files: normal, empty, 4 symlinks, fifo, socket, unreadable, sparse, hostile names, the deep leaf, 100k wide
    assert s["files"] == 2 + 4 + 1 + 1 + 1 + 1 + len(HOSTILE_NAMES) + 1 + WIDE
    assert s["skipped"] == 4 + 1 + 1 + 1  # symlinks, fifo, socket, sparse by policy
    assert s["errors"] == 2  # the unreadable file and the unreadable directory
    assert s["hits"] == len(hostile.listed)
    assert s["bytes"] == sum(len(d) for d in hostile.listed.values()) + len(b"hello")


def test_hits_report_every_hostile_path_losslessly(hostile):
    got = {unescape_path(h["path"]): h for h in hostile.out.hits}
    assert set(got) == set(hostile.listed)
    for path, hit in got.items():
        assert hit["path"] == escape_path(path)
        assert hit["size"] == len(hostile.listed[path])
        assert hit["sha256"] == digest(hostile.listed[path], "sha256")
    assert got[b"bad-utf8-\xff\xfe\x80.bin"]["path"] == "bad-utf8-\\xff\\xfe\\x80.bin"
    assert got[b"back\\slash \\x41.txt"]["path"] == "back\\\\slash \\\\x41.txt"
    deep = next(p for p in got if p.startswith(b"deep/"))
    assert deep.count(b"/") == DEPTH + 1


def _records(hostile: Hostile) -> dict[bytes, dict]:
    scan_id = hostile.out.summary["scan_id"]
    report = hostile.state_dir / "report.json"
    result = run_gapscan_no_dac(hostile.state_dir, "report", scan_id, "--format", "json", "--out", report)
    assert result.returncode == 0, result.stderr
    return {unescape_path(f["path"]): f for f in json.loads(report.read_text())["files"]}


def test_special_files_are_recorded_never_opened(hostile):
    files = _records(hostile)
    for name in (b"loop-a", b"loop-b", b"dir-loop", b"outside"):
        assert (files[name]["kind"], files[name]["status"], files[name]["md5"]) == ("symlink", "skipped", None)
    assert (files[b"fifo"]["kind"], files[b"fifo"]["status"]) == ("fifo", "skipped")
    assert (files[b"socket"]["kind"], files[b"socket"]["status"]) == ("socket", "skipped")
    assert files[b"unreadable"]["status"] == "error" and "EACCES" in files[b"unreadable"]["error"]
    assert files[b"unreadable"]["size"] == len(b"secret") and files[b"unreadable"]["mtime"]  # lstat'ed, not read
    assert files[b"locked-dir"]["kind"] == "dir" and "EACCES" in files[b"locked-dir"]["error"]
    assert b"locked-dir/inside" not in files
    sparse = files[b"sparse-1tb"]
    assert (sparse["status"], sparse["size"], sparse["sha256"]) == ("skipped", TERABYTE, None)
    assert "sparse" in sparse["flags"] and "--hash-sparse" in sparse["error"]
    assert files[b"empty"]["sha256"] == digest(b"", "sha256") and files[b"empty"]["status"] == "hashed"
    assert sum(p.startswith(b"wide/") for p in files) == WIDE
    # nothing beyond the symlinks was entered: no path runs through dir-loop
    assert not any(p.startswith(b"dir-loop/") for p in files)


def test_the_scan_never_wrote_to_the_source(hostile):
    assert (hostile.root / "normal.txt").read_bytes() == b"hello"
    assert sorted(os.listdir(hostile.root)) == sorted(
        ["normal.txt", "empty", "loop-a", "loop-b", "dir-loop", "outside", "fifo", "socket", "unreadable",
         "locked-dir", "sparse-1tb", "deep", "wide", *(os.fsdecode(n) for n in HOSTILE_NAMES)])


def test_text_output_cannot_be_forged_by_names(gapscan, tmp_path):
    """A newline or bidi override in a name cannot fake an extra line or reverse the text on a terminal."""
    root = tmp_path / "m"
    root.mkdir()
    names = list(HOSTILE_NAMES)
    for name, data in HOSTILE_NAMES.items():
        with open(os.path.join(os.fsencode(root), name), "wb") as fh:
            fh.write(data)
    hashlist = tmp_path / "l.txt"
    hashlist.write_text("".join(digest(d, "md5") + "\n" for d in HOSTILE_NAMES.values()))
    result = gapscan("scan", root, "--hashlist", hashlist)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == len(names) + 1  # one line per hit, one summary line
    assert any("new\\u000aline.txt" in line for line in lines)
    assert any("\\u202eevil" in line for line in lines)
    assert "\u202e" not in result.stdout


def test_sparse_policy_small_file_skipped_by_default_hashed_on_request(gapscan, tmp_path):
    """Sparse policy: a file of at least 64 MiB with fewer than half its bytes allocated is skipped unless
    ``--hash-sparse``; then it is hashed like any other file (holes read as zeros)."""
    root = tmp_path / "m"
    root.mkdir()
    size = 80 << 20
    with open(root / "holey.img", "wb") as fh:
        fh.seek(size - 5)
        fh.write(b"tail!")
    content = bytes(size - 5) + b"tail!"
    hashlist = tmp_path / "l.txt"
    hashlist.write_text(digest(content, "sha1") + " sparse-planted\n")

    default = parse_scan(gapscan("scan", root, "--hashlist", hashlist, "--json"))
    assert default.returncode == 0 and default.summary["skipped"] == 1 and default.summary["bytes"] == 0

    hashed = parse_scan(gapscan("scan", root, "--hashlist", hashlist, "--json", "--hash-sparse"))
    assert hashed.returncode == 1 and hashed.summary["skipped"] == 0
    assert [h["path"] for h in hashed.hits] == ["holey.img"]
    assert hashed.hits[0]["md5"] == digest(content, "md5") and hashed.summary["bytes"] == size
