"""ExactIndex.lookup against a brute-force dict on seeded random data: no false positives or negatives, with
shared 8-byte prefixes, crowded radix buckets, empty and edge buckets, and the previous searchsorted path."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.hashlist.index import ExactIndex

WIDTH = {"md5": 16, "sha1": 20}


def _brute(entries: list[bytes], labels: list[int]) -> dict[bytes, int]:
    first: dict[bytes, int] = {}
    for d, lab in zip(entries, labels, strict=True):
        first.setdefault(d, lab)  # duplicates keep the first occurrence's label
    return first


def _entries(rng: np.random.Generator, n: int, width: int, shape: str) -> list[bytes]:
    if shape == "uniform":
        return [rng.bytes(width) for _ in range(n)]
    if shape == "shared-prefix":  # many entries share one 8-byte prefix, others nearly so
        heads = [rng.bytes(8) for _ in range(max(1, n // 20))]
        return [heads[int(rng.integers(len(heads)))] + rng.bytes(width - 8) for _ in range(n)]
    if shape == "crowded":  # every entry in a handful of radix buckets (same top 24 bits)
        tops = [rng.bytes(3) for _ in range(3)]
        return [tops[int(rng.integers(3))] + rng.bytes(width - 3) for _ in range(n)]
    if shape == "extremes":  # around the first and last bucket and the array ends
        out = [b"\x00" * width, b"\xff" * width, b"\x00" * 7 + b"\x01" + b"\x00" * (width - 8),
               b"\xff" * 8 + b"\x00" * (width - 8)]
        return out + [bytes([255 * int(rng.integers(2))]) * 2 + rng.bytes(width - 2) for _ in range(n)]
    raise AssertionError(shape)


@pytest.mark.parametrize("algorithm", ["md5", "sha1"])
@pytest.mark.parametrize("shape", ["uniform", "shared-prefix", "crowded", "extremes"])
@pytest.mark.parametrize("n", [1, 2, 7, 300, 5000])
@pytest.mark.parametrize("label_count", [1, 3, 300])
def test_lookup_agrees_with_a_brute_force_dict(algorithm: str, shape: str, n: int, label_count: int) -> None:
    width = WIDTH[algorithm]
    rng = np.random.default_rng([n, label_count, len(shape), width])
    entries = _entries(rng, n, width, shape)
    entries += [entries[int(i)] for i in rng.integers(0, len(entries), max(1, n // 10))]  # duplicates
    labels = [int(x) for x in rng.integers(0, label_count, len(entries))]
    truth = _brute(entries, labels)
    ix = ExactIndex.build(algorithm, b"".join(entries), np.asarray(labels, dtype=np.uint32), label_count)
    assert len(ix) == len(truth)
    # Present ones, near misses (one byte flipped: same prefix, other rest; or other prefix), random, extremes.
    queries = [entries[int(i)] for i in rng.integers(0, len(entries), 2 * n + 5)]
    for d in entries[: n + 5]:
        j = int(rng.integers(width))
        queries.append(d[:j] + bytes([d[j] ^ (1 << int(rng.integers(8)))]) + d[j + 1:])
    queries += [rng.bytes(width) for _ in range(n + 5)]
    queries += [b"\x00" * width, b"\xff" * width, b"\x00" * (width - 1) + b"\x01", b"\xff" * (width - 1) + b"\xfe"]
    queries = [queries[int(i)] for i in rng.permutation(len(queries))]
    want = [truth.get(q, -1) for q in queries]
    arr = np.array(queries, dtype=f"S{width}")
    for got in (ix.lookup(arr), ix.lookup(b"".join(queries)), ix.lookup_searchsorted(arr)):
        assert got.dtype == np.int64 and got.tolist() == want
    assert [ix.contains(q) for q in queries[:50]] == want[:50]
    for k in (1, 8, 9):  # a file's few digests are answered one by one; from 9 on, by the window search
        assert ix.lookup(arr[:k]).tolist() == want[:k]


def test_lookup_on_an_empty_index_and_empty_queries() -> None:
    ix = ExactIndex.build("md5", b"", None)
    assert ix.lookup(np.array([b"\x01" * 16], dtype="S16")).tolist() == [-1]
    full = ExactIndex.build("md5", b"\x01" * 16, None)
    assert full.lookup(b"").tolist() == [] and full.lookup(b"\x01" * 16).tolist() == [0]


@pytest.mark.parametrize("seed", range(4))
def test_large_uniform_batch_matches_the_searchsorted_path(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 200_000
    raw = rng.bytes(16 * n)
    ix = ExactIndex.build("md5", raw, rng.integers(0, 200, n, dtype=np.uint32), 200)
    keys = np.frombuffer(raw, dtype="S16")
    q = np.concatenate([keys[rng.integers(0, n, 50_000)], np.frombuffer(rng.bytes(16 * 50_000), dtype="S16")])
    got = ix.lookup(q)
    assert (got[:50_000] >= 0).all() and np.array_equal(got, ix.lookup_searchsorted(q))
    assert ix.nbytes <= 1.15 * 16 * n


def test_a_wrong_stored_bucket_table_slows_lookups_but_never_changes_an_answer() -> None:
    """The store saves each index's bucket table; every search proves its answer from the entries, so even a
    table that is wrong (a bug, not an attacker: the file is authenticated) cannot hide or invent a match."""
    rng = np.random.default_rng(3)
    n = 20_000
    raw = rng.bytes(16 * n)
    good = ExactIndex.build("md5", raw, rng.integers(0, 5, n, dtype=np.uint32), 5)
    prefix, rest, payload = good.arrays()
    table = good.bucket_table()
    keys = np.frombuffer(raw, dtype="S16")
    q = np.concatenate([keys[rng.integers(0, n, 3000)], np.frombuffer(rng.bytes(16 * 3000), dtype="S16")])
    want = good.lookup_searchsorted(q)
    garbage = rng.integers(0, 1 << 63, len(table), dtype=np.uint64)
    garbage[-1] = np.uint64(n) << np.uint64(32)
    for wrong in (garbage, np.roll(table, 7), table[::-1].copy(), np.zeros_like(table)):
        wrong[-1] = garbage[-1]  # the shape check passes: the table is adopted as it is
        ix = ExactIndex.from_sorted("md5", prefix, rest, payload, wrong)
        assert ix.bucket_table() is wrong
        assert np.array_equal(ix.lookup(q), want)
    adopted = ExactIndex.from_sorted("md5", prefix, rest, payload, table)
    assert adopted.bucket_table() is table and np.array_equal(adopted.lookup(q), want)
    rebuilt = ExactIndex.from_sorted("md5", prefix, rest, payload, table[:-1])  # wrong shape: built again
    assert np.array_equal(rebuilt.bucket_table(), table) and np.array_equal(rebuilt.lookup(q), want)
