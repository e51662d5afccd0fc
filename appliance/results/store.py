"""The results store: SQLite in WAL mode, written in batches, consistent after a kill at any moment.

Every batch is one transaction, so a scan killed mid-way leaves whole files recorded or not at all; a resumed
scan skips paths already recorded (``has_file``) and appends the rest.
"""

from __future__ import annotations

import functools
import json
import operator
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scans (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    source_info TEXT NOT NULL DEFAULT '{}',   -- JSON: Source.describe()
    options TEXT NOT NULL DEFAULT '{}',       -- JSON: what is needed to resume it
    lists TEXT NOT NULL DEFAULT '[]',         -- JSON: name/version/kind of every list used
    status TEXT NOT NULL,                     -- running | finished | interrupted | failed | cancelled
    started_at REAL NOT NULL,
    finished_at REAL,
    seconds REAL NOT NULL DEFAULT 0,          -- hashing time summed over runs (resume adds to it)
    extra TEXT NOT NULL DEFAULT '{}'          -- JSON: device fingerprints, self-test, notes
);
CREATE TABLE IF NOT EXISTS files (
    scan_id TEXT NOT NULL REFERENCES scans(id),
    seq INTEGER NOT NULL,                     -- walk order
    path BLOB NOT NULL,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    mtime REAL,
    type TEXT,
    md5 BLOB, sha1 BLOB, sha256 BLOB,
    extra TEXT,                               -- JSON: further digests (pdq ...) and facts
    status TEXT NOT NULL,                     -- hashed | known | skipped | error | prefiltered
    flags TEXT NOT NULL DEFAULT '',
    error TEXT,
    PRIMARY KEY (scan_id, path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS files_seq ON files(scan_id, seq);
CREATE TABLE IF NOT EXISTS hits (
    scan_id TEXT NOT NULL REFERENCES scans(id),
    path BLOB NOT NULL,
    algorithm TEXT NOT NULL,
    digest BLOB NOT NULL,
    list_name TEXT NOT NULL,
    list_version INTEGER NOT NULL,
    label TEXT,
    distance INTEGER,
    PRIMARY KEY (scan_id, path, algorithm, list_name)
) WITHOUT ROWID;
"""

FILE_COLUMNS = ("path", "kind", "size", "mtime", "type", "md5", "sha1", "sha256", "extra", "status", "flags",
                "error")


_SELECT_FILES = "SELECT " + ", ".join(FILE_COLUMNS) + " FROM files WHERE scan_id = ?"  # noqa: S608


@dataclass(frozen=True, slots=True)
class FileRow:
    path: bytes
    kind: str
    size: int
    mtime: float | None
    type: str | None
    md5: bytes | None
    sha1: bytes | None
    sha256: bytes | None
    extra: dict[str, Any] | None
    status: str
    flags: str
    error: str | None


@dataclass(frozen=True, slots=True)
class HitRow:
    path: bytes
    algorithm: str
    digest: bytes
    list_name: str
    list_version: int
    label: str | None
    distance: int | None = None


@dataclass(frozen=True, slots=True)
class ScanRow:
    id: str
    source: str
    source_info: dict[str, Any]
    options: dict[str, Any]
    lists: list[dict[str, Any]]
    status: str
    started_at: float
    finished_at: float | None
    seconds: float
    extra: dict[str, Any]


class ResultStore:
    """One SQLite database under the state directory. Safe to open from several processes (WAL)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints, never corrupt
        self._db.execute("PRAGMA foreign_keys=ON")
        if not self._schema_ready():  # only a new database is written to here: opening one that a running
            # (or stopped) scan holds a write lock on must not wait for that lock just to read it
            self._db.executescript(_SCHEMA)  # idempotent; executescript manages its own transaction
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def _schema_ready(self) -> bool:
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.OperationalError:  # no meta table yet
            return False
        return row is not None and row[0] == str(SCHEMA_VERSION)

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> ResultStore:
        return cls(state_dir / "results.sqlite")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- scans -----------------------------------------------------------------------------------
    def create_scan(self, source: str, source_info: dict[str, Any], options: dict[str, Any],
                    lists: list[dict[str, Any]]) -> str:
        scan_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        with self._tx():
            self._db.execute(
                "INSERT INTO scans (id, source, source_info, options, lists, status, started_at)"
                " VALUES (?, ?, ?, ?, ?, 'running', ?)",
                (scan_id, source, json.dumps(source_info), json.dumps(options), json.dumps(lists), time.time()),
            )
        return scan_id

    def set_status(self, scan_id: str, status: str, *, seconds: float | None = None,
                   finished: bool = False) -> None:
        with self._tx():
            self._db.execute("UPDATE scans SET status = ? WHERE id = ?", (status, scan_id))
            if seconds is not None:
                self._db.execute("UPDATE scans SET seconds = ? WHERE id = ?", (seconds, scan_id))
            if finished:
                self._db.execute("UPDATE scans SET finished_at = ? WHERE id = ?", (time.time(), scan_id))

    def update_extra(self, scan_id: str, **values: Any) -> None:
        with self._tx():
            row = self._db.execute("SELECT extra FROM scans WHERE id = ?", (scan_id,)).fetchone()
            extra = json.loads(row[0]) if row else {}
            extra.update(values)
            self._db.execute("UPDATE scans SET extra = ? WHERE id = ?", (json.dumps(extra), scan_id))

    def get_scan(self, scan_id: str) -> ScanRow | None:
        row = self._db.execute("SELECT * FROM scans WHERE id = ?", (scan_id,)).fetchone()
        return _scan_row(row) if row else None

    def list_scans(self, limit: int = 100) -> list[ScanRow]:
        rows = self._db.execute("SELECT * FROM scans ORDER BY started_at DESC LIMIT ?", (limit,)).fetchall()
        return [_scan_row(r) for r in rows]

    def counts(self, scan_id: str) -> dict[str, int]:
        """files, bytes, hits, errors, skipped (and per-status counts) of one scan."""
        out = {"files": 0, "bytes": 0, "hits": 0, "errors": 0, "skipped": 0, "known": 0, "prefiltered": 0}
        for status, n, total in self._db.execute(
            "SELECT status, COUNT(*), COALESCE(SUM(CASE WHEN status IN ('hashed','known') THEN size END), 0)"
            " FROM files WHERE scan_id = ? AND kind != 'dir' GROUP BY status", (scan_id,)):
            out["files"] += n
            out["bytes"] += total
            if status == "error":
                out["errors"] += n
            elif status in ("skipped", "known", "prefiltered"):
                out[status] += n
        dir_errors = self._db.execute(
            "SELECT COUNT(*) FROM files WHERE scan_id = ? AND kind = 'dir' AND status = 'error'", (scan_id,)
        ).fetchone()[0]
        out["errors"] += dir_errors
        out["hits"] = self._db.execute(
            "SELECT COUNT(DISTINCT path) FROM hits WHERE scan_id = ?", (scan_id,)).fetchone()[0]
        return out

    # -- files and hits --------------------------------------------------------------------------
    def next_seq(self, scan_id: str) -> int:
        row = self._db.execute("SELECT MAX(seq) FROM files WHERE scan_id = ?", (scan_id,)).fetchone()
        return (row[0] + 1) if row and row[0] is not None else 0

    def has_file(self, scan_id: str, path: bytes) -> bool:
        return self._db.execute(
            "SELECT 1 FROM files WHERE scan_id = ? AND path = ?", (scan_id, path)).fetchone() is not None

    def record_rows(self, files: Sequence[tuple[Any, ...]], hits: Sequence[tuple[Any, ...]] = ()) -> None:
        """Write files and hits in one transaction: all of the batch or none of it. Rows are in column order
        (``scan_id, seq`` then :data:`FILE_COLUMNS`, ``extra`` as JSON text; hits as the ``hits`` table's
        columns), as the scan job builds them.

        Why the rows are regrouped: Python's sqlite3 (3.11) binds int, float, str and bytearray directly but
        sends ``None`` and ``bytes`` through its adapter registry (a tuple, a dict lookup and two attribute
        lookups each): with 14 columns that cost more than the insert itself on a tree of small files. So a
        NULL column is left out of the statement (its default is NULL) rather than bound, rows grouped by which
        columns are NULL, one prepared statement per group; and blobs given as bytearray (stored the same, as a
        BLOB; read back as bytes) skip the adapter too. ``bytes`` works, only slower.
        """
        groups: dict[int, list[tuple[Any, ...]]] = {}
        for row in files:
            key = 0
            for bit, i in _NULLABLE:
                if row[i] is None:
                    key |= bit
            groups.setdefault(key, []).append(row)
        with self._tx():
            for key, rows in groups.items():
                sql, pick = _statement(key)
                self._db.executemany(sql, map(pick, rows))
            if hits:
                self._db.executemany(
                    "INSERT OR REPLACE INTO hits (scan_id, path, algorithm, digest, list_name, list_version,"
                    " label, distance) VALUES (?,?,?,?,?,?,?,?)", hits)

    def iter_files(self, scan_id: str, *, hits_only: bool = False) -> Iterator[FileRow]:
        sql = _SELECT_FILES  # column names are constants, never input
        if hits_only:
            sql += " AND path IN (SELECT path FROM hits WHERE scan_id = ?)"
        sql += " ORDER BY seq"
        args = (scan_id, scan_id) if hits_only else (scan_id,)
        for row in self._db.execute(sql, args):
            values = list(row)
            values[8] = json.loads(values[8]) if values[8] else None
            yield FileRow(*values)

    def iter_hits(self, scan_id: str) -> Iterator[HitRow]:
        for row in self._db.execute(
            "SELECT h.path, h.algorithm, h.digest, h.list_name, h.list_version, h.label, h.distance"
            " FROM hits h LEFT JOIN files f ON f.scan_id = h.scan_id AND f.path = h.path"
            " WHERE h.scan_id = ? ORDER BY f.seq, h.list_name, h.algorithm", (scan_id,)):
            yield HitRow(*row)

    # -- internals -------------------------------------------------------------------------------
    def _tx(self) -> _Transaction:
        return _Transaction(self._db)


_ROW_COLUMNS = ("scan_id", "seq", *FILE_COLUMNS)
#: (bit, column index) of every column that may be NULL.
_NULLABLE = tuple((1 << n, i) for n, i in enumerate(
    i for i, c in enumerate(_ROW_COLUMNS) if c in ("mtime", "type", "md5", "sha1", "sha256", "extra", "error")))


@functools.lru_cache(maxsize=256)
def _statement(null_key: int) -> tuple[str, Callable[[tuple[Any, ...]], tuple[Any, ...]]]:
    """The INSERT for rows whose NULL columns are ``null_key``'s bits, and what picks the other values."""
    dropped = {i for bit, i in _NULLABLE if null_key & bit}
    keep = [i for i in range(len(_ROW_COLUMNS)) if i not in dropped]
    names = ", ".join(_ROW_COLUMNS[i] for i in keep)  # constants, never input
    return (f"INSERT OR REPLACE INTO files ({names}) VALUES ({', '.join('?' * len(keep))})",  # noqa: S608
            operator.itemgetter(*keep))  # type: ignore[return-value]


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _scan_row(row: tuple[Any, ...]) -> ScanRow:
    (id_, source, source_info, options, lists, status, started, finished, seconds, extra) = row
    return ScanRow(id_, source, json.loads(source_info), json.loads(options), json.loads(lists), status,
                   started, finished, seconds, json.loads(extra))
