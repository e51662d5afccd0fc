"""The RAM-only staging file: every importer reads a list staged in a memfd by its /proc/self/fd path, except
NSRL RDSv3 SQLite (SQLite resolves the link and cannot open it), which is refused with a clear message."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from appliance.errors import GapscanError
from appliance.hashlist.importers import detect_format, iter_file
from appliance.hashlist.staging import memfd_file, refuse_sqlite
from tests.hashlist.test_importers import EXPECTED_FORMAT


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED_FORMAT if not n.endswith(".db")))
def test_every_importer_reads_a_staged_list(formats: Path, name: str) -> None:
    direct = list(iter_file(formats / name))
    with memfd_file() as (fh, path):
        fh.write((formats / name).read_bytes())
        fh.flush()
        assert str(path).startswith("/proc/self/fd/")
        assert os.readlink(path).startswith("/memfd:")  # not on any filesystem
        refuse_sqlite(fh)
        assert detect_format(path) == EXPECTED_FORMAT[name]
        assert list(iter_file(path)) == direct and direct
    assert not path.exists()


def test_sqlite_cannot_be_staged_and_is_refused(formats: Path) -> None:
    with memfd_file() as (fh, path):
        fh.write((formats / "nsrl-rdsv3.db").read_bytes())
        with pytest.raises(GapscanError, match="SQLite databases cannot be imported"):
            refuse_sqlite(fh)
        fh.flush()
        with pytest.raises(sqlite3.Error):  # why: SQLite follows the link to "/memfd:... (deleted)"
            sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True).execute("PRAGMA table_info(FILE)")
