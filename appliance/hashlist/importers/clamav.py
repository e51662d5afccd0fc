"""ClamAV hash signatures: ``.hdb`` (MD5) and ``.hsb`` (SHA-1/SHA-256), one ``hash:size:name[:flevel]`` per line.

A size of ``*`` means "any size": such an entry carries no size, so the list as a whole cannot use the size
pre-filter. The signature name becomes the label.

Chunks of plain-ASCII lines are parsed vectorised (:mod:`.chunks`); any other chunk goes line by line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import numpy as np

from appliance.hashlist.importers.batch import RecordBatch, chunked_items, records_of
from appliance.hashlist.importers.chunks import (
    Lines,
)
from appliance.hashlist.importers.common import (
    ImportStats,
    RecordErrors,
    decode_line,
    first_data_line,
    hex_digest,
    looks_like_digest,
    parse_size,
)
from appliance.hashlist.model import HashRecord

FORMAT = "clamav"


def sniff(head: bytes) -> bool:
    line = first_data_line(head)
    if line is None:
        return False
    parts = line.split(b":")
    return len(parts) in (3, 4) and looks_like_digest(parts[0]) and (parts[1].isdigit() or parts[1] == b"*")


def iter_records(path: str | os.PathLike[str], *, lenient: bool = False,
                 stats: ImportStats | None = None) -> Iterator[HashRecord]:
    return records_of(iter_items(path, lenient=lenient, stats=stats))


def iter_items(path: str | os.PathLike[str], *, lenient: bool = False, stats: ImportStats | None = None,
               fast: bool = True) -> Iterator[HashRecord | RecordBatch]:
    """Records and whole-chunk :class:`RecordBatch`\\es, in file order (``fast=False``: records only)."""
    return chunked_items(path, lenient=lenient, stats=stats, fast=fast, fast_batch=fast_batch, per_line=_per_line)


def _per_line(lines: Iterable[bytes], first: int, errors: RecordErrors,
              stats: ImportStats) -> Iterator[HashRecord]:
    for lineno, raw in enumerate(lines, start=first):
        line = decode_line(raw).strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) not in (3, 4):
            errors.bad(lineno, "fields", f"expected hash:size:name[:flevel], found {len(parts)} field(s)")
            continue
        parsed = hex_digest(parts[0])
        if isinstance(parsed, str):
            errors.bad(lineno, "hash", parsed)
            continue
        size: int | None = None
        if parts[1] != "*":
            parsed_size = parse_size(parts[1])
            if isinstance(parsed_size, str):
                errors.bad(lineno, "size", parsed_size)
                continue
            size = parsed_size
        if not parts[2]:
            errors.bad(lineno, "name", "empty signature name")
            continue
        stats.records += 1
        yield HashRecord(parsed[0], parsed[1], parts[2], size)


def fast_batch(chunk: bytes) -> RecordBatch | None:
    """The chunk's signatures as arrays, or None when some line needs the per-line parser."""
    lines = Lines(chunk)
    found = lines.data_lines()
    if found is None:
        return None
    first, last = found
    if not len(first):
        return RecordBatch(0, [], [], [None])
    arr = lines.arr
    colons = np.flatnonzero(arr == ord(":"))
    at = np.searchsorted(colons, first)
    count = np.searchsorted(colons, last) - at
    if not ((count == 2) | (count == 3)).all():
        return None
    c0, c1 = colons[at], colons[at + 1]
    c2 = np.where(count == 3, colons[np.minimum(at + 2, len(colons) - 1)], last)
    if not (c2 > c1 + 1).all():
        return None  # empty signature name
    grouped = lines.digests_by_length(first, c0 - first)
    if grouped is None:
        return None
    algorithms, digests, row_alg = grouped
    star = (c1 - c0 == 2) & (arr[c0 + 1] == ord("*"))
    sizes = np.full(len(first), -1, dtype=np.int64)
    if not star.all():
        parsed = lines.decimal(c0[~star] + 1, c1[~star])
        if parsed is None:
            return None
        sizes[~star] = parsed
    labels, label_ids = lines.texts(c1 + 1, c2)
    return RecordBatch(len(first), algorithms, digests, labels, label_ids,
                       sizes=sizes if not star.all() else None, row_alg=row_alg)
