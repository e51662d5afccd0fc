"""Exact Hamming-radius search over PDQ hashes (256 bits): no approximate recall loss.

Two strategies, both exact, chosen by size (bench/pdq_match.py holds the measurements behind the cut-over):

* brute force: hashes as 4 × uint64 words, XOR + popcount against every entry, in chunks that bound memory;
* multi-index hashing (Norouzi, Punjani, Fleet 2012): the 256 bits split into 16 substrings of 16 bits. Two
  hashes within distance r differ in at most ⌊r/16⌋ bits of at least one substring (pigeonhole), so probing
  every value within ⌊r/16⌋ bits of each query substring finds every true match; candidates are then verified
  with the full distance. For r ≤ 31 that is 17 probes per substring. Memory: 4-byte entry ids in 16 bucket
  tables, 64 bytes per entry on top of the 32-byte hashes (about 100 bytes per entry in all).

Per-entry radii (``radii`` ≥ 0) override the query radius for that entry; candidates are generated for the
largest radius in play so that an override never loses a match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations

import numpy as np

DEFAULT_RADIUS = 31
#: From this many entries on, the multi-index beats brute force on the CPU. Measured (8 queries, one core,
#: queries/s brute vs mih): 1k 32.6k vs 8.5k; 5k 16.2k vs 9.5k; 20k 4.4k vs 11.8k; 100k 0.9k vs 7.8k;
#: 10^6 80 vs 1,233 (bench/pdq_match.py).
MIH_MIN_ENTRIES = 10_000
#: Multi-index probing stays exact for any radius, but past 2 bits per substring brute force is cheaper.
MIH_MAX_RADIUS = 47
_SUBSTRINGS = 16
_CHUNK_ENTRIES = 1 << 16


def as_words(hashes: np.ndarray) -> np.ndarray:
    """(n, 32) uint8 → (n, 4) native uint64, most significant word first (follows the hex)."""
    h = np.ascontiguousarray(hashes, dtype=np.uint8)
    if h.ndim != 2 or h.shape[1] != 32:
        raise ValueError(f"PDQ hashes must be an (n, 32) uint8 array, got shape {h.shape}")
    return h.view(">u8").astype(np.uint64)


def _substrings(hashes: np.ndarray) -> np.ndarray:
    """(n, 32) uint8 → (16, n) native uint16 substrings."""
    h = np.ascontiguousarray(hashes, dtype=np.uint8)
    return np.ascontiguousarray(h.view(">u2").astype(np.uint16).T)


@lru_cache(maxsize=4)
def _probe_masks(bits: int) -> np.ndarray:
    """All 16-bit masks with at most ``bits`` bits set (the probes around one substring)."""
    masks = [0]
    for k in range(1, bits + 1):
        masks.extend(sum(1 << b for b in combo) for combo in combinations(range(16), k))
    return np.asarray(masks, dtype=np.uint16)


def distances(queries: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """All pairwise Hamming distances, (m, n) uint16. For tests and small sets."""
    q, h = as_words(queries), as_words(hashes)
    out = np.zeros((len(q), len(h)), dtype=np.uint16)
    for w in range(4):
        out += np.bitwise_count(q[:, w, None] ^ h[None, :, w])
    return out


@dataclass
class PdqIndex:
    """PDQ hashes of one list with a uint32 payload (label id) and optional per-entry radius each.

    Hashes are kept once, as native uint64 words (the XOR/popcount layout); :attr:`hashes` rebuilds bytes."""

    words: np.ndarray  # (n, 4) uint64, most significant word first
    payload: np.ndarray  # (n,) uint32
    radii: np.ndarray  # (n,) int16, -1 = the search radius
    default_radius: int = DEFAULT_RADIUS
    strategy: str = "brute"
    _order: list[np.ndarray] = field(default_factory=list, repr=False)
    _offsets: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._max_override = int(self.radii.max()) if len(self.radii) else -1

    @classmethod
    def build(cls, hashes: np.ndarray, payload: np.ndarray, radii: np.ndarray | None = None, *,
              default_radius: int = DEFAULT_RADIUS, strategy: str = "auto") -> PdqIndex:
        """``hashes`` (n, 32) uint8; ``strategy``: "auto" (by size), "brute" or "mih"."""
        hashes = np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, 32)
        payload = np.ascontiguousarray(payload, dtype=np.uint32)
        radii = (np.full(len(hashes), -1, dtype=np.int16) if radii is None
                 else np.ascontiguousarray(radii, dtype=np.int16))
        if not (len(hashes) == len(payload) == len(radii)):
            raise ValueError("hashes, payload and radii must have the same length")
        if strategy == "auto":
            strategy = "mih" if len(hashes) >= MIH_MIN_ENTRIES else "brute"
        if strategy not in ("brute", "mih"):
            raise ValueError(f"unknown PDQ index strategy {strategy!r}")
        index = cls(as_words(hashes), payload, radii, default_radius, strategy)
        if strategy == "mih":
            index._build_mih(hashes)
        return index

    def _build_mih(self, hashes: np.ndarray) -> None:
        subs = _substrings(hashes)
        self._order = []
        offsets = np.zeros((_SUBSTRINGS, 65537), dtype=np.int64)
        for s in range(_SUBSTRINGS):
            self._order.append(np.argsort(subs[s], kind="stable").astype(np.uint32))
            np.cumsum(np.bincount(subs[s], minlength=65536), out=offsets[s, 1:])
        self._offsets = offsets

    @property
    def hashes(self) -> np.ndarray:
        """(n, 32) uint8, the bytes as listed."""
        return self.words.astype(">u8").view(np.uint8).reshape(-1, 32)

    def __len__(self) -> int:
        return len(self.words)

    @property
    def nbytes(self) -> int:
        extra = sum(o.nbytes for o in self._order) + (self._offsets.nbytes if self._offsets is not None else 0)
        return self.words.nbytes + self.payload.nbytes + self.radii.nbytes + extra

    def search(self, queries: np.ndarray, radius: int | None = None) -> list[tuple[int, int, int]]:
        """Every (query_i, entry_i, distance) with distance ≤ the entry's radius (its own, else ``radius``,
        else the index default), sorted by query then distance then entry."""
        radius = self.default_radius if radius is None else int(radius)
        q = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, 32)
        if not len(q) or not len(self):
            return []
        widest = max(radius, self._max_override)
        if self.strategy == "mih" and widest <= MIH_MAX_RADIUS:
            qi, ei, d = self._search_mih(q, widest)
        else:
            qi, ei, d = self._search_brute(q, widest)
        limit = np.where(self.radii[ei] >= 0, self.radii[ei], radius)
        keep = d <= limit
        qi, ei, d = qi[keep], ei[keep], d[keep]
        order = np.lexsort((ei, d, qi))
        return [(int(a), int(b), int(c)) for a, b, c in zip(qi[order], ei[order], d[order], strict=True)]

    def _search_brute(self, q: np.ndarray, widest: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        qw = as_words(q)
        qs, es, ds = [], [], []
        for start in range(0, len(self), _CHUNK_ENTRIES):
            block = self.words[start:start + _CHUNK_ENTRIES]
            acc = np.zeros((len(qw), len(block)), dtype=np.uint16)
            for w in range(4):
                acc += np.bitwise_count(qw[:, w, None] ^ block[None, :, w])
            a, b = np.nonzero(acc <= widest)
            qs.append(a)
            es.append(b + start)
            ds.append(acc[a, b])
        return np.concatenate(qs), np.concatenate(es), np.concatenate(ds).astype(np.int64)

    def _search_mih(self, q: np.ndarray, widest: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert self._offsets is not None
        masks = _probe_masks(widest // _SUBSTRINGS)
        qsubs = _substrings(q)
        cand_q, cand_e = [], []
        for s in range(_SUBSTRINGS):
            probes = (qsubs[s][:, None] ^ masks[None, :]).astype(np.int64)  # (m, P)
            starts = self._offsets[s][probes].ravel()
            lengths = self._offsets[s][probes + 1].ravel() - starts
            total = int(lengths.sum())
            if not total:
                continue
            owner = np.repeat(np.repeat(np.arange(len(q)), len(masks)), lengths)
            first = np.repeat(np.cumsum(lengths) - lengths, lengths)
            pos = np.repeat(starts, lengths) + (np.arange(total) - first)
            cand_q.append(owner)
            cand_e.append(self._order[s][pos].astype(np.int64))
        if not cand_q:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        qi, ei = np.concatenate(cand_q), np.concatenate(cand_e)
        qw = as_words(q)
        d = np.zeros(len(qi), dtype=np.int64)
        for w in range(4):  # column by column: measured faster than gathering whole rows
            d += np.bitwise_count(qw[qi, w] ^ self.words[ei, w])
        hit = d <= widest
        qi, ei, d = qi[hit], ei[hit], d[hit]
        # A match is found once per substring within range: keep one of each (query, entry) pair.
        key = qi * len(self) + ei
        _, first_idx = np.unique(key, return_index=True)
        return qi[first_idx], ei[first_idx], d[first_idx]
