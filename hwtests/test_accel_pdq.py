"""PDQ on the CUDA backend (CuPy) gives the same bits as NumPy on the CPU on the reference vectors.

Skips cleanly where CuPy or a CUDA device is absent. Run: ``.venv/bin/pytest -q hwtests/test_accel_pdq.py``
(after ``pip install -e .[cuda]`` on a machine with an NVIDIA GPU).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from appliance.hashing import pdq
from appliance.hashing.canaries import PDQ_CANARIES
from appliance.hashing.images import decode_rgb, rgb_array
from firmware.accel import probe

pytestmark = pytest.mark.hw

PDQ_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "testdata" / "pdq"


@pytest.fixture(scope="module")
def cupy():
    backend = probe()
    if backend.name != "cupy":
        pytest.skip(f"no CUDA backend: {backend.reason}")
    return backend.xp


def _references() -> list[list[str]]:
    if not (PDQ_DATA / "expected.tsv").is_file():
        pytest.skip(f"reference vectors missing at {PDQ_DATA}")
    lines = (PDQ_DATA / "expected.tsv").read_text().splitlines()
    return [line.split("\t") for line in lines if line and not line.startswith("#")]


def test_gpu_hashes_equal_cpu_hashes_bit_for_bit_on_the_reference_vectors(cupy) -> None:
    for row in _references():
        rgb = rgb_array(Image.open(PDQ_DATA / row[0]))
        gpu = pdq.dihedral_hashes(rgb, xp=cupy)
        cpu = pdq.dihedral_hashes(rgb, xp=np)
        assert gpu == cpu, row[0]
        assert gpu[0].hex == row[1] and gpu[0].quality == int(row[2]), row[0]
        assert [h.hex for h in gpu] == row[3].split(","), row[0]


def test_gpu_batches_equal_cpu_and_canaries_pass(cupy) -> None:
    rows = [r for r in _references() if "bridge-mods" in r[0] and "square" not in r[0]][:8]
    rgbs = [decode_rgb((PDQ_DATA / r[0]).read_bytes()) for r in rows]
    gpu = pdq.pdq_batch(rgbs, xp=cupy)
    cpu = pdq.pdq_batch(rgbs, xp=np)
    for (gh, gq), (ch, cq), r in zip(gpu, cpu, rows, strict=True):
        assert gh.tobytes() == ch.tobytes() and gq == cq, r[0]
    for c in PDQ_CANARIES:
        h = pdq.pdq_from_bytes(c.data, xp=cupy)
        assert (h.hex, h.quality) == (c.pdq, c.pdq_quality), c.name


def test_probe_reports_the_device_and_self_benchmark_runs(cupy) -> None:
    backend = probe()
    assert backend.device and backend.memory_bytes and backend.memory_bytes > 0
    result = backend.self_benchmark(seconds=0.2)
    assert result["backend"] == "cupy" and result["hamming_compares_per_s"] > 0
