"""The audit log: every state change (import, update, scan, login, setting) leaves a record.

Append-only SQLite table in the state directory. Each record carries the SHA-256 of the previous record, so
a deleted or edited record breaks the chain and :meth:`AuditLog.verify` says where. Details are metadata
only: never a hash-list value, never file content.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    details TEXT NOT NULL,
    prev TEXT NOT NULL,
    digest TEXT NOT NULL
);
"""
_GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    at: float
    actor: str
    action: str
    outcome: str
    details: dict[str, Any]


class AuditLog:
    """``record("hashlist.import", actor="admin", name="vic", version=3)``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> AuditLog:
        return cls(state_dir / "audit.sqlite")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(self, action: str, *, actor: str = "system", outcome: str = "ok", **details: Any) -> None:
        body = json.dumps(details, sort_keys=True, default=str)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute("SELECT seq, digest FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (row[0] + 1, row[1]) if row else (1, _GENESIS)
            at = time.time()
            digest = _chain(prev, seq, at, actor, action, outcome, body)
            self._db.execute("INSERT INTO audit VALUES (?,?,?,?,?,?,?,?)",
                             (seq, at, actor, action, outcome, body, prev, digest))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def records(self, *, limit: int = 1000, newest_first: bool = True) -> Iterator[AuditRecord]:
        order = "DESC" if newest_first else "ASC"
        for seq, at, actor, action, outcome, details in self._db.execute(
                f"SELECT seq, at, actor, action, outcome, details FROM audit ORDER BY seq {order} LIMIT ?",  # noqa: S608
                (limit,)):
            yield AuditRecord(seq, at, actor, action, outcome, json.loads(details))

    def verify(self) -> int | None:
        """Return the first sequence number whose chain is broken, or ``None`` if the log is intact."""
        prev = _GENESIS
        expected_seq = 1
        for seq, at, actor, action, outcome, details, prev_col, digest in self._db.execute(
                "SELECT * FROM audit ORDER BY seq"):
            if seq != expected_seq or prev_col != prev or digest != _chain(prev, seq, at, actor, action,
                                                                           outcome, details):
                return seq
            prev = digest
            expected_seq += 1
        return None


def _chain(prev: str, seq: int, at: float, actor: str, action: str, outcome: str, details: str) -> str:
    payload = json.dumps([prev, seq, repr(at), actor, action, outcome, details]).encode()
    return hashlib.sha256(payload).hexdigest()
