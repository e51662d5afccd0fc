"""Plain digest lists: one hex digest per line, optionally followed by whitespace and a label.

Also reads ``md5sum``/``sha1sum``/``sha256sum`` output (``HASH  name`` / ``HASH *name``: the name becomes the
label). MD5/SHA-1/SHA-256 are told apart by length; case-insensitive; ``#`` comments, blank lines, a UTF-8
BOM and CRLF line ends are accepted.

Chunks of plain-ASCII lines are parsed vectorised (:mod:`.chunks`); any other chunk goes line by line.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator

import numpy as np

from appliance.hashlist.importers.batch import RecordBatch
from appliance.hashlist.importers.chunks import BLANK_OR_NL, BOM, BY_HEX_LEN, PRINTABLE, Lines, line_count, read_chunks
from appliance.hashlist.importers.common import ImportStats, RecordErrors, decode_line, hex_digest
from appliance.hashlist.model import HashRecord

FORMAT = "text"
__all__ = ["FORMAT", "ImportStats", "iter_items", "iter_records", "sniff"]


def sniff(head: bytes) -> bool:
    for raw in head.removeprefix(BOM).splitlines():
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        first = line.split(None, 1)[0]
        return len(first) in (32, 40, 64) and all(c in b"0123456789abcdefABCDEF" for c in first)
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
            if lineno == 1:
                chunk = chunk.removeprefix(BOM)
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
    arr = lines.arr
    if not lines.ok or not PRINTABLE[arr].all():
        return None
    first = lines.skip_blanks(lines.starts, lines.nl)  # the stripped line's first byte (its LF when blank)
    data = (first < lines.nl) & (arr[first] != ord("#"))
    first, last = first[data], lines.ends[data]
    if not len(first):
        return RecordBatch(0, [], [], [None])
    last = lines.skip_blanks(last, first, step=-1)  # one past the stripped line's last byte
    token_end = lines.next_at(lines.positions(BLANK_OR_NL), first)  # the first word: the digest
    lengths = token_end - first
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
    label_at = lines.skip_blanks(token_end, last)
    label_at = label_at + ((label_at < last) & (arr[label_at] == ord("*")))  # sha256sum's binary-mode marker
    label_end = np.maximum(last, label_at)
    if (label_at >= label_end).all():
        labels: list[str | None] = [None]
        label_ids = None
    else:
        labels, label_ids = lines.texts(label_at, label_end)
    return RecordBatch(len(first), [BY_HEX_LEN[n] for n in algs], digests, labels, label_ids,
                       row_alg=row_alg if len(algs) > 1 else None)
