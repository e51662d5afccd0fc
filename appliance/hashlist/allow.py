"""The local allow-list: hits an admin marked as false positives, suppressed in every later scan.

Stored in ``state_dir/hashlists/allow.sqlite``. A digest that matched a list is a hash-list value, so it is not
kept as such: each entry holds a keyed fingerprint, SHA-256 of a domain tag, the algorithm and the digest,
which a scan recomputes from the file's own digest to suppress the hit, but which cannot be turned back into
the list entry. Every addition is audit-logged (list, algorithm, reason, who; never the digest).
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from appliance.audit import AuditLog
from appliance.errors import GapscanError
from appliance.hashing.digests import DIGEST_KINDS, parse_hex_digest

_SCHEMA = """
CREATE TABLE IF NOT EXISTS allow (
    fingerprint TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    list_name TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (fingerprint, list_name)
);
"""
PDQ_HEX = 64


def fingerprint(algorithm: str, digest: bytes) -> str:
    return hashlib.sha256(b"gapscan-allow\x00" + algorithm.encode() + b"\x00" + digest).hexdigest()


@dataclass(frozen=True, slots=True)
class AllowEntry:
    fingerprint: str
    algorithm: str
    list_name: str
    reason: str
    actor: str
    at: float


class AllowList:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / "hashlists" / "allow.sqlite"

    def _db(self) -> sqlite3.Connection:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA)
        return db

    def add(self, digest_hex: str, algorithm: str, list_name: str, reason: str, actor: str) -> AllowEntry:
        """Mark ``digest_hex`` (a hit's digest) in ``list_name`` as a false positive."""
        algorithm = algorithm.lower()
        if not reason.strip():
            raise GapscanError("an allow-list entry needs a reason")
        try:
            if algorithm == "pdq":
                if len(digest_hex.strip()) != PDQ_HEX:
                    raise ValueError(f"pdq digest must be {PDQ_HEX} hex characters")
                digest = bytes.fromhex(digest_hex.strip())
            elif algorithm in DIGEST_KINDS:
                digest = parse_hex_digest(digest_hex, algorithm)[1]
            else:
                raise ValueError(f"unknown algorithm {algorithm!r}")
        except ValueError as exc:
            raise GapscanError(f"allow-list: {exc}") from None
        entry = AllowEntry(fingerprint(algorithm, digest), algorithm, list_name, reason.strip(), actor, time.time())
        db = self._db()
        try:
            db.execute("INSERT OR REPLACE INTO allow VALUES (?,?,?,?,?,?)",
                       (entry.fingerprint, algorithm, list_name, entry.reason, actor, entry.at))
        finally:
            db.close()
        with AuditLog.in_state_dir(self.state_dir) as audit:
            audit.record("allowlist.add", actor=actor, list=list_name, algorithm=algorithm, reason=entry.reason)
        return entry

    def entries(self) -> list[AllowEntry]:
        if not self.path.is_file():
            return []
        db = self._db()
        try:
            return [AllowEntry(*row) for row in db.execute(
                "SELECT fingerprint, algorithm, list_name, reason, actor, at FROM allow ORDER BY at")]
        finally:
            db.close()

    def suppressed(self) -> frozenset[tuple[str, str]]:
        """(fingerprint, list name) pairs for :class:`appliance.hashlist.index.Matcher`."""
        return frozenset((e.fingerprint, e.list_name) for e in self.entries())
