"""Turn a stream of HashRecords (or whole :class:`RecordBatch` arrays from the fast importers) into the compact
arrays a list is stored and indexed as.

Digests are appended, per algorithm, to one of ``2**PARTITION_BITS`` spill buffers chosen by their top bits, held in
anonymous memory maps that go back to the OS as soon as a partition is dropped; label ids are kept only once a
second label appears. ``build()`` then sorts partition by partition into final arrays allocated once, so an
import's peak memory stays near the raw digest bytes (no whole-list argsort and sorted copies). Sizes are
de-duplicated every million entries and kept as uint32 where they fit.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import operator
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import compress, repeat

import numpy as np

from appliance.hashing.digests import DIGEST_KINDS
from appliance.hashlist.importers.batch import RecordBatch
from appliance.hashlist.index import ExactIndex
from appliance.hashlist.model import HashRecord

SIZE_COMPACT_EVERY = 1 << 20
PDQ_BYTES = 32
PARTITION_BITS = 6  # 64 partitions by the digest's top 6 bits
SPILL_BLOCK = 4 << 20  # bytes per anonymous map (virtual; pages count only once written)
STAGE_ROWS = 1 << 16  # records of the per-record path gathered before they are partitioned as arrays


_libc: ctypes.CDLL | bool | None = False


def release_free_heap() -> None:
    """Hand freed heap memory back to the OS (glibc ``malloc_trim``; a no-op elsewhere). Why: the parser's and
    the size set's temporaries are freed but glibc keeps the pages, and they would count on top of the digest
    bytes at the import's peak."""
    global _libc
    if _libc is False:
        name = ctypes.util.find_library("c")
        try:
            _libc = ctypes.CDLL(name) if name else None
            if _libc is not None and not hasattr(_libc, "malloc_trim"):
                _libc = None
        except OSError:
            _libc = None
    if _libc is not None:
        _libc.malloc_trim(0)  # type: ignore[union-attr]


class _Spill:
    """Append-only bytes in anonymous memory maps: unlike heap buffers, each map is unmapped when dropped,
    so memory freed partition by partition really leaves the process (a growing bytearray would realloc and
    a freed heap chunk may stay resident)."""

    def __init__(self) -> None:
        self._blocks: list[mmap.mmap] = []
        self._used = 0  # bytes used in the last block
        self.nbytes = 0

    def append(self, data: np.ndarray) -> None:
        view = memoryview(np.ascontiguousarray(data)).cast("B")
        while view:
            if not self._blocks or self._used == SPILL_BLOCK:
                self._blocks.append(mmap.mmap(-1, SPILL_BLOCK))
                self._used = 0
            take = min(SPILL_BLOCK - self._used, len(view))
            self._blocks[-1][self._used:self._used + take] = view[:take]
            self._used += take
            self.nbytes += take
            view = view[take:]

    def take(self) -> np.ndarray:
        """All bytes as one uint8 array; the maps are released as they are copied."""
        out = np.empty(self.nbytes, dtype=np.uint8)
        at = 0
        blocks, self._blocks = self._blocks, []
        while blocks:
            block = blocks.pop(0)
            k = SPILL_BLOCK if blocks else self._used
            out[at:at + k] = np.frombuffer(block, dtype=np.uint8, count=k)
            at += k
            block.close()
        self._used = self.nbytes = 0
        return out


