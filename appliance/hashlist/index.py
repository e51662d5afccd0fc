"""Compact exact-digest index: one sorted fixed-width array per algorithm, vectorised batch lookup.

Memory is the raw digest bytes plus a 0-, 1- or 2-byte label id per entry: no Python objects per entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from appliance.hashing.digests import DIGEST_KINDS
from appliance.hashlist.model import HashRecord, ListInfo

NO_LABEL = np.uint32(0xFFFFFFFF)
PREFIX = 8  # bytes of each digest held as a native uint64 (the binary-search key)
BUCKET_MEAN = 8  # the radix table has 2^k buckets with 8..16 entries on average (<= 0.5 byte per entry) ...
WIDE_BUCKET_MEAN = 16  # ... or 16..32 (<= 0.25 byte) beside a 2-byte label payload, to stay within 1.15 x raw
CHUNK = 1 << 13  # queries searched together: the cache lines one chunk touches stay in cache between steps


def payload_dtype(label_count: int) -> np.dtype | None:
    """The smallest unsigned type that holds a label id; ``None`` when a list has one label (no payload)."""
    if label_count <= 1:
        return None
    if label_count <= 0xFF:
        return np.dtype(np.uint8)
    if label_count <= 0xFFFF:
        return np.dtype(np.uint16)
    return np.dtype(np.uint32)


def split_digests(raw: bytes | bytearray | memoryview | np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``n × width`` digest bytes → (uint64 big-endian prefix as native ints, ``S<width-8>`` rest)."""
    b = np.frombuffer(raw, dtype=np.uint8) if not isinstance(raw, np.ndarray) else raw.view(np.uint8).ravel()
    rows = b.reshape(-1, width)
    prefix = np.ascontiguousarray(rows[:, :PREFIX]).view(">u8").ravel().astype(np.uint64)
    rest = np.ascontiguousarray(rows[:, PREFIX:]).view(f"S{width - PREFIX}").ravel()
    return prefix, rest


