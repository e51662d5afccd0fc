"""Fixtures and helpers for the core scan tests: planted trees, the hashdeep oracle, scans run as a real
``gapscan`` subprocess, and a way to make a file unreadable even when the tests run as root."""

from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, gapscan_env

ALGORITHMS = ("md5", "sha1", "sha256")


def digest(data: bytes, algorithm: str) -> str:
    return hashlib.new(algorithm, data).hexdigest()


@dataclass
class ScanOutput:
    """A ``gapscan scan --json`` run, parsed: hit objects, the summary, exit status and stderr."""

    returncode: int
    hits: list[dict[str, Any]]
    summary: dict[str, Any]
    stderr: str
    lines: list[dict[str, Any]] = field(default_factory=list)

    @property
    def hit_paths(self) -> list[str]:
        return sorted(h["path"] for h in self.hits)


def parse_scan(result: subprocess.CompletedProcess[str]) -> ScanOutput:
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert lines, f"no JSON output; stderr:\n{result.stderr}"
    assert "summary" in lines[-1], f"last line is not the summary: {lines[-1]}"
    return ScanOutput(result.returncode, [x for x in lines[:-1]], lines[-1]["summary"], result.stderr, lines)


@dataclass
class PlantedTree:
    """A generated tree, a plain hash list naming some of its files, and the same entries in hashdeep's
    known-file format (one file per algorithm, with sizes, as hashdeep requires)."""

    root: Path
    hashlist: Path
    hashdeep_lists: dict[str, Path]
    planted: dict[str, tuple[str, str | None]]  # relative path -> (algorithm listed, label)
    files: dict[str, bytes]


def make_planted_tree(base: Path, *, files: int = 300, seed: int = 7) -> PlantedTree:
    """Files of 0 B .. 200 KB in nested folders; some listed by MD5, SHA-1 or SHA-256 (in mixed case, some
    with labels), one planted content copied under a second name, plus decoy entries that match nothing."""
    rng = random.Random(seed)
    root = base / "tree"
    contents: dict[str, bytes] = {}
    for i in range(files):
        depth = rng.randrange(0, 4)
        rel = "/".join(f"dir{rng.randrange(5)}" for _ in range(depth)) + ("/" if depth else "")
        rel += f"file {i:04d}.{rng.choice(['jpg', 'txt', 'bin', 'dat'])}"
        size = rng.choice([0, 1, 100, 4096, 5000, 65536, 200_000])
        contents[rel] = rng.randbytes(size) if size else b""
    names = sorted(n for n, d in contents.items() if len(d) >= 100)  # unique content, so no chance twins
    chosen = rng.sample(names, 24)
    copy_of = chosen[0]
    contents["copies/same content, other name.bin"] = contents[copy_of]
    for rel, data in contents.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    planted: dict[str, tuple[str, str | None]] = {}
    lines = ["# test list: planted digests and decoys", ""]
    by_alg: dict[str, list[str]] = {a: [] for a in ALGORITHMS}
    for i, rel in enumerate(chosen):
        alg = ALGORITHMS[i % 3]
        label = None if i % 4 == 3 else f"category-{i % 2 + 1}"
        hexd = digest(contents[rel], alg)
        hexd = hexd.upper() if i % 2 else hexd  # the list is case-insensitive
        lines.append(hexd + (f"\t{label}" if label else ""))
        planted[rel] = (alg, label)
        by_alg[alg].append(f"{len(contents[rel])},{hexd.lower()},planted-{i}")
    planted["copies/same content, other name.bin"] = planted[copy_of]
    for i in range(60):  # decoys: listed digests of content that is not in the tree
        alg = ALGORITHMS[i % 3]
        hexd = digest(f"decoy {i}".encode(), alg)
        lines.append(f"{hexd}  decoy")
        by_alg[alg].append(f"{i},{hexd},decoy-{i}")
    hashlist = base / "known.txt"
    hashlist.write_text("\n".join(lines) + "\n")
    hashdeep_lists = {}
    for alg, rows in by_alg.items():
        p = base / f"known-{alg}.hashdeep"
        p.write_text(f"%%%% HASHDEEP-1.0\n%%%% size,{alg},filename\n" + "\n".join(rows) + "\n")
        hashdeep_lists[alg] = p
    return PlantedTree(root, hashlist, hashdeep_lists, planted, contents)


