"""Many records of one chunk as arrays: what the fast importer paths hand to the list builder.

Why: a Python object per entry is what made imports slow (10^7 rows took minutes); a batch carries a whole
chunk's digests as ``n × width`` byte arrays and becomes :class:`HashRecord`\\s only for callers that ask for
records one by one (``iter_records``), which then see exactly what the per-line parser yields.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from appliance.hashlist.importers.chunks import BOM, line_count, read_chunks
from appliance.hashlist.importers.common import ImportStats, RecordErrors
from appliance.hashlist.model import HashRecord


@dataclass
class RecordBatch:
    """``rows`` records (lines) in file order.

    ``algorithms[k]``'s digests are ``digests[k]`` (``m × width`` uint8). With ``row_alg`` None every row
    carries every algorithm (hashdeep: one record per algorithm, in ``algorithms`` order); otherwise row ``i``
    carries only ``algorithms[row_alg[i]]`` and ``digests[k]`` holds just those rows, in order.
    ``labels`` is this batch's label table in order of first appearance, ``label_ids`` each row's index in it
    (None: every row has ``labels[0]``). ``sizes``: int64 per row, -1 for "no size"; None: no row has one."""

    rows: int
    algorithms: list[str]
    digests: list[np.ndarray]
    labels: list[str | None]
    label_ids: np.ndarray | None = None
    sizes: np.ndarray | None = None
    row_alg: np.ndarray | None = None

    def records(self) -> Iterator[HashRecord]:
        """The records the per-line parser yields for these lines, in the same order."""
        labels = self.labels
        lids = self.label_ids.tolist() if self.label_ids is not None else [0] * self.rows
        sizes = self.sizes.tolist() if self.sizes is not None else [-1] * self.rows
        digests = [d.tobytes() for d in self.digests]
        widths = [d.shape[1] if d.ndim == 2 else 0 for d in self.digests]
        if self.row_alg is None:
            for i in range(self.rows):
                size = sizes[i] if sizes[i] >= 0 else None
                for k, alg in enumerate(self.algorithms):
                    w = widths[k]
                    yield HashRecord(alg, digests[k][i * w:(i + 1) * w], labels[lids[i]], size)
            return
        at = [0] * len(self.algorithms)
        for i, k in enumerate(self.row_alg.tolist()):
            w, j = widths[k], at[k]
            at[k] += 1
            yield HashRecord(self.algorithms[k], digests[k][j * w:(j + 1) * w], labels[lids[i]],
                             sizes[i] if sizes[i] >= 0 else None)


def records_of(items: Iterable[HashRecord | RecordBatch]) -> Iterator[HashRecord]:
    """Every record of a fast-path item stream, one by one (what ``iter_records`` gives its callers)."""
    for item in items:
        if isinstance(item, RecordBatch):
            yield from item.records()
        else:
            yield item


def chunked_items(path: str | os.PathLike[str], *, lenient: bool, stats: ImportStats | None, fast: bool,
                  fast_batch: Callable[[bytes], RecordBatch | None],
                  per_line: Callable[[Iterable[bytes], int, RecordErrors, ImportStats], Iterator[HashRecord]],
                  strip_bom: bool = False) -> Iterator[HashRecord | RecordBatch]:
    """A line format's items in file order: each newline-ended chunk as one :class:`RecordBatch` where
    ``fast_batch`` accepts the whole chunk, else through ``per_line`` from the chunk's first line number (so
    errors and ``--lenient`` counts are the per-line parser's own)."""
    stats = stats if stats is not None else ImportStats()
    errors = RecordErrors(path, lenient, stats)
    lineno = 1
    with open(path, "rb") as fh:
        for chunk in read_chunks(fh):
            if strip_bom and lineno == 1:
                chunk = chunk.removeprefix(BOM)
            batch = fast_batch(chunk) if fast else None
            if batch is None:
                yield from per_line(io.BytesIO(chunk), lineno, errors, stats)
            elif batch.rows:
                stats.records += batch.rows
                yield batch
            lineno += line_count(chunk)
