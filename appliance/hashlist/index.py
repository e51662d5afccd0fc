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

PREFIX = 8  # bytes of each digest held as a native uint64 (the binary-search key)
#: The radix table has 2^k buckets of 8..16 entries on average (16..32 beside 2-byte labels, to stay within
#: 1.15 x the raw digest bytes); each bucket's first and end offsets share one uint64, so a query costs one
#: table read: 1 byte per entry at most (0.5 beside 2-byte labels).
BUCKET_MEAN = 8
WIDE_BUCKET_MEAN = 16
#: Each query is searched in a window of this many entries around its interpolated position in its bucket.
#: Digests are uniform, so the guess is off by about sqrt(bucket)/2 entries; at 10^8 entries ±8 misses about
#: 30 queries in 10^6 (10^3 with 16..32-entry buckets), and a missed query is answered by a plain binary
#: search over the whole array (always correct, only slower).
WINDOW = 16
MAX_ENTRIES = (1 << 32) - 1  # bucket offsets are uint32 halves of the table's words
_LOW32 = np.uint64(0xFFFFFFFF)
_HIGH32 = np.uint64(32)
FEW_QUERIES = 8  # up to this many queries: answered one by one (see lookup)
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

    ``lookup`` answers many queries in one vectorised call: each is searched near its interpolated position in
    a coarse radix table (:meth:`_first_not_below`), so the queries need no sorting."""

    def __init__(self, algorithm: str, prefix: np.ndarray, rest: np.ndarray, payload: np.ndarray | None,
                 table: np.ndarray | None = None) -> None:
        self.algorithm = algorithm
        self.width = DIGEST_KINDS[algorithm].size
        self._prefix = prefix  # uint64, sorted (ties broken by _rest)
        self._rest = rest  # S<width-8>
        self._payload = payload  # small uints aligned with the keys, or None: every entry has label id 0
        self._build_buckets(table)

    def _build_buckets(self, stored: np.ndarray | None = None) -> None:
        """Radix table over the top bits of the prefix: word ``b`` holds the first entry whose prefix has top
        bits ``b`` (low half) and the first entry of bucket ``b + 1`` (high half). Lookups interpolate inside a
        bucket, so the table stays coarse.

        ``stored``: the table saved with the list (the store's load path: at 10^8 entries building it costs
        about a second per algorithm). Adopted when its shape fits; lookups never depend on it being right,
        since every search proves its answer from the entries themselves (see :meth:`_first_not_below`)."""
        n = len(self._prefix)
        if n > MAX_ENTRIES:
            raise ValueError(f"a {self.algorithm} index holds at most {MAX_ENTRIES:,} entries, not {n:,}")
        wide = self._payload is not None and self._payload.itemsize > 1
        bits = min(max((n // (WIDE_BUCKET_MEAN if wide else BUCKET_MEAN)).bit_length() - 1, 1), 32)
        self._shift = np.uint64(64 - bits)
        self._low_mask = np.uint64((1 << (64 - bits)) - 1)
        self._low_scale = 1.0 / float(1 << (64 - bits))
        if (stored is not None and stored.dtype == np.uint64 and len(stored) == 1 << bits
                and int(stored[-1]) >> 32 == n):
            self._table = stored
            return
        edges = np.arange(1 << bits, dtype=np.uint64) << np.uint64(64 - bits)
        table = np.searchsorted(self._prefix, edges).astype(np.uint64)
        ends = np.empty_like(table)
        ends[:-1] = table[1:]
        ends[-1] = n
        ends <<= np.uint64(32)
        table |= ends
        self._table = table

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
                    payload: np.ndarray | None, table: np.ndarray | None = None) -> ExactIndex:
        """Adopt arrays already in index order (the encrypted store's load path: no sort, no copy), and the
        bucket table saved with them where there is one (lists stored before it was saved have none)."""
        return cls(algorithm, prefix, rest, payload, table)

    def bucket_table(self) -> np.ndarray:
        """The radix table, for the store to save beside the arrays."""
        return self._table

    def __len__(self) -> int:
        return len(self._prefix)

    @property
    def nbytes(self) -> int:
        return (self._prefix.nbytes + self._rest.nbytes + self._table.nbytes
                + (self._payload.nbytes if self._payload is not None else 0))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(prefix, rest, payload) for serialisation by the store."""
        return self._prefix, self._rest, self._payload

    def lookup(self, queries: np.ndarray | bytes) -> np.ndarray:
        """``queries``: dtype S<width> array (or concatenated bytes). Returns the label id per query, or -1
        where absent (int64).

        Each query's first 8 bytes are searched near their interpolated position (:meth:`_first_not_below`,
        vectorised over a chunk of queries, no sort); only where an entry's prefix is equal are the remaining
        bytes compared."""
        if isinstance(queries, np.ndarray):
            b = np.ascontiguousarray(queries).view(np.uint8).ravel()
        else:
            b = np.frombuffer(queries, dtype=np.uint8)
        m = len(b) // self.width
        out = np.full(m, -1, dtype=np.int64)
        n = len(self._prefix)
        if not n or not m:
            return out
        if m <= FEW_QUERIES:  # a file's digest or two: the vectorised path's fixed cost would dominate
            for j in range(m):
                at = self._find_one(b[j * self.width:(j + 1) * self.width].tobytes())
                if at >= 0:
                    out[j] = self._payload[at] if self._payload is not None else 0
            return out
        # Strided views of the queries' first 8 bytes and their rest: one copy each, only where needed.
        qp = np.ndarray((m,), dtype=">u8", buffer=b, strides=(self.width,)).astype(np.uint64)
        q_rest = np.ndarray((m,), dtype=f"S{self.width - PREFIX}", buffer=b, offset=PREFIX, strides=(self.width,))
        pos = np.empty(m, dtype=np.int64)
        same = np.empty(m, dtype=bool)
        v = np.empty(min(m, CHUNK), dtype=np.uint64)
        for s0 in range(0, m, CHUNK):
            q = qp[s0:s0 + CHUNK]
            at = pos[s0:s0 + len(q)] = self._first_not_below(q)
            # Still in cache: the search's last probes read these lines (n-1 stands in for the end).
            np.take(self._prefix, at, out=v[:len(q)], mode="clip")
            np.equal(v[:len(q)], q, out=same[s0:s0 + len(q)])
        same &= pos < n
        cand = np.flatnonzero(same)  # only these can match: compare their remaining bytes
        at = pos[cand]
        want_p = qp[cand]
        want_r = q_rest[cand]
        found_at = self._confirm(at, want_p, want_r)
        sel = found_at >= 0
        hits = cand[sel]
        out[hits] = self._payload[found_at[sel]] if self._payload is not None else 0
        return out

    def _first_not_below(self, q: np.ndarray) -> np.ndarray:
        """For each uint64 query prefix, the index of the first entry whose prefix is not below it (0..n).

        The query's top bits pick its bucket; its low bits, scaled to the bucket's entry count, guess its
        position (digests are uniform). A branch-free binary search with a fixed number of steps, vectorised
        over the chunk, then runs inside the window of ``WINDOW`` entries around that guess: every probe of a
        query lands in the same few cache lines. A query whose answer lies outside its window (the window's
        edge entries prove it) is answered by ``searchsorted`` over the whole array."""
        prefix, n, k = self._prefix, len(self._prefix), len(q)
        word = self._table[q >> self._shift]
        first = (word & _LOW32).astype(np.int64)
        count = (word >> _HIGH32).astype(np.int64)
        count -= first
        guess = (q & self._low_mask).astype(np.float64)
        guess *= self._low_scale
        guess *= count
        lo = guess.astype(np.int64)
        lo += first
        lo -= WINDOW // 2 + 1  # the window is (lo, lo + WINDOW]: lo is taken as below the query
        np.maximum(lo, -1, out=lo)  # a no-op with a right table; with any table, the checks below index safely
        np.minimum(lo, n - 1, out=lo)
        base = lo.copy()
        probe = np.empty(k, dtype=np.int64)
        v = np.empty(k, dtype=np.uint64)
        below = np.empty(k, dtype=bool)
        step = WINDOW // 2
        while step:
            # 'clip' reads entry 0 or n-1 for a probe outside the array; either way the answer is right once
            # clamped to 0..n below (see the bracket check).
            np.add(base, step, out=probe)
            np.take(prefix, probe, out=v, mode="clip")
            np.less(v, q, out=below)
            base += below * step
            step >>= 1
        base += 1
        # Bracketed only if entry lo is below the query (or lo < 0) and entry lo + WINDOW is not (or past n).
        out_left = (base == lo + 1) & (lo >= 0)
        out_left[out_left] = prefix[lo[out_left]] >= q[out_left]
        out_right = (base == lo + WINDOW) & (lo + WINDOW < n)
        out_right[out_right] = prefix[lo[out_right] + WINDOW] < q[out_right]
        missed = np.flatnonzero(out_left | out_right)
        if len(missed):
            base[missed] = np.searchsorted(prefix, q[missed])
        np.maximum(base, 0, out=base)
        np.minimum(base, n, out=base)
        return base

    def _confirm(self, at: np.ndarray, want_p: np.ndarray, want_r: np.ndarray) -> np.ndarray:
        """Each candidate's entry index, or -1: from its first position ``at`` with an equal 8-byte prefix,
        compare the remaining bytes, stepping on only where several entries share that prefix (rare: the
        first round needs no prefix check, the caller made it)."""
        n = len(self._prefix)
        found_at = np.full(len(at), -1, dtype=np.int64)
        hit = self._rest[at] == want_r
        found_at[hit] = at[hit]
        active = np.flatnonzero(~hit)
        at = at.copy()
        while len(active):
            at[active] += 1
            p = at[active]
            keep = p < n
            active, p = active[keep], p[keep]
            keep = self._prefix[p] == want_p[active]
            active, p = active[keep], p[keep]
            hit = self._rest[p] == want_r[active]
            found_at[active[hit]] = p[hit]
            active = active[~hit]
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
        at = self._find_one(digest)
        if at < 0:
            return -1
        return int(self._payload[at]) if self._payload is not None else 0

    def _find_one(self, digest: bytes) -> int:
        """The entry index of one digest, or -1: one C binary search and a few scalar compares, for callers
        with a single file's digests (NumPy's per-call cost makes the batch path ~20x slower for one)."""
        key = int.from_bytes(digest[:PREFIX], "big")
        prefix = self._prefix
        at = int(prefix.searchsorted(np.uint64(key)))
        rest = digest[PREFIX:].rstrip(b"\0")  # an S-dtype item reads back without its trailing NULs
        while at < len(prefix) and int(prefix[at]) == key:
            if self._rest[at] == rest:
                return at
            at += 1
        return -1


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
            pdq = build_pdq_index(np.frombuffer(bytes(pdq_raw), dtype=np.uint8).reshape(-1, 32),
                                  np.asarray(pdq_payload, dtype=np.uint32), np.asarray(pdq_radii, dtype=np.int16),
                                  info.pdq_distance)
        return cls(info, indexes, labels, size_arr, counts, pdq)


    @classmethod
    def from_arrays(cls, info: ListInfo, arrays: Any) -> LoadedList:
        """Adopt a :class:`appliance.hashlist.builder.ListArrays` (the store's fast path: no per-entry loop)."""
        counts: dict[str | None, int] = {
            (None if k == "(none)" else k): v for k, v in arrays.categories.items()}
        pdq = None
        if arrays.pdq_hashes is not None and len(arrays.pdq_hashes):
            pdq = build_pdq_index(arrays.pdq_hashes, arrays.pdq_payload, arrays.pdq_radii, info.pdq_distance)
        return cls(info, dict(arrays.exact), list(arrays.labels), arrays.sizes, counts, pdq)


def build_pdq_index(hashes: np.ndarray, payload: np.ndarray, radii: np.ndarray,
                    list_distance: int | None = None) -> Any:
    """The perceptual index; entries without their own radius match within ``list_distance`` (the list's
    ``pdq_distance``), else PDQ's usual default."""
    from appliance.hashlist.pdq_index import DEFAULT_RADIUS, PdqIndex

    return PdqIndex.build(hashes, payload, radii,
                          default_radius=DEFAULT_RADIUS if list_distance is None else list_distance)


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
