"""PDQ hashing throughput: gapscan's exact and fast paths vs PyPI ``pdqhash`` (Meta's C++) and ``imagehash.phash``.

Corpora: the reference images (../shared/testdata/pdq) and COUNT generated 1920×1080 JPEGs (varied content and
quality). Every method includes decoding from JPEG bytes in memory, single-threaded (images per CPU second,
i.e. per core; the GPU row is wall-clock with all cores decoding).
Distances to ``pdqhash`` (mean / 99th percentile / max bits) show what each gapscan path gives up. With a CUDA
backend the fast path is also run batched on the GPU with decoding on a CPU thread pool.

    .venv/bin/python bench/pdq_throughput.py --count 500 [--exact-count 50]
    (needs the bench extra: pip install -e .[bench])
"""

from __future__ import annotations

import argparse
import io
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from appliance.hashing import pdq
from appliance.hashing.images import decode_luma_fast
from firmware.accel import probe

HERE = Path(__file__).resolve().parent
REFERENCE = HERE.parent.parent / "shared" / "testdata" / "pdq"


def generate_jpegs(count: int, seed: int = 0, size: tuple[int, int] = (1920, 1080)) -> list[bytes]:
    """Varied synthetic photos: smooth random fields of different scales, shapes, text-like strokes, noise,
    blur, and JPEG qualities 60–95."""
    rng = np.random.default_rng(seed)
    w, h = size
    out = []
    for _ in range(count):
        grid = int(rng.integers(4, 40))
        field = rng.integers(0, 256, (grid, grid * 16 // 9 + 1, 3), dtype=np.uint8)
        img = Image.fromarray(field, "RGB").resize(size, Image.Resampling.BICUBIC)
        draw = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(3, 25))):
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            x1, y1 = x0 + int(rng.integers(20, w // 2)), y0 + int(rng.integers(20, h // 2))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            shape = int(rng.integers(0, 3))
            if shape == 0:
                draw.rectangle((x0, y0, x1, y1), fill=colour)
            elif shape == 1:
                draw.ellipse((x0, y0, x1, y1), fill=colour)
            else:
                draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(2, 30)))
        if rng.random() < 0.3:
            img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(1, 6))))
        arr = np.asarray(img, dtype=np.int16) + rng.normal(0, float(rng.uniform(0, 8)), (h, w, 1)).astype(np.int16)
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=int(rng.integers(60, 96)))
        out.append(buf.getvalue())
    return out


def reference_images() -> list[bytes]:
    rows = [line.split("\t")[0] for line in (REFERENCE / "expected.tsv").read_text().splitlines()
            if line and not line.startswith("#")]
    return [(REFERENCE / r).read_bytes() for r in rows]


def method_pdqhash() -> Callable[[bytes], str] | None:
    try:
        import pdqhash
    except ImportError:
        return None

    def run(data: bytes) -> str:
        rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        vector, _quality = pdqhash.compute(rgb)
        return np.packbits(vector.astype(np.uint8)).tobytes().hex()

    return run


def method_phash() -> Callable[[bytes], str] | None:
    try:
        import imagehash
    except ImportError:
        return None
    return lambda data: str(imagehash.phash(Image.open(io.BytesIO(data))))


def measure(fn: Callable[[bytes], str], corpus: list[bytes]) -> tuple[list[str], float]:
    """Images per CPU second of this (single-threaded) process: robust on a shared, loaded machine."""
    fn(corpus[0])  # warm caches, lazy imports
    t0 = time.process_time()
    out = [fn(d) for d in corpus]
    return out, len(corpus) / (time.process_time() - t0)


def stats(a: list[str], b: list[str]) -> str:
    d = np.array([pdq.hamming(bytes.fromhex(x), bytes.fromhex(y)) for x, y in zip(a, b, strict=True)])
    return f"mean {d.mean():.2f}  p99 {np.percentile(d, 99):.0f}  max {d.max()}  exact-equal {np.mean(d == 0):.0%}"


