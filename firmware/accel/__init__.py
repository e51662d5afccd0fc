"""Accelerator backends: pick an array module (CuPy on CUDA, NumPy on CPU) and say why.

The PDQ maths is written once against the NumPy API; ``probe().xp`` is the module it runs on. CuPy is
optional and import-guarded: a machine without it (or without a working CUDA driver) gets NumPy and a reason.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Backend:
    """The array backend in use. ``name`` is "numpy" or "cupy"; ``reason`` says why it was chosen."""

    name: str
    xp: ModuleType
    reason: str
    device: str | None = None
    memory_bytes: int | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    def synchronize(self) -> None:
        """Wait for queued device work (no-op on NumPy), so timings measure the work itself."""
        if self.name == "cupy":
            self.xp.cuda.Stream.null.synchronize()

    def self_benchmark(self, seconds: float = 0.2) -> dict[str, Any]:
        """A quick throughput check of the operations PDQ relies on (float32 running sums and products,
        XOR/popcount). Small sizes: finishes in well under a second on either backend."""
        xp = self.xp
        rng = np.random.default_rng(0)
        image = xp.asarray(rng.random((512, 512), dtype=np.float32))
        words = xp.asarray(rng.integers(0, 2**63, (1 << 16, 4), dtype=np.uint64))
        query = words[:8]

        def box_pass() -> None:
            s = xp.zeros(image.shape[1], dtype=xp.float32)
            for row in range(image.shape[0]):
                xp.add(s, image[row], out=s)

        def popcount_pass() -> None:
            acc = xp.zeros((8, words.shape[0]), dtype=xp.uint16)
            for w in range(4):
                acc += _popcount(xp, query[:, w, None] ^ words[None, :, w])

        result: dict[str, Any] = {"backend": self.name, "device": self.device}
        for name, fn, unit in (("running_sum_rows_per_s", box_pass, image.shape[0]),
                               ("hamming_compares_per_s", popcount_pass, 8 * words.shape[0])):
            fn()
            self.synchronize()
            n, t0 = 0, time.perf_counter()
            while True:
                fn()
                n += 1
                self.synchronize()
                elapsed = time.perf_counter() - t0
                if elapsed >= seconds / 2:
                    break
            result[name] = round(n * unit / elapsed)
        return result


def _popcount(xp: ModuleType, x: Any) -> Any:
    if hasattr(xp, "bitwise_count"):
        return xp.bitwise_count(x)
    # CuPy before 13 lacks bitwise_count: SWAR popcount on uint64.
    u = np.uint64
    x = x - ((x >> u(1)) & u(0x5555555555555555))
    x = (x & u(0x3333333333333333)) + ((x >> u(2)) & u(0x3333333333333333))
    x = (x + (x >> u(4))) & u(0x0F0F0F0F0F0F0F0F)
    return ((x * u(0x0101010101010101)) >> u(56)).astype(xp.uint16)


def _numpy(reason: str) -> Backend:
    return Backend("numpy", np, reason, device="cpu")


def probe(prefer: str | None = None) -> Backend:
    """``prefer`` (or ``$GAPSCAN_ACCEL``): "cupy" (alias "cuda"), "numpy" or None for automatic."""
    prefer = prefer or os.environ.get("GAPSCAN_ACCEL") or None
    if prefer == "numpy":
        return _numpy("numpy requested")
    try:
        import cupy  # type: ignore[import-not-found]
    except ImportError:
        return _numpy("CuPy is not installed: running on the CPU with NumPy")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
        if count < 1:
            return _numpy("CuPy is installed but no CUDA device is present")
        props = cupy.cuda.runtime.getDeviceProperties(0)
        free, total = cupy.cuda.runtime.memGetInfo()
        cupy.zeros(1).sum()  # a kernel actually runs: the driver and toolkit match
    except Exception as exc:  # driver missing or broken: say so, fall back
        return _numpy(f"CUDA unusable ({type(exc).__name__}: {exc}): running on the CPU")
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    return Backend("cupy", cupy, f"CUDA device 0 of {count}", device=name, memory_bytes=int(total),
                   facts={"free_bytes": int(free)})
