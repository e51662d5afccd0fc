"""Accelerator backends: pick an array module (CuPy on CUDA, NumPy on CPU) and say why.

The PDQ maths is written once against the NumPy API; ``probe().xp`` is the module it runs on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Backend:
    name: str  # "cuda" | "numpy"
    xp: ModuleType
    reason: str
    device: str | None = None
    memory_bytes: int | None = None
    facts: dict[str, Any] = field(default_factory=dict)


def _numpy(reason: str) -> Backend:
    return Backend("numpy", np, reason, device="cpu")


def probe(prefer: str | None = None) -> Backend:
    """``prefer`` (or ``$GAPSCAN_ACCEL``): "cuda", "numpy" or None for automatic."""
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
    except Exception as exc:  # driver missing or broken: say so, fall back
        return _numpy(f"CUDA unusable ({type(exc).__name__}: {exc}): running on the CPU")
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    return Backend("cuda", cupy, f"CUDA device 0 of {count}", device=name, memory_bytes=int(total),
                   facts={"free_bytes": int(free)})