def _sorted_unique(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique uint64 prefixes, the row index of each entry's first occurrence) of ``n × width`` rows:
    a numeric sort on the prefix; only runs of equal prefixes (duplicates, or rare collisions) are
    ordered further, by the remaining bytes and then by input position."""
    width = rows.shape[1]
    keys = np.ascontiguousarray(rows[:, :PREFIX]).view(">u8").ravel().astype(np.uint64)
    order = np.argsort(keys)  # not stable: input order is restored below where keys are equal
    keys = keys[order]
    if len(keys) < 2:
        return keys, order
    tie = keys[1:] == keys[:-1]
    if not tie.any():
        return keys, order
    in_run = np.zeros(len(keys), dtype=bool)
    in_run[1:] = tie
    in_run[:-1] |= tie
    pos = np.flatnonzero(in_run)
    sub = order[pos]
    sub_rest = np.ascontiguousarray(rows[sub, PREFIX:]).view(f"S{width - PREFIX}").ravel()
    order[pos] = sub[np.lexsort((sub, sub_rest, keys[pos]))]  # equal digests in input order: first one wins
    dup = np.zeros(len(keys), dtype=bool)
    run_rest = np.ascontiguousarray(rows[order[pos], PREFIX:]).view(f"S{width - PREFIX}").ravel()
    same = (keys[pos[1:]] == keys[pos[:-1]]) & (run_rest[1:] == run_rest[:-1]) & (pos[1:] == pos[:-1] + 1)
    dup[pos[1:][same]] = True
    if dup.any():
        keep = ~dup
        return keys[keep], order[keep]
    return keys, order


class ExactIndex:
    """Sorted, unique digests of one algorithm, held as two aligned arrays: the first 8 bytes as uint64 (binary
    search on machine words) and the remaining bytes as fixed-width strings; plus a small-int label payload
    (none when the list has a single label). Memory: exactly the digest bytes plus 0, 1 or 2 bytes per entry.

    ``lookup`` answers many queries in one vectorised call (queries are sorted first so the binary searches
    walk memory in order)."""

    def __init__(self, algorithm: str, prefix: np.ndarray, rest: np.ndarray, payload: np.ndarray | None) -> None:
        self.algorithm = algorithm
        self.width = DIGEST_KINDS[algorithm].size
        self._prefix = prefix  # uint64, sorted (ties broken by _rest)
        self._rest = rest  # S<width-8>
        self._payload = payload  # small uints aligned with the keys, or None: every entry has label id 0
        self._build_buckets()

    def _build_buckets(self) -> None:
        """Radix table over the top bits of the prefix: ``_starts[b]`` is the first entry whose prefix has top
        bits ``b``. 2^k buckets with 8..16 entries each on average, so the table costs at most half a byte per
        entry (uint32 offsets; int64 beyond 2^32 entries), a quarter byte beside 2-byte labels. Digests are
        uniform, so buckets stay short; the lookup's fixed number of steps comes from the longest bucket."""
        n = len(self._prefix)
        wide = self._payload is not None and self._payload.itemsize > 1
        bits = min(max((n // (WIDE_BUCKET_MEAN if wide else BUCKET_MEAN)).bit_length() - 1, 1), 32)
        self._shift = np.uint64(64 - bits)
        dtype = np.uint32 if n < 0xFFFFFFFF else np.int64
        edges = np.arange(1 << bits, dtype=np.uint64) << np.uint64(64 - bits)
        starts = np.empty((1 << bits) + 1, dtype=dtype)
        starts[:-1] = np.searchsorted(self._prefix, edges)
        starts[-1] = n
        self._starts = starts
        longest = int(np.diff(starts).max()) if n else 0
        self._steps = [1 << i for i in reversed(range(longest.bit_length()))]

    @classmethod
    def build(cls, algorithm: str, raw: bytes | bytearray | memoryview | np.ndarray, payload: np.ndarray | None,
              label_count: int | None = None) -> ExactIndex:
        """``raw`` is the concatenated digests (n × width bytes); ``payload`` one label id per digest.
        Duplicates keep the first occurrence's payload. The payload is narrowed to the smallest type."""
        width = DIGEST_KINDS[algorithm].size
        rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, width)
        if payload is not None and len(rows) != len(payload):
            raise ValueError("payload length does not match digest count")
        if payload is not None and label_count is None:
            label_count = int(np.max(payload)) + 1 if len(payload) else 0
        if payload is None:
            label_count = 1
        return cls.from_parts(algorithm, [(rows, None if payload is None else np.asarray(payload))], len(rows),
                              label_count)

    @classmethod
    def from_parts(cls, algorithm: str, parts: Iterable[tuple[np.ndarray, np.ndarray | None]], total: int,
                   label_count: int | None) -> ExactIndex:
        """Build from ``parts``: ``(rows, label ids)`` pairs, rows an ``n × width`` uint8 array, ids ``None``
        meaning label 0, whose key ranges ascend part by part (the import partitions digests by their top bits).

        Why: the final arrays are allocated once (``np.empty``: pages are committed only as they are written)
        and each part is sorted on its own and may be freed by the caller's iterator before the next one comes,
        so an import's peak memory stays near the digest bytes instead of 3× (whole-array argsort + copies).
        Parts are sorted by the 8-byte prefix as uint64 (a fast numeric sort), equal prefixes by the rest;
        duplicates keep the first occurrence's label. ``total`` bounds the entry count (before de-duplication)."""
        width = DIGEST_KINDS[algorithm].size
        dtype = payload_dtype(label_count if label_count is not None else 1)
        prefix = np.empty(total, dtype=np.uint64)
        rest = np.empty(total, dtype=f"S{width - PREFIX}")
        rest_bytes = rest.view(np.uint8).reshape(total, width - PREFIX)
        payload = np.empty(total, dtype=dtype) if dtype is not None else None
        at = 0
        last: tuple[int, bytes] | None = None
        for rows, ids in parts:
            n = len(rows)
            if not n:
                continue
            if at + n > total:
                raise ValueError("parts hold more digests than announced")
            keys, take = _sorted_unique(rows)
            m = len(take)
            if last is not None and (int(keys[0]), bytes(rows[take[0], PREFIX:])) <= last:
                raise ValueError("parts are not in ascending key order")
            prefix[at:at + m] = keys
            rest_bytes[at:at + m] = np.take(rows, take, axis=0)[:, PREFIX:]  # take: a row copy, not per byte
            if payload is not None:
                payload[at:at + m] = 0 if ids is None else ids[take]
            last = (int(keys[-1]), bytes(rows[take[-1], PREFIX:]))
            at += m
            del keys, take
        prefix, rest = prefix[:at], rest[:at]
        return cls(algorithm, prefix, rest, payload[:at] if payload is not None else None)

    @classmethod
    def from_sorted(cls, algorithm: str, prefix: np.ndarray, rest: np.ndarray,
                    payload: np.ndarray | None) -> ExactIndex:
        """Adopt arrays already in index order (the encrypted store's load path: no sort, no copy)."""
        return cls(algorithm, prefix, rest, payload)

    def __len__(self) -> int:
        return len(self._prefix)

    @property
    def nbytes(self) -> int:
        return (self._prefix.nbytes + self._rest.nbytes + self._starts.nbytes
                + (self._payload.nbytes if self._payload is not None else 0))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(prefix, rest, payload) for serialisation by the store."""
        return self._prefix, self._rest, self._payload

    def lookup(self, queries: np.ndarray | bytes) -> np.ndarray:
        """``queries``: dtype S<width> array (or concatenated bytes). Returns the label id per query, or -1
        where absent (int64).

        Each query's top prefix bits pick its bucket in the radix table; a branch-free binary search with a
        fixed number of steps (vectorised over a chunk of queries, no sort) finds the first entry whose prefix
        is not below the query's; only where that prefix is equal are the remaining bytes compared."""
        if isinstance(queries, np.ndarray):
            b = np.ascontiguousarray(queries).view(np.uint8).ravel()
        else:
            b = np.frombuffer(queries, dtype=np.uint8)
        m = len(b) // self.width
        out = np.full(m, -1, dtype=np.int64)
        n = len(self._prefix)
        if not n or not m:
            return out
        rows = b[:m * self.width].reshape(m, self.width)
        qp = np.ascontiguousarray(rows[:, :PREFIX]).view(">u8").ravel().astype(np.uint64)
        prefix = self._prefix
        pos = np.empty(m, dtype=np.int64)
        same = np.empty(m, dtype=bool)
        for s0 in range(0, m, CHUNK):
            q = qp[s0:s0 + CHUNK]
            k = len(q)
            base = self._starts[q >> self._shift].astype(np.int64)
            base -= 1  # last entry known to be below the query (virtual -1 at the bucket start)
            probe = np.empty(k, dtype=np.int64)
            v = np.empty(k, dtype=np.uint64)
            below = np.empty(k, dtype=bool)
            for step in self._steps:
                # Entries past the bucket's end have larger top bits, so they are never below the query and
                # the search needs no bucket end; 'clip' keeps the last bucket's probes inside the array.
                np.add(base, step, out=probe)
                np.take(prefix, probe, out=v, mode="clip")
                np.less(v, q, out=below)
                np.copyto(base, probe, where=below)
            base += 1  # first entry not below the query (its bucket's first entry of a larger prefix, or n)
            pos[s0:s0 + k] = base
            np.take(prefix, base, out=v, mode="clip")  # still in cache: the chunk's last steps read it
            np.equal(v, q, out=same[s0:s0 + k])
        same &= pos < n
        cand = np.flatnonzero(same)  # only these can match: compare their remaining bytes
        at = pos[cand]
        want_p = qp[cand]
        want_r = np.ascontiguousarray(rows[cand, PREFIX:]).view(f"S{self.width - PREFIX}").ravel()
        found_at = self._confirm(at, want_p, want_r)
        sel = found_at >= 0
        hits = cand[sel]
        out[hits] = self._payload[found_at[sel]] if self._payload is not None else 0
        return out

    def _confirm(self, at: np.ndarray, want_p: np.ndarray, want_r: np.ndarray) -> np.ndarray:
        """Each candidate's entry index, or -1: from its first position ``at`` with an equal 8-byte prefix,
        compare the remaining bytes, stepping on only where several entries share that prefix."""
        n = len(self._prefix)
        at = at.copy()
        found_at = np.full(len(at), -1, dtype=np.int64)
        active = np.arange(len(at))
        while len(active):
            p = at[active]
            keep = p < n
            active, p = active[keep], p[keep]
            keep = self._prefix[p] == want_p[active]
            active, p = active[keep], p[keep]
            hit = self._rest[p] == want_r[active]
            found_at[active[hit]] = p[hit]
            active = active[~hit]
            at[active] += 1
        return found_at

    def lookup_searchsorted(self, queries: np.ndarray | bytes) -> np.ndarray:
        """The previous lookup (sort the queries, one ``searchsorted`` over the whole array); kept as a
        reference for the tests and the benchmark. Same answers as :meth:`lookup`."""
        raw = queries.tobytes() if isinstance(queries, np.ndarray) else bytes(queries)
        m = len(raw) // self.width
        out = np.full(m, -1, dtype=np.int64)
        n = len(self._prefix)
        if not n or not m:
            return out
        qp, qr = split_digests(raw, self.width)
        order = np.argsort(qp) if m > 64 else np.arange(m)
        qs = qp[order]
        pos = np.searchsorted(self._prefix, qs)
        np.minimum(pos, n - 1, out=pos)
        cand = np.flatnonzero(self._prefix[pos] == qs)  # only these can match: compare their remaining bytes
        at = pos[cand]
        want_p, want_r = qs[cand], qr[order[cand]]
        found_at = self._confirm(at, want_p, want_r)
        sel = found_at >= 0
        rows = order[cand[sel]]
        out[rows] = self._payload[found_at[sel]] if self._payload is not None else 0
        return out

    def contains(self, digest: bytes) -> int:
        """Single lookup: label id or -1."""
        if len(digest) != self.width:
            return -1
        return int(self.lookup(digest)[0])


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
    #: Allow-list fingerprints (appliance/hashlist/allow.py) of this list's entries marked false positive.
    suppressed: frozenset[str] = frozenset()

    def is_suppressed(self, algorithm: str, digest: bytes) -> bool:
        """Was this match marked a false positive? (Perceptual analyzers should ask too.)"""
        if not self.suppressed:
            return False
        from appliance.hashlist.allow import fingerprint

        return fingerprint(algorithm, digest) in self.suppressed

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
            alg: ExactIndex.build(alg, bytes(buf), np.asarray(payload[alg], dtype=np.uint32), len(labels))
            for alg, buf in raw.items()
        }
        size_arr = np.unique(np.asarray(sizes, dtype=np.int64)) if all_sized and sizes else None
        pdq = None
        if pdq_payload:
            from appliance.hashlist.pdq_index import PdqIndex

            pdq = PdqIndex.build(np.frombuffer(bytes(pdq_raw), dtype=np.uint8).reshape(-1, 32),
                                 np.asarray(pdq_payload, dtype=np.uint32), np.asarray(pdq_radii, dtype=np.int16))
        return cls(info, indexes, labels, size_arr, counts, pdq)


    @classmethod
    def from_arrays(cls, info: ListInfo, arrays: Any) -> LoadedList:
        """Adopt a :class:`appliance.hashlist.builder.ListArrays` (the store's fast path: no per-entry loop)."""
        counts: dict[str | None, int] = {
            (None if k == "(none)" else k): v for k, v in arrays.categories.items()}
        pdq = None
        if arrays.pdq_hashes is not None and len(arrays.pdq_hashes):
            pdq = build_pdq_index(arrays.pdq_hashes, arrays.pdq_payload, arrays.pdq_radii)
        return cls(info, dict(arrays.exact), list(arrays.labels), arrays.sizes, counts, pdq)


def build_pdq_index(hashes: np.ndarray, payload: np.ndarray, radii: np.ndarray) -> Any:
    """The perceptual index (owned by the pdq area); ``None`` where that module is not installed yet."""
    try:
        from appliance.hashlist.pdq_index import PdqIndex  # type: ignore[import-not-found]
    except ImportError:
        return None
    return PdqIndex.build(hashes, payload, radii)


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
            if not len(lst.sizes) or size > int(lst.sizes[-1]) or size < int(lst.sizes[0]):
                continue  # also keeps a huge size out of a uint32 search
            i = int(np.searchsorted(lst.sizes, lst.sizes.dtype.type(size)))  # same dtype: no array copy
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
                if lid >= 0 and not lst.is_suppressed(alg, value):
                    found.append(Match(lst.info, alg, value, lst.labels[lid]))
        return found
