"""The accelerator probe and the self-test canaries (CPU; the GPU half lives in hwtests/)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from appliance.hashing import pdq
from appliance.hashing.canaries import CANARIES, PDQ_CANARIES
from firmware.accel import probe


def test_probe_falls_back_to_numpy_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = probe("numpy")
    assert (backend.name, backend.xp, backend.device) == ("numpy", np, "cpu")
    assert backend.reason
    auto = probe()
    assert auto.name in ("numpy", "cupy") and auto.reason
    if auto.name == "numpy":
        assert "CPU" in auto.reason or "requested" in auto.reason


def test_self_benchmark_is_quick_and_reports_throughput() -> None:
    result = probe("numpy").self_benchmark(seconds=0.1)
    assert result["backend"] == "numpy"
    assert result["running_sum_rows_per_s"] > 0 and result["hamming_compares_per_s"] > 0


def test_canaries_reproduce_their_recorded_digests_and_pdq() -> None:
    assert len(CANARIES) >= 4 and len(PDQ_CANARIES) >= 3
    assert any(c.pdq is None for c in CANARIES)
    assert any(c.pdq_quality is not None and c.pdq_quality < pdq.QUALITY_THRESHOLD for c in PDQ_CANARIES)
    for c in CANARIES:
        assert hashlib.md5(c.data, usedforsecurity=False).hexdigest() == c.md5, c.name
        assert hashlib.sha1(c.data, usedforsecurity=False).hexdigest() == c.sha1, c.name
        assert hashlib.sha256(c.data).hexdigest() == c.sha256, c.name
    for c in PDQ_CANARIES:
        h = pdq.pdq_from_bytes(c.data, xp=np)
        assert (h.hex, h.quality) == (c.pdq, c.pdq_quality), c.name


def test_batched_hashing_equals_one_by_one() -> None:
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in
            [(120, 90, 3), (120, 90, 3), (64, 64, 3), (300, 200, 3), (120, 90, 3)]]
    batch = pdq.pdq_batch(imgs, xp=np)
    for img, (h, q) in zip(imgs, batch, strict=True):
        assert pdq.pdq_from_rgb(img, xp=np) == pdq.PdqHash(h.tobytes(), q)


def test_batch_hasher_batches_concurrent_images_and_returns_each_its_own_hash() -> None:
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(1)
    lumas = [rng.random(shape, dtype=np.float32) * 255 for shape in [(90, 120)] * 12 + [(200, 150)] * 4]
    batcher = pdq.BatchHasher(np, max_batch=8, max_wait=0.05)
    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(lambda luma: batcher.hash(luma, dihedral=True), lumas))
    for luma, (hashes, quality) in zip(lumas, got, strict=True):
        want, wq = pdq.hash_luma_batch(luma[None], np, dihedral=True)
        assert np.array_equal(hashes, want[0]) and quality == wq[0]
    assert max(batcher.batches) > 1 and sum(batcher.batches) == len(lumas)
    with pytest.raises(ValueError):
        batcher.hash(np.zeros((10, 10, 10), dtype=np.float32))  # an error reaches the caller, not the thread
