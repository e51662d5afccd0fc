"""NIST NSRL RDS: RDSv3 SQLite databases and the legacy ``NSRLFile.txt`` CSV (usually an *ignore* list).

RDSv3: table ``FILE(sha256, sha1, md5, crc32, file_name, file_size, package_id)``, one row per (file, package),
so the same hash appears many times; rows are streamed as they are and the index de-duplicates (no ``DISTINCT``:
SQLite would build a temporary b-tree on disk). The database is opened read-only and immutable: it is input,
never changed. Legacy CSV: every field quoted, uppercase hex, CRLF; columns named by the header row.
Every entry carries its size.
"""

from __future__ import annotations

import csv
import io
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from appliance.hashlist.importers.common import ImportStats, RecordErrors, hex_digest, parse_size
from appliance.hashlist.model import HashListFormatError, HashRecord

FORMAT = "nsrl"
SQLITE_MAGIC = b"SQLite format 3\x00"
_CSV_COLUMNS = {"sha-1": "sha1", "md5": "md5", "sha256": "sha256", "sha-256": "sha256"}


def sniff(head: bytes) -> bool:
    first = head.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].upper()
    return head.startswith(SQLITE_MAGIC) or (b'"SHA-1"' in first and b'"MD5"' in first)


def iter_records(path: str | os.PathLike[str], *, lenient: bool = False,
                 stats: ImportStats | None = None) -> Iterator[HashRecord]:
    stats = stats if stats is not None else ImportStats()
    with open(path, "rb") as fh:
        magic = fh.read(len(SQLITE_MAGIC))
    if magic == SQLITE_MAGIC:
        yield from _iter_rdsv3(Path(path), RecordErrors(path, lenient, stats), stats)
    else:
        yield from _iter_legacy_csv(Path(path), RecordErrors(path, lenient, stats), stats)


def _iter_rdsv3(path: Path, errors: RecordErrors, stats: ImportStats) -> Iterator[HashRecord]:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1"
    try:
        db = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise HashListFormatError(str(path), 0, "database", f"cannot open RDSv3 database: {exc}") from None
    try:
        try:
            cols = {r[1].lower() for r in db.execute("PRAGMA table_info(FILE)")}
        except sqlite3.DatabaseError as exc:
            raise HashListFormatError(str(path), 0, "database", f"not a readable SQLite database: {exc}") from None
        if not {"sha1", "md5", "file_size"} <= cols:
            raise HashListFormatError(str(path), 0, "FILE", "no FILE(sha256, sha1, md5, file_size) table: "
                                                            "not an NSRL RDSv3 database")
        algs = [a for a in ("sha256", "sha1", "md5") if a in cols]
        cursor = db.execute(f"SELECT rowid, {', '.join(algs)}, file_size FROM FILE")  # noqa: S608 (fixed names)
        for row in cursor:
            rowid, values, size_value = row[0], row[1:-1], row[-1]
            if not isinstance(size_value, int) or size_value < 0:
                errors.bad(rowid, "file_size", f"not a size in bytes: {size_value!r}")
                continue
            out = _digests(errors, rowid, algs, values, size_value)
            if out is None:
                continue
            stats.records += 1
            yield from out
    except sqlite3.DatabaseError as exc:
        raise HashListFormatError(str(path), 0, "database", f"corrupt RDSv3 database: {exc}") from None
    finally:
        db.close()


def _digests(errors: RecordErrors, line: int, algs: list[str], values: tuple[object, ...],
             size: int) -> list[HashRecord] | None:
    out = []
    for alg, value in zip(algs, values, strict=True):
        if value in (None, ""):
            continue  # RDS leaves a column empty where the hash was not computed
        parsed = hex_digest(str(value), alg)
        if isinstance(parsed, str):
            errors.bad(line, alg, parsed)
            return None
        out.append(HashRecord(alg, parsed[1], None, size))
    if not out:
        errors.bad(line, "hash", "no digest in this row")
        return None
    return out


def _iter_legacy_csv(path: Path, errors: RecordErrors, stats: ImportStats) -> Iterator[HashRecord]:
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            return
        names = [h.strip().lower() for h in header]
        algs = {i: _CSV_COLUMNS[n] for i, n in enumerate(names) if n in _CSV_COLUMNS}
        if not algs or "filesize" not in names:
            raise HashListFormatError(str(path), 1, "header", 'expected "SHA-1","MD5",...,"FileSize" columns')
        size_col = names.index("filesize")
        try:
            for fields in reader:
                line = reader.line_num
                if not fields:
                    continue
                if len(fields) != len(names):
                    errors.bad(line, "columns", f"{len(fields)} field(s), header names {len(names)}")
                    continue
                size = parse_size(fields[size_col])
                if isinstance(size, str):
                    errors.bad(line, "FileSize", size)
                    continue
                out = _digests(errors, line, list(algs.values()), tuple(fields[i] for i in algs), size)
                if out is None:
                    continue
                stats.records += 1
                yield from out
        except csv.Error as exc:
            raise HashListFormatError(str(path), reader.line_num, "csv", str(exc)) from None
