"""What every importer shares: import statistics and the strict/lenient handling of one bad record."""

from __future__ import annotations

import os
from dataclasses import dataclass

from appliance.hashing.digests import DIGEST_KINDS, parse_hex_digest
from appliance.hashlist.model import HashListFormatError

_HEX_BYTES = frozenset(b"0123456789abcdefABCDEF")


def first_data_line(head: bytes) -> bytes | None:
    """For a format sniffer: the first line of ``head`` that is neither blank nor a ``#`` comment, stripped."""
    for raw in head.splitlines():
        line = raw.strip()
        if line and not line.startswith(b"#"):
            return line
    return None


def looks_like_digest(token: bytes) -> bool:
    """For a format sniffer: is ``token`` an MD5, SHA-1 or SHA-256 in hex?"""
    return len(token) in (32, 40, 64) and _HEX_BYTES.issuperset(token)


@dataclass
class ImportStats:
    """Counts an import reports: records yielded, malformed records skipped (``--lenient``), entries left out
    on purpose (e.g. VICS category 0, "not pertinent")."""

    records: int = 0
    skipped: int = 0
    excluded: int = 0


class RecordErrors:
    """Raises :class:`HashListFormatError` for a bad record, or counts it when lenient."""

    def __init__(self, path: str | os.PathLike[str], lenient: bool, stats: ImportStats) -> None:
        self.file = os.fspath(path)
        self.lenient = lenient
        self.stats = stats

    def bad(self, line: int, field: str, problem: str) -> None:
        """Call, then ``continue`` to the next record (only returns when lenient)."""
        if not self.lenient:
            raise HashListFormatError(self.file, line, field, problem)
        self.stats.skipped += 1


_BY_HEX_LEN = {k.hex_len: k for k in DIGEST_KINDS.values()}


def hex_digest(text: str, algorithm: str | None = None) -> tuple[str, bytes] | str:
    """Parsed ``(algorithm, digest)``, or the problem text. Fast path first (this runs once per entry)."""
    kind = DIGEST_KINDS.get(algorithm) if algorithm else _BY_HEX_LEN.get(len(text))
    if kind is not None and len(text) == kind.hex_len:
        try:
            digest = bytes.fromhex(text)
        except ValueError:
            digest = b""
        if len(digest) == kind.size:  # fromhex skips spaces: a length check rejects them
            return kind.name, digest
    try:
        return parse_hex_digest(text, algorithm)
    except ValueError as exc:
        return str(exc)


def parse_size(text: str) -> int | str:
    """A non-negative decimal size, or the problem text."""
    t = text.strip()
    if not t.isdigit() or not t.isascii():
        return f"not a size in bytes: {text!r}"
    return int(t)


def decode_line(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