def gpu_batched(corpus: list[bytes], xp: object, batch: int, workers: int) -> tuple[list[str], float]:
    """Fast path with decoding on a CPU thread pool and hashing in batches on the GPU (pipelined)."""
    def decode(data: bytes) -> tuple[np.ndarray, tuple[int, int]]:
        fast = decode_luma_fast(data)
        assert fast is not None
        return fast

    out: list[str] = []
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        lumas = pool.map(decode, corpus)
        pending: list[tuple[np.ndarray, tuple[int, int]]] = []
        for luma in lumas:
            pending.append(luma)
            if len(pending) == batch:
                out += _hash_batch(pending, xp)
                pending = []
        if pending:
            out += _hash_batch(pending, xp)
    return out, len(corpus) / (time.perf_counter() - t0)


def _hash_batch(lumas: list[tuple[np.ndarray, tuple[int, int]]], xp: object) -> list[str]:
    groups: dict[tuple[tuple[int, ...], tuple[int, int]], list[int]] = {}
    for i, (luma, full) in enumerate(lumas):
        groups.setdefault((luma.shape, full), []).append(i)
    out = [""] * len(lumas)
    for (_shape, full), idx in groups.items():
        stack = xp.asarray(np.stack([lumas[i][0] for i in idx]))  # type: ignore[attr-defined]
        hashes, _q = pdq.hash_luma_batch(stack, xp, exact=False, full_size=full)
        for k, i in enumerate(idx):
            out[i] = hashes[k].tobytes().hex()
    return out


def run_corpus(name: str, corpus: list[bytes], exact_count: int, backend: object) -> None:
    print(f"\n== {name}: {len(corpus)} images (exact path on the first {min(exact_count, len(corpus))}) ==")
    peers = {"pdqhash (Meta C++)": method_pdqhash(), "imagehash.phash": method_phash()}
    results: dict[str, tuple[list[str], float, int]] = {}
    sub = corpus[:exact_count]
    hx, rate = measure(lambda d: pdq.pdq_from_bytes(d, xp=np).hex, sub)
    results["gapscan exact (numpy)"] = (hx, rate, len(sub))
    hx, rate = measure(lambda d: pdq.pdq_from_bytes(d, xp=np, exact=False).hex, corpus)
    results["gapscan fast (numpy)"] = (hx, rate, len(corpus))
    for peer, fn in peers.items():
        if fn is None:
            print(f"{peer}: not installed (pip install -e .[bench])")
            continue
        hx, rate = measure(fn, corpus)
        results[peer] = (hx, rate, len(corpus))
    if getattr(backend, "name", "") == "cupy":
        hx, rate = gpu_batched(corpus, backend.xp, 256, os.cpu_count() or 4)  # type: ignore[attr-defined]
        results[f"gapscan fast (cupy, batched, {os.cpu_count()} decode threads)"] = (hx, rate, len(corpus))
    ref = results.get("pdqhash (Meta C++)")
    print(f"{'method':<58}{'images/s':>10}   distance to pdqhash")
    for method, (hx, rate, n) in results.items():
        dist = ""
        if ref is not None and not method.startswith(("pdqhash", "imagehash")):
            dist = stats(hx, ref[0][:n])
        print(f"{method:<58}{rate:>10.1f}   {dist}")
    if ref is not None:
        fast = results["gapscan fast (numpy)"][1]
        print(f"fast path / pdqhash images/s per core: {fast / ref[1]:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=500, help="generated 1920x1080 JPEGs (default 500)")
    ap.add_argument("--exact-count", type=int, default=100,
                    help="images the (slow, reference-exact) path runs on (default 100)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    backend = probe()
    print(f"backend: {backend.name} ({backend.reason}); device {backend.device}")
    if REFERENCE.is_dir():
        run_corpus("reference images", reference_images(), args.exact_count, backend)
    t0 = time.perf_counter()
    corpus = generate_jpegs(args.count, args.seed)
    print(f"\n(generated {len(corpus)} JPEGs in {time.perf_counter() - t0:.1f} s, "
          f"{sum(map(len, corpus)) / len(corpus) / 1e3:.0f} kB average)")
    run_corpus("generated 1920x1080 JPEGs", corpus, args.exact_count, backend)


if __name__ == "__main__":
    main()
