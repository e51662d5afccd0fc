"""PDQ matching at scale: gapscan's PdqIndex (multi-index hashing, brute force) vs faiss binary indexes.

N random listed hashes plus planted near-duplicates (each query is a listed hash with 0–48 bits flipped).
Reports build time, memory, queries/s at radius 31 and recall against exact brute force, all single-threaded
in one run on one machine. Usage:

    .venv/bin/python bench/pdq_match.py --n 10000000 --queries 1000
    (needs the bench extra: pip install -e .[bench])
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from appliance.hashlist.pdq_index import PdqIndex


def planted_queries(hashes: np.ndarray, m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    targets = rng.integers(0, len(hashes), m)
    flips = rng.integers(0, 49, m)
    bits = np.unpackbits(hashes[targets], axis=1)
    for i, f in enumerate(flips):
        bits[i, rng.choice(256, int(f), replace=False)] ^= 1
    return np.packbits(bits, axis=1), flips


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    """CPU seconds of this process (every index runs on one thread): robust on a shared, loaded machine."""
    t0 = time.process_time()
    out = fn()
    return out, time.process_time() - t0


def as_pairs(results: list[tuple[int, int, int]]) -> set[tuple[int, int]]:
    return {(q, e) for q, e, _d in results}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000, help="listed hashes (default 10^7)")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--brute-queries", type=int, default=50, help="queries for the (slow) brute-force truth")
    ap.add_argument("--radius", type=int, default=31)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    hashes = rng.integers(0, 256, (args.n, 32), dtype=np.uint8)
    queries, flips = planted_queries(hashes, args.queries, rng)
    payload = np.arange(args.n, dtype=np.uint32)
    r = args.radius
    print(f"N={args.n:,} listed, {args.queries} queries (planted 0-48 bit flips), radius {r}, 1 thread, "
          "times in CPU seconds")
    rows = []

    mih, build_s = timed(lambda: PdqIndex.build(hashes, payload, strategy="mih"))
    res, s = timed(lambda: mih.search(queries, r))
    mih_pairs = as_pairs(res)  # type: ignore[arg-type]
    rows.append(("gapscan PdqIndex mih", build_s, mih.nbytes, args.queries / s, mih_pairs))

    brute = PdqIndex.build(hashes, payload, strategy="brute")
    bq = queries[: args.brute_queries]
    truth_res, s = timed(lambda: brute.search(bq, r))
    truth = as_pairs(truth_res)  # type: ignore[arg-type]
    rows.append(("gapscan PdqIndex brute", 0.0, brute.nbytes, len(bq) / s, truth))

    try:
        import faiss
    except ImportError:
        faiss = None
        print("faiss-cpu not installed: pip install -e .[bench]")
    if faiss is not None:
        faiss.omp_set_num_threads(1)

        def faiss_pairs(index: object, qs: np.ndarray) -> set[tuple[int, int]]:
            lims, _d, ids = index.range_search(qs, r + 1)  # faiss binary range search keeps d < radius
            return {(q, int(e)) for q in range(len(qs)) for e in ids[lims[q]:lims[q + 1]]}

        flat = faiss.IndexBinaryFlat(256)
        _, build_s = timed(lambda: flat.add(hashes))
        pairs, s = timed(lambda: faiss_pairs(flat, bq))
        rows.append(("faiss IndexBinaryFlat", build_s, args.n * 32, len(bq) / s, pairs))

        multi = faiss.IndexBinaryMultiHash(256, 16, 16)
        multi.nflip = r // 16  # exact for radius < 16 * (nflip + 1), like gapscan's probing
        _, build_s = timed(lambda: multi.add(hashes))
        pairs, s = timed(lambda: faiss_pairs(multi, queries))
        rows.append(("faiss IndexBinaryMultiHash", build_s, None, args.queries / s, pairs))

    truth_q = set(range(len(bq)))
    print(f"{'index':<28}{'build s':>9}{'MB':>9}{'queries/s':>12}{'recall':>9}")
    for name, build_s, nbytes, qps, pairs in rows:
        sub = {p for p in pairs if p[0] in truth_q}
        recall = len(sub & truth) / len(truth) if truth else 1.0
        mb = f"{nbytes / 1e6:.0f}" if nbytes else "-"
        print(f"{name:<28}{build_s:>9.1f}{mb:>9}{qps:>12.1f}{recall:>9.3f}")
    expected = int((flips <= r).sum())
    found = len({q for q, _e in mih_pairs})
    print(f"planted within radius: {expected}; queries with a match (mih): {found}")


if __name__ == "__main__":
    main()
