"""Turn a stream of HashRecords into the compact arrays a list is stored and indexed as.

Records are appended to per-algorithm byte buffers and small label-id arrays (no Python object per entry
survives the loop); sizes are de-duplicated every million entries so memory stays near the digest bytes.
``build()`` sorts and de-duplicates each algorithm once, with NumPy.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from appliance.hashing.digests import DIGEST_KINDS
from appliance.hashlist.index import ExactIndex
from appliance.hashlist.model import HashRecord

SIZE_COMPACT_EVERY = 1 << 20
PDQ_BYTES = 32


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
        self._raw: dict[str, bytearray] = {}
        self._ids: dict[str, array[int]] = {}
        self._label_ids: dict[str | None, int] = {}
        self.labels: list[str | None] = []
        self._sizes: list[np.ndarray] = []
        self._pending_sizes: array[int] = array("q")
        self.all_sized = True
        self._pdq = bytearray()
        self._pdq_ids: array[int] = array("I")
        self._pdq_radii: array[int] = array("h")

    def _label_id(self, label: str | None) -> int:
        lid = self._label_ids.get(label)
        if lid is None:
            lid = self._label_ids[label] = len(self.labels)
            self.labels.append(label)
        return lid

    def add_all(self, records: Iterable[HashRecord]) -> None:
        raw, ids, sizes = self._raw, self._ids, self._pending_sizes
        category = self.category
        last_label: object = object()
        lid = 0
        for rec in records:
            label = category if category is not None else rec.label
            if label != last_label:  # consecutive records mostly share a label
                lid = self._label_id(label)
                last_label = label
            if rec.algorithm == "pdq":
                self._pdq += rec.digest
                self._pdq_ids.append(lid)
                self._pdq_radii.append(-1 if rec.distance is None else rec.distance)
            elif rec.algorithm in DIGEST_KINDS:
                buf = raw.get(rec.algorithm)
                if buf is None:
                    buf = raw[rec.algorithm] = bytearray()
                    ids[rec.algorithm] = array("I")
                buf += rec.digest
                ids[rec.algorithm].append(lid)
            else:
                continue
            if rec.size is None:
                self.all_sized = False
            elif self.all_sized:
                sizes.append(rec.size)
                if len(sizes) >= self.compact_every:
                    self._compact_sizes()

    def _compact_sizes(self) -> None:
        if self._pending_sizes:
            merged = np.concatenate([*self._sizes, np.frombuffer(self._pending_sizes, dtype=np.int64)])
            self._sizes = [np.unique(merged)]
            del merged
            del self._pending_sizes[:]  # in place: add_all holds a reference to this array

    def build(self) -> ListArrays:
        n_labels = len(self.labels)
        exact: dict[str, ExactIndex] = {}
        for alg in list(self._raw):
            raw = self._raw.pop(alg)
            ids = np.frombuffer(self._ids.pop(alg), dtype=np.uint32)
            exact[alg] = ExactIndex.build(alg, raw, ids, n_labels)
            del raw, ids
        self._compact_sizes()
        has_entries = bool(exact) or bool(self._pdq)
        sizes = (self._sizes[0] if self._sizes else np.empty(0, np.int64)) if self.all_sized and has_entries else None
        sizes = compact_sizes(sizes)
        arrays = ListArrays(self.labels, exact, sizes)
        if self._pdq:
            hashes = np.frombuffer(bytes(self._pdq), dtype=np.uint8).reshape(-1, PDQ_BYTES)
            arrays.pdq_hashes = hashes
            arrays.pdq_payload = np.frombuffer(self._pdq_ids, dtype=np.uint32).copy()
            arrays.pdq_radii = np.frombuffer(self._pdq_radii, dtype=np.int16).copy()
        arrays.categories = category_counts(arrays)
        return arrays


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
            exact[alg] = ExactIndex.build(alg, raw.tobytes(), np.concatenate(payloads), len(labels))
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
