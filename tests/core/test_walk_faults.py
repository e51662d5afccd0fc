"""Files that vanish between the walk and the read, and a read that fails with EIO: each is recorded as an error
naming the cause, every other file is hashed, and the scan finishes (it does not stop, hang or record a digest
of half a file).

How the faults are made, and why so:
- vanished: the real local-directory walker, whose walk deletes a file (and a whole sub-directory) just after
  listing it, before the scan hashes it. That is the race a user has when removing files from a share or a
  drive being scanned, made deterministic: the walk has listed the name, the file is gone from the disk when the
  hashing worker opens it (ENOENT). Nothing is simulated; only the moment of the deletion is chosen.
- EIO: a real EIO needs a failing device. device-mapper (dm-error/dm-flakey on a loop device) is not in this
  kernel and FUSE needs a file-system server the test set-up does not install, so the fault is injected at the
  narrowest seam: the opened file's own ``readinto`` (the real descriptor, opened and fstat'ed by the real
  source) raises ``OSError(EIO)`` after the first chunk, as a bad sector part-way into a file does. Everything
  above it (hasher, forked workers, job, store) is the production path.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from appliance.hashing.digests import CHUNK
from appliance.hashlist.index import Matcher
from appliance.results.store import ResultStore
from appliance.scan.job import ScanJob, ScanOptions
from firmware.media.localdir import LocalDirSource, OpenedFile
from firmware.media.source import Entry

VANISHING_FILE = b"a/gone.bin"
VANISHING_DIR = b"b-gone"
BAD_SECTOR = b"c/bad-sector.bin"


class VanishingSource(LocalDirSource):
    """The real walker; a file is deleted after its directory was listed but before its entry reaches the scan,
    and a directory after its parent was listed, so the scan meets both only after the walk saw them. (Deleting
    after the entry was handed on would race the hashing workers, which may already have read it.)"""

    def walk(self) -> Iterator[Entry]:
        root = Path(self.name)
        for entry in super().walk():
            if entry.path == b"b":  # 'b' is listed (with 'b-gone' in the root's listing); now remove 'b-gone'
                shutil.rmtree(root / os.fsdecode(VANISHING_DIR))
            if entry.path == VANISHING_FILE:
                os.unlink(root / os.fsdecode(VANISHING_FILE))
            yield entry


class _FailingReads(OpenedFile):
    """The real open file; its second read fails as a bad sector does."""

    reads = 0

    def readinto(self, buffer: Any) -> int:
        self.reads += 1
        if self.reads > 1:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return super().readinto(buffer)


class BadSectorSource(LocalDirSource):
    def open(self, entry: Entry) -> Any:
        stream = super().open(entry)
        if entry.path != BAD_SECTOR:
            return stream
        failing = _FailingReads(os.dup(stream.fileno()), "rb", closefd=True)
        failing.stat = stream.stat  # type: ignore[attr-defined]
        stream.close()
        return failing


def _tree(root: Path) -> dict[bytes, bytes]:
    files = {b"a/gone.bin": b"deleted after listing", b"a/stays.bin": b"a", b"b/kept.bin": b"b",
             b"b-gone/inside.bin": b"listed with its parent, deleted before descended",
             BAD_SECTOR: os.urandom(3 * CHUNK), b"c/after.bin": b"c", b"z.bin": b"z"}
    for rel, data in files.items():
        path = root / os.fsdecode(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def _scan(source: LocalDirSource, state_dir: Path) -> tuple[Any, dict[bytes, tuple[Any, ...]]]:
    with ResultStore.in_state_dir(state_dir) as store:
        job = ScanJob(source, Matcher([]), store, ScanOptions(workers=2, hash_all=True))
        counts = job.start()
        status = store.get_scan(job.scan_id).status  # type: ignore[arg-type, union-attr]
    with sqlite3.connect(state_dir / "results.sqlite") as con:
        rows = {bytes(r[0]): r[1:] for r in con.execute("SELECT path, status, error, md5, sha256 FROM files")}
    return (counts, status), rows


def test_files_that_vanish_after_listing_are_errors_and_the_scan_goes_on(tmp_path, state_dir):
    root = tmp_path / "media"
    files = _tree(root)
    (counts, status), rows = _scan(VanishingSource(root), state_dir)
    assert status == "finished"
    assert not (root / "a" / "gone.bin").exists() and not (root / "b-gone").exists()  # the faults happened
    gone_status, gone_error, gone_md5, _ = rows[VANISHING_FILE]
    assert (gone_status, gone_md5) == ("error", None)
    assert gone_error.startswith("ENOENT"), gone_error
    dir_status, dir_error, _, _ = rows[VANISHING_DIR]
    assert dir_status == "error" and dir_error.startswith("ENOENT"), dir_error
    assert b"b-gone/inside.bin" not in rows
    hashed = {p for p, r in rows.items() if r[0] == "hashed"}
    assert hashed == set(files) - {VANISHING_FILE, b"b-gone/inside.bin"}
    assert counts.errors == 2


def test_eio_mid_file_is_an_error_without_digests_and_the_scan_goes_on(tmp_path, state_dir):
    root = tmp_path / "media"
    files = _tree(root)
    (counts, status), rows = _scan(BadSectorSource(root), state_dir)
    assert status == "finished"
    bad_status, bad_error, bad_md5, bad_sha256 = rows[BAD_SECTOR]
    assert (bad_status, bad_md5, bad_sha256) == ("error", None, None)  # never a digest of half the file
    assert bad_error == f"EIO: {os.strerror(errno.EIO)}", bad_error
    assert {p for p, r in rows.items() if r[0] == "hashed"} == set(files) - {BAD_SECTOR}
    assert counts.errors == 1
