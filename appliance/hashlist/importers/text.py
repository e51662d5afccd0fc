"""Plain digest lists: one hex digest per line, optionally followed by whitespace and a label.

Also reads ``md5sum``/``sha1sum``/``sha256sum`` output (``HASH  name`` / ``HASH *name``: the name becomes the
label). MD5/SHA-1/SHA-256 are told apart by length; case-insensitive; ``#`` comments, blank lines, a UTF-8
BOM and CRLF line ends are accepted.

Chunks of plain-ASCII lines are parsed vectorised (:mod:`.chunks`); any other chunk goes line by line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import numpy as np

from appliance.hashlist.importers.batch import RecordBatch, chunked_items, records_of
from appliance.hashlist.importers.chunks import BLANK_OR_NL, BOM, Lines
from appliance.hashlist.importers.common import (
    ImportStats,
    RecordErrors,
    decode_line,
    first_data_line,
    hex_digest,
    looks_like_digest,
)
from appliance.hashlist.model import HashRecord

FORMAT = "text"
__all__ = ["FORMAT", "ImportStats", "iter_items", "iter_records", "sniff"]


def sniff(head: bytes) -> bool:
    line = first_data_line(head.removeprefix(BOM))
    return line is not None and looks_like_digest(line.split(None, 1)[0])


def iter_records(path: str | os.PathLike[str], *, lenient: bool = False,
                 stats: ImportStats | None = None) -> Iterator[HashRecord]:
    return records_of(iter_items(path, lenient=lenient, stats=stats))


def iter_items(path: str | os.PathLike[str], *, lenient: bool = False, stats: ImportStats | None = None,
               fast: bool = True) -> Iterator[HashRecord | RecordBatch]:
    """Records and whole-chunk :class:`RecordBatch`\\es, in file order (``fast=False``: records only)."""
    return chunked_items(path, lenient=lenient, stats=stats, fast=fast, fast_batch=fast_batch, per_line=_per_line,
                         strip_bom=True)


def _per_line(lines: Iterable[bytes], first: int, errors: RecordErrors,
              stats: ImportStats) -> Iterator[HashRecord]:
    for lineno, raw in enumerate(lines, start=first):
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        parts = decode_line(line).split(None, 1)
        parsed = hex_digest(parts[0])
        if isinstance(parsed, str):
            errors.bad(lineno, "digest", parsed)
            continue
        label = parts[1].strip() if len(parts) > 1 else None
        if label and label.startswith("*"):  # sha256sum binary-mode marker
            label = label[1:]
        stats.records += 1
        yield HashRecord(parsed[0], parsed[1], label or None)


def fast_batch(chunk: bytes) -> RecordBatch | None:
    """The chunk's records as arrays, or None when some line needs the per-line parser."""
    lines = Lines(chunk)
    found = lines.data_lines()
    if found is None:
        return None
    first, last = found
    if not len(first):
        return RecordBatch(0, [], [], [None])
    arr = lines.arr
    token_end = lines.next_at(lines.positions(BLANK_OR_NL), first)  # the first word: the digest
    grouped = lines.digests_by_length(first, token_end - first)
    if grouped is None:
        return None
    algorithms, digests, row_alg = grouped
    label_at = lines.skip_blanks(token_end, last)
    label_at = label_at + ((label_at < last) & (arr[label_at] == ord("*")))  # sha256sum's binary-mode marker
    label_end = np.maximum(last, label_at)
    if (label_at >= label_end).all():
        labels: list[str | None] = [None]
        label_ids = None
    else:
        labels, label_ids = lines.texts(label_at, label_end)
    return RecordBatch(len(first), algorithms, digests, labels, label_ids, row_alg=row_alg)
