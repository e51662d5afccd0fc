"""ClamAV hash signatures: ``.hdb`` (MD5) and ``.hsb`` (SHA-1/SHA-256), one ``hash:size:name[:flevel]`` per line.

A size of ``*`` means "any size": such an entry carries no size, so the list as a whole cannot use the size
pre-filter. The signature name becomes the label.

Chunks of plain-ASCII lines are parsed vectorised (:mod:`.chunks`); any other chunk goes line by line.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator

import numpy as np

from appliance.hashlist.importers.batch import RecordBatch
from appliance.hashlist.importers.chunks import (
    BY_HEX_LEN,
    PRINTABLE,
    Lines,
    line_count,
    read_chunks,
)
from appliance.hashlist.importers.common import ImportStats, RecordErrors, decode_line, hex_digest, parse_size
from appliance.hashlist.model import HashRecord

FORMAT = "clamav"


def sniff(head: bytes) -> bool:
    for raw in head.splitlines():
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        parts = line.split(b":")
        return (len(parts) in (3, 4) and len(parts[0]) in (32, 40, 64)
                and all(c in b"0123456789abcdefABCDEF" for c in parts[0])
                and (parts[1].isdigit() or parts[1] == b"*"))
    return False


def iter_records(path: str | os.PathLike[str], *, lenient: bool = False,
                 stats: ImportStats | None = None) -> Iterator[HashRecord]:
    for item in iter_items(path, lenient=lenient, stats=stats):
        if isinstance(item, RecordBatch):
            yield from item.records()
        else:
            yield item


def iter_items(path: str | os.PathLike[str], *, lenient: bool = False, stats: ImportStats | None = None,
               fast: bool = True) -> Iterator[HashRecord | RecordBatch]:
    """Records and whole-chunk :class:`RecordBatch`\\es, in file order (``fast=False``: records only)."""
    stats = stats if stats is not None else ImportStats()
    errors = RecordErrors(path, lenient, stats)
    lineno = 1
    with open(path, "rb") as fh:
        for chunk in read_chunks(fh):
            batch = fast_batch(chunk) if fast else None
            if batch is None:
                yield from _per_line(io.BytesIO(chunk), lineno, errors, stats)
            elif batch.rows:
                stats.records += batch.rows
                yield batch
            lineno += line_count(chunk)


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
    arr = lines.arr
    if not lines.ok or not PRINTABLE[arr].all():
        return None
    first = lines.skip_blanks(lines.starts, lines.nl)  # the stripped line's first byte (its LF when blank)
    data = (first < lines.nl) & (arr[first] != ord("#"))
    first, last = first[data], lines.ends[data]
    if not len(first):
        return RecordBatch(0, [], [], [None])
    last = lines.skip_blanks(last, first, step=-1)  # one past the stripped line's last byte
    colons = np.flatnonzero(arr == ord(":"))
    at = np.searchsorted(colons, first)
    count = np.searchsorted(colons, last) - at
    if not ((count == 2) | (count == 3)).all():
        return None
    c0, c1 = colons[at], colons[at + 1]
    c2 = np.where(count == 3, colons[np.minimum(at + 2, len(colons) - 1)], last)
    if not (c2 > c1 + 1).all():
        return None  # empty signature name
    lengths = c0 - first
    algs = sorted({int(n) for n in np.unique(lengths)})
    if any(n not in BY_HEX_LEN for n in algs):
        return None
    row_alg = np.searchsorted(np.array(algs), lengths).astype(np.uint8)
    digests = []
    for k, n in enumerate(algs):
        digest = lines.hex_bytes(first[row_alg == k], n // 2)
        if digest is None:
            return None
        digests.append(digest)
    star = (c1 - c0 == 2) & (arr[c0 + 1] == ord("*"))
    sizes = np.full(len(first), -1, dtype=np.int64)
    if not star.all():
        parsed = lines.decimal(c0[~star] + 1, c1[~star])
        if parsed is None:
            return None
        sizes[~star] = parsed
    labels, label_ids = lines.texts(c1 + 1, c2)
    return RecordBatch(len(first), [BY_HEX_LEN[n] for n in algs], digests, labels, label_ids,
                       sizes=sizes if not star.all() else None, row_alg=row_alg if len(algs) > 1 else None)
