"""The accelerator probe finds the CUDA device where there is one, and reports why not where there is not."""

from __future__ import annotations

import pytest

from firmware.accel import probe


def test_cuda_backend_is_found_and_described():
    try:
        import cupy  # noqa: F401
    except ImportError:
        pytest.skip("CuPy is not installed: no CUDA backend to check (CPU appliance)")
    backend = probe()
    if backend.name == "numpy":
        pytest.fail(f"CuPy is installed but the probe fell back to the CPU: {backend.reason}")
    assert backend.device and backend.memory_bytes and backend.memory_bytes > 1 << 30
    bench = getattr(backend, "self_benchmark", None)
    if bench is not None:
        figures = bench()
        assert figures, "self-benchmark returned nothing"
        print(f"\naccelerator {backend.device}: {figures}")
