"""Runs of files whose size the walk did not look up: a worker stops a run once it has hashed RUN_BYTES and the
scan hands the rest out again, one file a run. Whatever the split, every file is hashed once, with the digests
hashlib gives, and recorded in walk order (``seq``), as a scan that never split would record it."""

from __future__ import annotations

import hashlib
import os
import sqlite3

from appliance.hashlist.index import Matcher
from appliance.results.store import ResultStore
from appliance.scan.hasher import FileHasher, HashPolicy
from appliance.scan.job import RUN_BYTES, ScanJob, ScanOptions
from firmware.media.localdir import LocalDirSource
from firmware.media.source import SIZE_UNKNOWN

ALL = ("md5", "sha1", "sha256")


def test_a_run_stops_after_its_byte_budget(tmp_path):
    for name, size in (("a", 10), ("b", 3000), ("c", 10), ("d", 10)):
        (tmp_path / name).write_bytes(os.urandom(size))
    source = LocalDirSource(tmp_path)
    source.defer_file_stat()
    entries = list(source.walk())
    assert [e.size for e in entries] == [SIZE_UNKNOWN] * 4
    results = FileHasher(source, Matcher([]), HashPolicy(ALL)).hash_run(entries, byte_budget=1000)
    assert [r.digests.size for r in results if r.digests] == [10, 3000]  # stopped after b, c and d left over


def test_large_files_after_small_ones_are_split_out_and_recorded_in_walk_order(tmp_path, state_dir):
    root = tmp_path / "media"
    content: dict[bytes, bytes] = {}
    for d, count, size in (("a", 300, 100), ("b", 4, RUN_BYTES + 1), ("c", 300, 100)):
        (root / d).mkdir(parents=True)
        for i in range(count):
            data = os.urandom(size)
            (root / d / f"f{i:03d}").write_bytes(data)
            content[f"{d}/f{i:03d}".encode()] = data
    with ResultStore.in_state_dir(state_dir) as store:
        job = ScanJob(LocalDirSource(root), Matcher([]), store, ScanOptions(workers=2, hash_all=True))
        counts = job.start()
    assert (counts.files, counts.errors) == (len(content), 0)
    with sqlite3.connect(state_dir / "results.sqlite") as con:
        rows = con.execute("SELECT path, size, md5, sha1, sha256 FROM files ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == sorted(content)  # walk order: directories and names sorted by bytes
    for path, size, *digests in rows:
        data = content[path]
        assert size == len(data)
        assert digests == [hashlib.new(a, data).digest() for a in ALL], path
