"""PDQ lists as exchanged by ThreatExchange / Hasher-Matcher-Actioner.

Two shapes:
- CSV or TSV of 64-hex PDQ hashes, optionally with a header naming ``pdq_hash``/``hash``/``signal``,
  ``label``/``category`` and ``distance``/``threshold`` columns; an empty distance means the list default;
- python-threatexchange's local signal file: ``signal_type signal`` per line (``pdq HEX``; ``video_md5 HEX`` and
  ``md5 HEX`` become exact MD5 entries; other signal types are counted as excluded).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator

from appliance.hashlist.importers.common import ImportStats, RecordErrors, hex_digest
from appliance.hashlist.model import HashRecord

FORMAT = "pdq"
_HASH_COLS = ("pdq_hash", "pdq", "hash", "signal", "signal_value")
_LABEL_COLS = ("label", "category", "tag", "tags")
_DIST_COLS = ("distance", "threshold", "match_distance", "radius")
_HEX = frozenset("0123456789abcdefABCDEF")
MAX_DISTANCE = 256


def _is_pdq_hex(s: str) -> bool:
    return len(s) == 64 and _HEX.issuperset(s)


def sniff(head: bytes) -> bool:
    first = head.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", "replace").strip().lower()
    if first.startswith(("pdq ", "pdq\t", "video_md5 ")):
        return True
    cells = [c.strip() for c in first.replace("\t", ",").split(",")]
    return bool(cells) and (cells[0] in _HASH_COLS or (_is_pdq_hex(cells[0]) and len(cells) > 1))


def _parse_pdq(text: str) -> bytes | str:
    t = text.strip()
    if not _is_pdq_hex(t):
        return f"PDQ hash must be 64 hex characters: {text!r}"
    return bytes.fromhex(t)


def _parse_distance(text: str) -> int | str | None:
    t = text.strip()
    if not t:
        return None
    if not t.isdigit() or int(t) > MAX_DISTANCE:
        return f"match distance must be an integer 0..{MAX_DISTANCE}: {text!r}"
    return int(t)


def iter_records(path: str | os.PathLike[str], *, lenient: bool = False,
                 stats: ImportStats | None = None) -> Iterator[HashRecord]:
    stats = stats if stats is not None else ImportStats()
    errors = RecordErrors(path, lenient, stats)
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
        first = text.readline()
        text.seek(0)
        if first.lower().startswith(("pdq ", "pdq\t", "video_md5", "md5 ", "photo_md5")):
            yield from _iter_signal_file(text, errors, stats)
        else:
            yield from _iter_table(text, first, errors, stats)


def _iter_signal_file(text: io.TextIOWrapper, errors: RecordErrors, stats: ImportStats) -> Iterator[HashRecord]:
    for lineno, line in enumerate(text, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            errors.bad(lineno, "signal", "expected 'signal_type signal'")
            continue
        kind, value = parts[0].lower(), parts[1].strip()
        if kind == "pdq":
            digest = _parse_pdq(value)
            if isinstance(digest, str):
                errors.bad(lineno, "signal", digest)
                continue
            stats.records += 1
            yield HashRecord("pdq", digest)
        elif kind in ("video_md5", "md5", "photo_md5"):
            parsed = hex_digest(value, "md5")
            if isinstance(parsed, str):
                errors.bad(lineno, "signal", parsed)
                continue
            stats.records += 1
            yield HashRecord("md5", parsed[1])
        else:
            stats.excluded += 1


def _iter_table(text: io.TextIOWrapper, first: str, errors: RecordErrors, stats: ImportStats) -> Iterator[HashRecord]:
    delimiter = "\t" if "\t" in first else ","
    reader = csv.reader(text, delimiter=delimiter)
    header = [c.strip().lower() for c in first.strip().split(delimiter)]
    hash_i, label_i, dist_i = 0, 1, 2
    if header and not _is_pdq_hex(header[0]):
        next(reader)
        hash_i = next((i for i, c in enumerate(header) if c in _HASH_COLS), -1)
        if hash_i < 0:
            errors.lenient = False
            errors.bad(1, "header", f"no PDQ hash column (one of {', '.join(_HASH_COLS)})")
        label_i = next((i for i, c in enumerate(header) if c in _LABEL_COLS), -1)
        dist_i = next((i for i, c in enumerate(header) if c in _DIST_COLS), -1)
    for fields in reader:
        line = reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()) or fields[0].startswith("#"):
            continue
        if hash_i >= len(fields):
            errors.bad(line, "pdq_hash", "missing")
            continue
        digest = _parse_pdq(fields[hash_i])
        if isinstance(digest, str):
            errors.bad(line, "pdq_hash", digest)
            continue
        label = fields[label_i].strip() if 0 <= label_i < len(fields) else ""
        distance = _parse_distance(fields[dist_i]) if 0 <= dist_i < len(fields) else None
        if isinstance(distance, str):
            errors.bad(line, "distance", distance)
            continue
        stats.records += 1
        yield HashRecord("pdq", digest, label or None, None, distance)
