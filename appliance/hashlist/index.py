"""Compact exact-digest index: one sorted fixed-width array per algorithm, vectorised batch lookup.

Memory is the raw digest bytes plus a 4-byte payload (label id) per entry: no Python objects per entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from appliance.hashing.digests import DIGEST_KINDS
from appliance.hashlist.model import HashRecord, ListInfo

NO_LABEL = np.uint32(0xFFFFFFFF)


class ExactIndex:
    """Sorted digests of one algorithm. ``lookup`` answers many queries in one vectorised call."""

    def __init__(self, algorithm: str, digests: np.ndarray, payload: np.ndarray) -> None:
        self.algorithm = algorithm
        self.width = DIGEST_KINDS[algorithm].size if algorithm in DIGEST_KINDS else digests.dtype.itemsize
        self._keys = digests  # dtype S<width>, sorted, unique
        self._payload = payload  # uint32, aligned with _keys

    @classmethod
    def build(cls, algorithm: str, raw: bytes | bytearray | memoryview, payload: np.ndarray) -> ExactIndex:
        """``raw`` is the concatenated digests (n × width bytes); ``payload`` one uint32 per digest.
        Duplicates keep the first occurrence's payload."""
        width = DIGEST_KINDS[algorithm].size
        keys = np.frombuffer(raw, dtype=f"S{width}")
        if len(keys) != len(payload):
            raise ValueError("payload length does not match digest count")
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        payload = np.asarray(payload, dtype=np.uint32)[order]
        if len(keys) > 1:
            keep = np.empty(len(keys), dtype=bool)
            keep[0] = True
            np.not_equal(keys[1:], keys[:-1], out=keep[1:])
            keys, payload = keys[keep], payload[keep]
        return cls(algorithm, np.ascontiguousarray(keys), np.ascontiguousarray(payload))

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def nbytes(self) -> int:
        return self._keys.nbytes + self._payload.nbytes

    def lookup(self, queries: np.ndarray) -> np.ndarray:
        """``queries``: dtype S<width> array. Returns the payload per query, or -1 where absent (int64)."""
        out = np.full(len(queries), -1, dtype=np.int64)
        if not len(self._keys) or not len(queries):
            return out
        pos = np.searchsorted(self._keys, queries)
        pos_clipped = np.minimum(pos, len(self._keys) - 1)
        found = self._keys[pos_clipped] == queries
        out[found] = self._payload[pos_clipped[found]]
        return out

    def contains(self, digest: bytes) -> int:
        """Single lookup: payload or -1."""
        return int(self.lookup(np.array([digest], dtype=f"S{self.width}"))[0])


@dataclass
class LoadedList:
    """A hash list in memory: its identity, one index per algorithm, its label table, its size set."""

    info: ListInfo
    indexes: dict[str, ExactIndex]
    labels: list[str | None]
    sizes: np.ndarray | None = None  # sorted unique sizes when every entry carries one, else None
    counts_by_label: dict[str | None, int] = field(default_factory=dict)
    #: Perceptual index (PDQ) built from the list's "pdq" records; see appliance/hashlist/pdq_index.py.
    pdq: Any = None

    @property
    def entry_count(self) -> int:
        return sum(len(ix) for ix in self.indexes.values())

    @classmethod
    def from_records(cls, info: ListInfo, records: Iterable[HashRecord]) -> LoadedList:
        raw: dict[str, bytearray] = {}
        payload: dict[str, list[int]] = {}
        label_ids: dict[str | None, int] = {}
        labels: list[str | None] = []
        counts: dict[str | None, int] = {}
        sizes: list[int] = []
        all_sized = True
        pdq_raw, pdq_payload, pdq_radii = bytearray(), [], []  # perceptual entries (see pdq_index.py)
        for rec in records:
            if rec.algorithm not in DIGEST_KINDS and rec.algorithm != "pdq":
                continue  # other perceptual kinds are not indexed
            lid = label_ids.get(rec.label)
            if lid is None:
                lid = label_ids[rec.label] = len(labels)
                labels.append(rec.label)
            if rec.algorithm == "pdq":
                if len(rec.digest) != 32:
                    raise ValueError(f"list {info.name}: a PDQ entry must be 32 bytes, not {len(rec.digest)}")
                pdq_raw.extend(rec.digest)
                pdq_payload.append(lid)
                pdq_radii.append(-1 if rec.distance is None else rec.distance)
                counts[rec.label] = counts.get(rec.label, 0) + 1
                continue  # no size: the size pre-filter is about exact digests only
            raw.setdefault(rec.algorithm, bytearray()).extend(rec.digest)
            payload.setdefault(rec.algorithm, []).append(lid)
            counts[rec.label] = counts.get(rec.label, 0) + 1
            if rec.size is None:
                all_sized = False
            else:
                sizes.append(rec.size)
        indexes = {
            alg: ExactIndex.build(alg, bytes(buf), np.asarray(payload[alg], dtype=np.uint32))
            for alg, buf in raw.items()
        }
        size_arr = np.unique(np.asarray(sizes, dtype=np.int64)) if all_sized and sizes else None
        pdq = None
        if pdq_payload:
            from appliance.hashlist.pdq_index import PdqIndex

            pdq = PdqIndex.build(np.frombuffer(bytes(pdq_raw), dtype=np.uint8).reshape(-1, 32),
                                 np.asarray(pdq_payload, dtype=np.uint32), np.asarray(pdq_radii, dtype=np.int16))
        return cls(info, indexes, labels, size_arr, counts, pdq)


@dataclass(frozen=True, slots=True)
class Match:
    """One digest of one file found in one list."""

    list: ListInfo
    algorithm: str
    digest: bytes
    label: str | None


class Matcher:
    """Matches a file's digests against every loaded list. Ignore-lists are reported as ``known`` matches."""

    def __init__(self, lists: Iterable[LoadedList]) -> None:
        self.lists = list(lists)

    @property
    def algorithms(self) -> set[str]:
        return {alg for lst in self.lists for alg in lst.indexes}

    def needs_hashing(self, size: int) -> bool:
        """Could a file of this size match any list? Only if every alert list carries sizes can we say no.

        Ignore lists never force hashing on their own: a file they would mark known-good and that no alert
        list can match needs no digest to be safe.
        """
        alert = [lst for lst in self.lists if lst.info.kind == "alert"]
        if not alert:
            return True
        for lst in alert:
            if lst.sizes is None:
                return True
            i = int(np.searchsorted(lst.sizes, size))
            if i < len(lst.sizes) and int(lst.sizes[i]) == size:
                return True
        return False

    def match(self, digests: dict[str, bytes]) -> list[Match]:
        found: list[Match] = []
        for lst in self.lists:
            for alg, index in lst.indexes.items():
                value = digests.get(alg)
                if value is None:
                    continue
                lid = index.contains(value)
                if lid >= 0:
                    found.append(Match(lst.info, alg, value, lst.labels[lid]))
        return found
