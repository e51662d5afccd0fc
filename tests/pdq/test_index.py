"""PdqIndex: exact radius search (brute force and multi-index hashing agree with a full distance matrix)."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.hashlist.index import LoadedList, Matcher
from appliance.hashlist.model import HashRecord, ListInfo
from appliance.hashlist.pdq_index import PdqIndex, distances


def _flip(h: np.ndarray, nbits: int, rng: np.random.Generator) -> np.ndarray:
    bits = np.unpackbits(h)
    bits[rng.choice(256, nbits, replace=False)] ^= 1
    return np.packbits(bits)


def _corpus(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    flips = [0, 1, 15, 16, 30, 31, 32, 33, 47, 60]
    queries = np.stack([_flip(hashes[(i * 7919) % n], f, rng) for i, f in enumerate(flips)])
    return hashes, queries, flips


def _truth(queries: np.ndarray, hashes: np.ndarray, limit: np.ndarray) -> list[tuple[int, int, int]]:
    d = distances(queries, hashes).astype(np.int64)
    qi, ei = np.nonzero(d <= limit[None, :])
    rows = sorted(zip(qi.tolist(), d[qi, ei].tolist(), ei.tolist(), strict=True))
    return [(q, e, dist) for q, dist, e in rows]


@pytest.mark.parametrize("strategy", ["brute", "mih"])
def test_search_finds_exactly_the_entries_within_radius(strategy: str) -> None:
    hashes, queries, flips = _corpus(30_000)
    index = PdqIndex.build(hashes, np.arange(len(hashes)), strategy=strategy)
    assert index.strategy == strategy
    got = index.search(queries, 31)
    assert got == _truth(queries, hashes, np.full(len(hashes), 31))
    planted = {q for q, _e, _d in got}
    assert planted == {i for i, f in enumerate(flips) if f <= 31}  # 31 bits matches, 32 does not
    assert all(d == flips[q] for q, _e, d in got)


@pytest.mark.parametrize("strategy", ["brute", "mih"])
def test_per_entry_radius_overrides_the_query_radius_both_ways(strategy: str) -> None:
    hashes, queries, flips = _corpus(25_000, seed=1)
    radii = np.full(len(hashes), -1, dtype=np.int16)
    targets = [(i * 7919) % len(hashes) for i in range(len(flips))]
    radii[targets[flips.index(47)]] = 47  # this entry is matched more loosely
    radii[targets[flips.index(15)]] = 10  # this one more strictly
    index = PdqIndex.build(hashes, np.arange(len(hashes)), radii, strategy=strategy)
    got = index.search(queries, 31)
    limit = np.where(radii >= 0, radii, 31)
    assert got == _truth(queries, hashes, limit)
    matched = {flips[q] for q, _e, _d in got}
    assert 47 in matched and 15 not in matched and 31 in matched


def test_default_radius_and_automatic_strategy() -> None:
    small = PdqIndex.build(np.zeros((3, 32), np.uint8), np.arange(3))
    assert small.strategy == "brute" and small.default_radius == 31
    assert PdqIndex.build(np.zeros((0, 32), np.uint8), np.zeros(0)).search(np.zeros((1, 32), np.uint8)) == []
    big = PdqIndex.build(np.random.default_rng(2).integers(0, 256, (60_000, 32), dtype=np.uint8),
                         np.arange(60_000))
    assert big.strategy == "mih"
    with pytest.raises(ValueError, match="same length"):
        PdqIndex.build(np.zeros((3, 32), np.uint8), np.arange(2))


def test_loaded_list_collects_pdq_records_beside_exact_digests() -> None:
    rng = np.random.default_rng(3)
    pdq_hashes = [rng.integers(0, 256, 32, dtype=np.uint8).tobytes() for _ in range(3)]
    records = [HashRecord("md5", bytes(16), "cat-a", size=10),
               HashRecord("pdq", pdq_hashes[0], "cat-a"),
               HashRecord("pdq", pdq_hashes[1], "cat-b", distance=12),
               HashRecord("pdq", pdq_hashes[2], None)]
    lst = LoadedList.from_records(ListInfo("vics"), records)
    assert len(lst.pdq) == 3 and lst.pdq.radii.tolist() == [-1, 12, -1]
    assert [lst.labels[p] for p in lst.pdq.payload] == ["cat-a", "cat-b", None]
    assert lst.counts_by_label == {"cat-a": 2, "cat-b": 1, None: 1}
    assert lst.sizes is not None and lst.sizes.tolist() == [10]  # pdq entries do not disturb the size filter
    assert Matcher([lst]).match({"md5": bytes(16)})[0].label == "cat-a"
    with pytest.raises(ValueError, match="32 bytes"):
        LoadedList.from_records(ListInfo("bad"), [HashRecord("pdq", b"short")])
    assert LoadedList.from_records(ListInfo("plain"), [HashRecord("md5", bytes(16))]).pdq is None
