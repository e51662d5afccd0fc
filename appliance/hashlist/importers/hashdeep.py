"""hashdeep / md5deep known-file lists.

``%%%% HASHDEEP-1.0`` then a ``%%%% size,md5,sha256,filename`` header naming the columns, ``##`` comments.
File names may contain commas: the file name is the last column, so each line is split at most N-1 times.
Every entry carries its size (the size pre-filter applies).

Chunks whose lines are all plain entries are parsed vectorised (:mod:`.chunks`); a chunk holding a header,
a lone CR or any line the fast check does not accept goes line by line.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from appliance.hashing.digests import DIGEST_KINDS
from appliance.hashlist.importers.batch import RecordBatch, records_of
from appliance.hashlist.importers.chunks import BOM, IS_ALNUM, Lines, read_chunks
from appliance.hashlist.importers.common import ImportStats, RecordErrors, hex_digest
from appliance.hashlist.model import HashListFormatError, HashRecord

FORMAT = "hashdeep"
_MAGIC = "%%%% HASHDEEP-1.0"


def sniff(head: bytes) -> bool:
    return head.removeprefix(BOM).startswith(b"%%%% HASHDEEP-")


@dataclass
class _State:
    """What the header lines set, carried from chunk to chunk."""

    name: str
    lineno: int = 1
    columns: list[str] | None = None
    size_col: int = -1
    alg_cols: list[tuple[str, int]] = field(default_factory=list)


def iter_records(path: str | os.PathLike[str], *, lenient: bool = False,
                 stats: ImportStats | None = None) -> Iterator[HashRecord]:
    return records_of(iter_items(path, lenient=lenient, stats=stats))


def iter_items(path: str | os.PathLike[str], *, lenient: bool = False, stats: ImportStats | None = None,
               fast: bool = True) -> Iterator[HashRecord | RecordBatch]:
    """Records and whole-chunk :class:`RecordBatch`\\es, in file order (``fast=False``: records only)."""
    stats = stats if stats is not None else ImportStats()
    errors = RecordErrors(path, lenient, stats)
    state = _State(os.fspath(path))
    with open(path, "rb") as fh:
        for chunk in read_chunks(fh):
            if state.lineno == 1:
                chunk = chunk.removeprefix(BOM)
            batch = fast_batch(chunk, state) if fast else None
            if batch is None:
                # universal newlines, as the per-line reader always read this format (CRLF, lone CR)
                text = io.TextIOWrapper(io.BytesIO(chunk), encoding="utf-8", errors="replace")
                yield from _per_line(text, state, errors, stats)
            else:
                state.lineno += batch.lines
                if batch.batch.rows:
                    stats.records += batch.batch.rows
                    yield batch.batch


def _per_line(lines: io.TextIOWrapper, state: _State, errors: RecordErrors,
              stats: ImportStats) -> Iterator[HashRecord]:
    name = state.name
    for line in lines:
        lineno = state.lineno
        state.lineno += 1
        line = line.rstrip("\n")
        if lineno == 1:
            if not line.startswith("%%%% HASHDEEP-"):
                raise HashListFormatError(name, 1, "header", f"expected {_MAGIC!r}, found {line[:40]!r}")
            continue
        if line.startswith("%%%%"):
            columns = [c.strip().lower() for c in line[4:].split(",")]
            if "filename" not in columns or columns[-1] != "filename":
                raise HashListFormatError(name, lineno, "header", "the last column must be 'filename'")
            state.columns = columns
            state.size_col = columns.index("size") if "size" in columns else -1
            state.alg_cols = [(alg, columns.index(alg)) for alg in DIGEST_KINDS if alg in columns]
            continue
        if not line.strip() or line.startswith("#"):
            continue
        columns = state.columns
        if columns is None:
            raise HashListFormatError(name, lineno, "header", "no '%%%% size,...' column header before entries")
        fields = line.split(",", len(columns) - 1)
        if len(fields) != len(columns):
            errors.bad(lineno, "columns", f"{len(fields)} field(s), header names {len(columns)}")
            continue
        size: int | None = None
        if state.size_col >= 0:
            text = fields[state.size_col]
            if text.isdigit() and text.isascii():
                size = int(text)
            else:
                errors.bad(lineno, "size", f"not a size in bytes: {text!r}")
                continue
        out: list[HashRecord] = []
        problem: tuple[str, str] | None = None
        for alg, col in state.alg_cols:
            parsed = hex_digest(fields[col], alg)
            if isinstance(parsed, str):
                problem = (alg, parsed)
                break
            out.append(HashRecord(alg, parsed[1], None, size))  # file names are provenance, not categories
        if problem:
            errors.bad(lineno, *problem)
            continue
        stats.records += 1
        yield from out


@dataclass
class _Fast:
    batch: RecordBatch
    lines: int


def fast_batch(chunk: bytes, state: _State) -> _Fast | None:
    """The chunk's entries as arrays, or None when some line needs the per-line parser."""
    columns = state.columns
    if columns is None or state.lineno == 1 or len(columns) < 2:
        return None
    lines = Lines(chunk)
    if not lines.ok:
        return None
    arr, starts, ends = lines.arr, lines.starts, lines.ends
    n_lines = len(lines.nl)  # Lines ends the last line: as many as the per-line reader counts
    head = arr[starts]
    data = (ends > starts) & (head != ord("#"))
    if not IS_ALNUM[head[data]].all():
        return None  # headers, indented or whitespace-only lines: per line
    starts, ends = starts[data], ends[data]
    k = len(columns)
    commas = np.flatnonzero(arr == ord(","))
    first = np.searchsorted(commas, starts)
    if len(starts) and (first[-1] + k - 2 >= len(commas) or not (commas[first + k - 2] < ends).all()):
        return None  # fewer than k fields somewhere
    cut = [commas[first + j] for j in range(k - 1)]
    bounds = [(starts if j == 0 else cut[j - 1] + 1, cut[j] if j < k - 1 else ends) for j in range(k)]
    sizes = None
    if state.size_col >= 0:
        sizes = lines.decimal(*bounds[state.size_col])
        if sizes is None:
            return None
    digests = []
    for alg, col in state.alg_cols:
        a, b = bounds[col]
        width = DIGEST_KINDS[alg].size
        if not ((b - a) == 2 * width).all():
            return None
        digest = lines.hex_bytes(a, width)
        if digest is None:
            return None
        digests.append(digest)
    batch = RecordBatch(len(starts), [alg for alg, _ in state.alg_cols], digests, [None], sizes=sizes)
    return _Fast(batch, n_lines)
