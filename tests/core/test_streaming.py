"""The walk streams: files are hashed and recorded while the walk is still going, so memory does not grow with
the tree. Observed from outside the scan: a second SQLite connection counts recorded files at the moment the
walk hands over its very last entry. A scan that listed the whole tree before hashing would show zero there."""

from __future__ import annotations

import os
from collections.abc import Iterator

from appliance.hashlist.index import Matcher
from appliance.hashlist.loading import load_list_file
from appliance.results.store import ResultStore
from appliance.scan.job import ScanJob, ScanOptions
from firmware.media.localdir import LocalDirSource
from firmware.media.source import Entry
from tests.core.conftest import db_file_count, digest

FILES = 4000


class WatchedSource(LocalDirSource):
    """The real local-directory walker; it only notes how much the store holds when it yields its last entry.
    (fork_safe stays True: the hashing runs in worker processes as in a real scan.)"""

    def __init__(self, root, state_dir, total):
        super().__init__(root)
        self.state_dir = state_dir
        self.total = total
        self.recorded_at_last_entry: int | None = None

    def walk(self) -> Iterator[Entry]:
        seen = 0
        for entry in super().walk():
            if entry.kind.value == "file":
                seen += 1
                if seen == self.total:
                    self.recorded_at_last_entry = db_file_count(self.state_dir)
            yield entry


def test_files_are_recorded_before_the_walk_ends(tmp_path, state_dir):
    root = tmp_path / "big"
    for d in range(8):
        sub = root / f"d{d}"
        sub.mkdir(parents=True)
        for i in range(FILES // 8):
            (sub / f"f{i:05d}").write_bytes(os.urandom(64))
    (root / "d7" / "f00499").write_bytes(b"planted at the end")
    hashlist = tmp_path / "l.txt"
    hashlist.write_text(digest(b"planted at the end", "md5") + "\n")
    source = WatchedSource(root, state_dir, FILES)
    with ResultStore.in_state_dir(state_dir) as store:
        job = ScanJob(source, Matcher([load_list_file(hashlist)[0]]), store, ScanOptions(workers=2))
        counts = job.start()
    assert (counts.files, counts.hits) == (FILES, 1)
    assert source.recorded_at_last_entry is not None
    assert source.recorded_at_last_entry >= FILES // 2, source.recorded_at_last_entry