class _Partitions:
    """One algorithm's digests (and label ids, once a list has several labels) split by their top bits."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.count = 0
        self.digests = [_Spill() for _ in range(1 << PARTITION_BITS)]
        self.ids: list[_Spill] | None = None  # uint32 label ids; None while every id is 0

    def add(self, rows: np.ndarray, ids: np.ndarray | None) -> None:
        n = len(rows)
        if not n:
            return
        if ids is not None and self.ids is None and ids.any():
            self.ids = [_Spill() for _ in self.digests]
            for spill, part in zip(self.ids, self.digests, strict=True):  # every earlier entry had label 0
                if part.nbytes:
                    spill.append(np.zeros(part.nbytes // self.width, dtype=np.uint32))
        part = rows[:, 0] >> (8 - PARTITION_BITS)
        order = np.argsort(part, kind="stable")  # stable: duplicates keep their order (first one wins)
        bounds = np.searchsorted(part[order], np.arange((1 << PARTITION_BITS) + 1))
        rows = np.take(rows, order, axis=0)  # a row copy, not per byte
        if self.ids is not None:
            ids = (np.zeros(n, dtype=np.uint32) if ids is None else ids.astype(np.uint32, copy=False))[order]
        for p in np.flatnonzero(np.diff(bounds)):
            a, b = bounds[p], bounds[p + 1]
            self.digests[p].append(rows[a:b])
            if self.ids is not None:
                self.ids[p].append(ids[a:b])
        self.count += n

    def drain(self) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Partitions in key order; each is released before the next is read."""
        for p in range(len(self.digests)):
            rows = self.digests[p].take().reshape(-1, self.width)
            ids = self.ids[p].take().view(np.uint32) if self.ids is not None else None
            yield rows, ids
            del rows, ids
            release_free_heap()  # the sort's temporaries: give them back before the next partition's


@dataclass
class ListArrays:
    """A list as arrays: what the store encrypts and what the index adopts without copying."""

    labels: list[str | None]
    exact: dict[str, ExactIndex]
    sizes: np.ndarray | None  # sorted unique int64, or None when some entry has no size
    pdq_hashes: np.ndarray | None = None  # (n, 32) uint8
    pdq_payload: np.ndarray | None = None  # uint32 label ids
    pdq_radii: np.ndarray | None = None  # int16, -1 = the list default
    categories: dict[str, int] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        out = {alg: len(ix) for alg, ix in self.exact.items()}
        if self.pdq_hashes is not None and len(self.pdq_hashes):
            out["pdq"] = len(self.pdq_hashes)
        return out


