"""Fixtures for the perceptual-hashing tests: the reference vectors in ../shared/testdata/pdq."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@dataclass(frozen=True)
class Reference:
    path: str  # relative to the pdq test-data folder
    pdq: str
    quality: int
    dihedral: list[str]
    wasm: str | None


@pytest.fixture(scope="session")
def pdq_data(shared_testdata: Path) -> Path:
    return shared_testdata / "pdq"


@pytest.fixture(scope="session")
def references(pdq_data: Path) -> list[Reference]:
    rows = []
    for line in (pdq_data / "expected.tsv").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        f = line.split("\t")
        rows.append(Reference(f[0], f[1], int(f[2]), f[3].split(","), f[4] if len(f) > 4 and f[4] else None))
    assert len(rows) >= 30
    return rows


def bridge_bytes(pdq_data: Path) -> bytes:
    return (pdq_data / "images/bridge-mods/aaa-orig.jpg").read_bytes()


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def textured(w: int, h: int, seed: int = 0, detail: int = 9) -> Image.Image:
    """A smooth random texture: enough structure for quality 100, stable under resizing."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (detail, detail * 4 // 3, 3), dtype=np.uint8)
    return Image.fromarray(small, "RGB").resize((w, h), Image.Resampling.BICUBIC)