def hashdeep_matches(tree: PlantedTree) -> set[str]:
    """The oracle: ``hashdeep -r -m -k LIST`` per algorithm's list (hashdeep loads one format per run)."""
    found: set[str] = set()
    for path in tree.hashdeep_lists.values():
        out = subprocess.run(["hashdeep", "-c", "md5,sha1,sha256", "-r", "-l", "-m", "-k", str(path), "."],
                             cwd=tree.root, capture_output=True, text=True, timeout=120)
        # Matching mode exits 1 when some input files matched nothing; anything else is a failure.
        assert out.returncode in (0, 1) and not out.stderr.strip(), out.stderr
        found |= {line.removeprefix("./") for line in out.stdout.splitlines() if line.strip()}
    return found


def hashdeep_digests(root: Path) -> dict[str, dict[str, str]]:
    """Every file's md5/sha1/sha256 as hashdeep computes them, keyed by relative path."""
    out = subprocess.run(["hashdeep", "-c", "md5,sha1,sha256", "-r", "-l", "."], cwd=root, capture_output=True,
                         text=True, check=True, timeout=120)
    result = {}
    for line in out.stdout.splitlines():
        if line.startswith(("%", "#")) or not line.strip():
            continue
        size, md5, sha1, sha256, name = line.split(",", 4)
        result[name.removeprefix("./")] = {"size": size, "md5": md5, "sha1": sha1, "sha256": sha256}
    return result


def db_file_count(state_dir: Path) -> int:
    """Files recorded so far, read through a second connection as any other process would."""
    db = state_dir / "results.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return con.execute("SELECT COUNT(*) FROM files").fetchone()[0]
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def scan_records(state_dir: Path, scan_id: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(files, hits) of one scan as plain sorted rows, for comparing two scans of the same tree."""
    with sqlite3.connect(state_dir / "results.sqlite") as con:
        files = con.execute("SELECT path, kind, size, type, md5, sha1, sha256, status, flags, error FROM files"
                            " WHERE scan_id = ? ORDER BY path", (scan_id,)).fetchall()
        hits = con.execute("SELECT path, algorithm, digest, list_name, list_version, label FROM hits"
                           " WHERE scan_id = ? ORDER BY path, algorithm, list_name", (scan_id,)).fetchall()
    return files, hits


def gapscan_cmd(*args: str | os.PathLike[str]) -> list[str]:
    return [sys.executable, "-m", "appliance", *map(str, args)]


def popen_gapscan(state_dir: Path, *args: str | os.PathLike[str], **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(gapscan_cmd(*args), cwd=REPO, env=gapscan_env(state_dir), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


#: How a scan is run so that a mode-000 file really is unreadable to it. Running as root, the tests drop the
#: two capabilities that let root ignore file permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) from the
#: scan's bounding set with util-linux ``setpriv``; root then gets EACCES on a file it owns with mode 000.
NO_DAC_PREFIX = (["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else [])


def run_gapscan_no_dac(state_dir: Path, *args: str | os.PathLike[str],
                       timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NO_DAC_PREFIX, *gapscan_cmd(*args)], cwd=REPO, env=gapscan_env(state_dir),
                          capture_output=True, text=True, timeout=timeout)


def remove_tree(path: Path) -> None:
    """``rm -rf``: Python 3.11's shutil.rmtree recurses and cannot remove a 2,000-level tree."""
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False, timeout=120)


@pytest.fixture
def planted(tmp_path: Path) -> PlantedTree:
    return make_planted_tree(tmp_path)