class ListBuilder:
    compact_every = SIZE_COMPACT_EVERY

    def __init__(self, *, category: str | None = None) -> None:
        self.category = category  # overrides every record's label (``--category``)
        self._parts: dict[str, _Partitions] = {}
        self._stage: dict[str, tuple[bytearray, array[int]]] = {}  # per-record path, before partitioning
        self._label_ids: dict[str | None, int] = {}
        self.labels: list[str | None] = []
        self._sizes = np.empty(0, dtype=np.uint32)  # sorted unique so far (uint32 while every size fits)
        self._pending_sizes: list[np.ndarray] = []
        self._pending_count = 0
        self.all_sized = True
        self._pdq = bytearray()
        self._pdq_ids: array[int] = array("I")
        self._pdq_radii: array[int] = array("h")

    def label_id(self, label: str | None) -> int:
        """The list-wide id of ``label`` (ids follow first appearance)."""
        lid = self._label_ids.get(label)
        if lid is None:
            lid = self._label_ids[label] = len(self.labels)
            self.labels.append(label)
        return lid

    def label_ids(self, labels: list[str | None]) -> np.ndarray:
        """:meth:`label_id` of each of ``labels`` (distinct), as uint32. Why: a sha256sum list may carry a
        million distinct file names; the dict work runs in C (``map``/``update``), not a Python loop."""
        known = self._label_ids
        found = list(map(known.get, labels))
        if None in found:
            new = list(compress(labels, map(operator.is_, found, repeat(None))))
            start = len(self.labels)
            known.update(zip(new, range(start, start + len(new)), strict=True))
            self.labels.extend(new)
            found = list(map(known.__getitem__, labels))
        return np.array(found, dtype=np.uint32)

    def add_all(self, records: Iterable[HashRecord | RecordBatch]) -> None:
        """Add records one by one; a :class:`RecordBatch` in the stream goes through :meth:`add_batch`."""
        stage = self._stage
        pending = array("q")
        category = self.category
        last_label: object = object()
        lid = 0
        for rec in records:
            if rec.__class__ is RecordBatch:
                self._flush_stage(pending)
                self.add_batch(rec)  # type: ignore[arg-type]
                last_label = object()
                continue
            label = category if category is not None else rec.label
            if label != last_label:  # consecutive records mostly share a label
                lid = self.label_id(label)
                last_label = label
            if rec.algorithm == "pdq":
                self._pdq += rec.digest
                self._pdq_ids.append(lid)
                self._pdq_radii.append(-1 if rec.distance is None else rec.distance)
            elif rec.algorithm in DIGEST_KINDS:
                buf = stage.get(rec.algorithm)
                if buf is None:
                    buf = stage[rec.algorithm] = (bytearray(), array("I"))
                buf[0].extend(rec.digest)
                buf[1].append(lid)
                if len(buf[1]) >= STAGE_ROWS:
                    self._flush_stage(pending)
            else:
                continue
            if rec.size is None:
                self.all_sized = False
            elif self.all_sized:
                pending.append(rec.size)
                if len(pending) >= self.compact_every:
                    self._flush_stage(pending)
        self._flush_stage(pending)

    def _flush_stage(self, pending: array[int]) -> None:
        for alg, (raw, ids) in self._stage.items():
            if ids:
                width = DIGEST_KINDS[alg].size
                self._partitions(alg).add(np.frombuffer(raw, dtype=np.uint8).reshape(-1, width),
                                          np.frombuffer(ids, dtype=np.uint32))
            del raw[:], ids[:]
        if pending:
            self._add_sizes(np.array(pending, dtype=np.int64))
            del pending[:]

    def _partitions(self, alg: str) -> _Partitions:
        parts = self._parts.get(alg)
        if parts is None:
            parts = self._parts[alg] = _Partitions(DIGEST_KINDS[alg].size)
        return parts

    def add_arrays(self, algorithm: str, digests: np.ndarray | bytes, label_ids: np.ndarray | None = None,
                   sizes: np.ndarray | None = None) -> None:
        """Add many digests of one algorithm at once (the fast importers' path: no object per entry).
        ``digests``: n × width bytes; ``label_ids``: list-wide ids from :meth:`label_id` (None: label 0, which
        must then exist); ``sizes``: per entry, -1 or None for "no size"."""
        width = DIGEST_KINDS[algorithm].size
        rows = np.frombuffer(digests, dtype=np.uint8) if not isinstance(digests, np.ndarray) else digests
        rows = rows.reshape(-1, width)
        self._partitions(algorithm).add(rows, label_ids)
        if sizes is None:
            if len(rows):
                self.all_sized = False
        else:
            self._add_sizes(np.asarray(sizes, dtype=np.int64))

    def add_batch(self, batch: RecordBatch) -> None:
        """Add a :class:`RecordBatch` (one chunk of a fast importer) in label order of appearance."""
        if self.category is not None:
            table, row_ids = self.label_ids([self.category]), None
        else:
            table, row_ids = self.label_ids(batch.labels), batch.label_ids
        if row_ids is not None:
            ids = table[row_ids]
        else:  # every row has the table's one label: no ids at all while that is label 0
            ids = None if table[0] == 0 else np.full(batch.rows, table[0], dtype=np.uint32)
        for k, alg in enumerate(batch.algorithms):
            sel = None if batch.row_alg is None else batch.row_alg == k
            alg_ids = ids if sel is None or ids is None else ids[sel]
            self._partitions(alg).add(batch.digests[k], alg_ids)
        if batch.algorithms:  # sizes once per row, not once per algorithm
            if batch.sizes is None:
                self.all_sized = False
            else:
                self._add_sizes(batch.sizes)

    def _add_sizes(self, sizes: np.ndarray) -> None:
        if not self.all_sized:
            return
        if len(sizes) and int(sizes.min()) < 0:
            self.all_sized = False
            self._pending_sizes, self._pending_count = [], 0
            self._sizes = np.empty(0, dtype=np.uint32)
            return
        self._pending_sizes.append(sizes.astype(np.uint32) if len(sizes) and int(sizes.max()) < 1 << 32
                                   else sizes)  # half the memory while pending
        self._pending_count += len(sizes)
        if self._pending_count >= self.compact_every:
            self._compact_sizes()

    def _compact_sizes(self) -> None:
        """Merge the pending sizes into the sorted unique set. Why not ``np.union1d``/``np.insert``: they hold
        several set-sized temporaries (masks, index arrays); here the only one is the merged copy (the new
        sizes are first reduced to those not in the set, then appended and sorted in place)."""
        if not self._pending_sizes:
            return
        new = _sorted_unique(np.concatenate(self._pending_sizes))
        self._pending_sizes, self._pending_count = [], 0
        base = self._sizes
        if len(base) and len(new):
            at = np.searchsorted(base, new)
            np.minimum(at, len(base) - 1, out=at)
            new = new[base[at] != new]
            del at
        fits = base.dtype == np.uint32 and (not len(new) or int(new[-1]) < 1 << 32)
        dtype = np.uint32 if fits else np.int64
        merged = np.concatenate([base.astype(dtype, copy=False), new.astype(dtype)])
        self._sizes = base = None  # type: ignore[assignment]
        merged.sort(kind="stable")  # timsort: two sorted runs, one linear merge
        self._sizes = merged
        del new
        release_free_heap()

    def build(self) -> ListArrays:
        self._flush_stage(array("q"))
        self._compact_sizes()
        release_free_heap()
        n_labels = len(self.labels)
        exact: dict[str, ExactIndex] = {}
        for alg in list(self._parts):
            parts = self._parts.pop(alg)
            if parts.count:
                exact[alg] = ExactIndex.from_parts(alg, parts.drain(), parts.count, n_labels)
            del parts
            release_free_heap()  # the radix table's temporaries
        has_entries = bool(exact) or bool(self._pdq)
        sizes: np.ndarray | None = None
        if self.all_sized and has_entries:  # uint32 as it is (no copy at the peak), else int64 narrowed if it fits
            sizes = self._sizes if len(self._sizes) else np.empty(0, np.int64)
            sizes = sizes if sizes.dtype == np.uint32 else compact_sizes(sizes)
        arrays = ListArrays(self.labels, exact, sizes)
        if self._pdq:
            hashes = np.frombuffer(bytes(self._pdq), dtype=np.uint8).reshape(-1, PDQ_BYTES)
            arrays.pdq_hashes = hashes
            arrays.pdq_payload = np.frombuffer(self._pdq_ids, dtype=np.uint32).copy()
            arrays.pdq_radii = np.frombuffer(self._pdq_radii, dtype=np.int16).copy()
        arrays.categories = category_counts(arrays)
        return arrays


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` by sorting in place (NumPy 2's hash-based unique is several times slower on ints)."""
    values.sort()
    keep = np.empty(len(values), dtype=bool)
    keep[:1] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def compact_sizes(sizes: np.ndarray | None) -> np.ndarray | None:
    """Sorted unique sizes as uint32 when they all fit (half the memory), else int64."""
    if sizes is not None and len(sizes) and int(sizes[-1]) < 1 << 32 and int(sizes[0]) >= 0:
        return sizes.astype(np.uint32)
    return sizes


def category_counts(arrays: ListArrays) -> dict[str, int]:
    """Entries per label. An entry carrying several digests (a VICS Media with MD5 and SHA-1) counts once:
    per label, the count of the algorithm with the most entries."""
    best = np.zeros(len(arrays.labels), dtype=np.int64)
    for ix in arrays.exact.values():
        payload = ix.arrays()[2]
        per = (np.bincount(payload, minlength=len(arrays.labels)) if payload is not None
               else np.array([len(ix)] + [0] * (len(arrays.labels) - 1), dtype=np.int64))
        best = np.maximum(best, per[: len(best)])
    if arrays.pdq_payload is not None:
        best = np.maximum(best, np.bincount(arrays.pdq_payload, minlength=len(arrays.labels))[: len(best)])
    return {(label if label is not None else "(none)"): int(c) for label, c in zip(arrays.labels, best, strict=True)
            if c}


def full_digests(ix: ExactIndex) -> np.ndarray:
    """The index's digests as one ``S<width>`` array (a temporary copy, for deltas)."""
    prefix, rest, _ = ix.arrays()
    raw = np.empty((len(prefix), ix.width), dtype=np.uint8)
    raw[:, :8] = prefix.astype(">u8").view(np.uint8).reshape(-1, 8)
    raw[:, 8:] = rest.view(np.uint8).reshape(-1, ix.width - 8)
    return raw.view(f"S{ix.width}").ravel()


def merge(base: ListArrays, added: ListArrays, removed: dict[str, list[bytes]]) -> ListArrays:
    """``base`` − ``removed`` + ``added``, vectorised (no per-entry Python loop). An added entry that is already
    in ``base`` takes the added label. The size set is the union (sizes of removed entries may stay: the size
    pre-filter is then only slightly less selective, never wrong)."""
    labels = list(base.labels)
    index_of = {label: i for i, label in enumerate(labels)}
    for label in added.labels:
        if label not in index_of:
            index_of[label] = len(labels)
            labels.append(label)
    remap = np.array([index_of[label] for label in added.labels] or [0], dtype=np.uint32)

    def ids(payload: np.ndarray | None, n: int, table: np.ndarray | None = None) -> np.ndarray:
        out = np.zeros(n, dtype=np.uint32) if payload is None else payload.astype(np.uint32)
        return table[out] if table is not None else out

    exact: dict[str, ExactIndex] = {}
    for alg in [a for a in DIGEST_KINDS if a in base.exact or a in added.exact]:
        parts, payloads = [], []
        if alg in added.exact:
            ix = added.exact[alg]
            parts.append(full_digests(ix))
            payloads.append(ids(ix.arrays()[2], len(ix), remap))
        if alg in base.exact:
            ix = base.exact[alg]
            keys = full_digests(ix)
            keep = ~np.isin(keys, np.array(removed.get(alg, []), dtype=f"S{ix.width}"))
            parts.append(keys[keep])
            payloads.append(ids(ix.arrays()[2], len(ix))[keep])
        raw = np.concatenate(parts)
        if len(raw):
            exact[alg] = ExactIndex.build(alg, raw, np.concatenate(payloads), len(labels))
    sizes = None
    if base.sizes is not None and added.sizes is not None:
        sizes = compact_sizes(np.union1d(base.sizes.astype(np.int64), added.sizes.astype(np.int64)))
    elif base.sizes is not None and not added.exact and added.pdq_hashes is None:
        sizes = np.array(base.sizes)
    out = ListArrays(labels, exact, sizes)
    pdq_parts = []
    if added.pdq_hashes is not None:
        pdq_parts.append((added.pdq_hashes, ids(added.pdq_payload, len(added.pdq_hashes), remap),
                          added.pdq_radii))
    if base.pdq_hashes is not None:
        gone = np.array(removed.get("pdq", []), dtype="S32")
        keep = ~np.isin(np.ascontiguousarray(base.pdq_hashes).view("S32").ravel(), gone)
        pdq_parts.append((base.pdq_hashes[keep], ids(base.pdq_payload, len(base.pdq_hashes))[keep],
                          base.pdq_radii[keep]))
    if pdq_parts:
        out.pdq_hashes = np.concatenate([p[0] for p in pdq_parts])
        out.pdq_payload = np.concatenate([p[1] for p in pdq_parts]).astype(np.uint32)
        out.pdq_radii = np.concatenate([p[2] for p in pdq_parts]).astype(np.int16)
    out.categories = category_counts(out)
    return out
