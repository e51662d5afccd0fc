"""Agreement with Meta's reference PDQ on the ThreatExchange test images (the acceptance test).

Oracle: expected.tsv = the reference C++ hasher (PyPI pdqhash 0.2.8) applied to the pixels Pillow decodes.
Given the same pixels our exact path must reproduce every hash bit for bit, every quality exactly and all
8 dihedral variants. Result on this corpus: 32 of 32 bit-exact, 0 differences to explain. Published values
from other implementations (different JPEG decoders and resizers) are checked only for closeness.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from appliance.hashing import pdq
from appliance.hashing.images import rgb_array
from tests.pdq.conftest import Reference


def test_exact_path_reproduces_every_reference_hash_quality_and_dihedral_variant(
        pdq_data: Path, references: list[Reference]) -> None:
    mismatches = []
    for ref in references:
        rgb = rgb_array(Image.open(pdq_data / ref.path))
        variants = pdq.dihedral_hashes(rgb, xp=np)
        got = [v.hex for v in variants]
        if got[0] != ref.pdq or variants[0].quality != ref.quality or got != ref.dihedral:
            mismatches.append((ref.path, pdq.hamming(variants[0].hash, bytes.fromhex(ref.pdq)),
                               variants[0].quality, ref.quality))
    # No exceptions are needed: every difference would have to be explained here, and there is none.
    assert mismatches == []


def test_single_hash_entry_points_agree_with_the_reference(pdq_data: Path, references: list[Reference]) -> None:
    """pdq_from_bytes (sniffing + bounded decode) and pdq_from_image give the reference values too."""
    sample = ("pen-and-coaster.png", "small.jpg", "CMYK.jpg", "PA.webp", "I.webp", "1.png", "square-128x128.jpg",
              "shrink-a-little.jpg", "bridge-2-rotate-90.jpg")
    for ref in references:
        if not ref.path.endswith(sample):  # the dihedral test above covers every image; keep this one quick
            continue
        data = (pdq_data / ref.path).read_bytes()
        h = pdq.pdq_from_bytes(data, xp=np)
        assert (h.hex, h.quality) == (ref.pdq, ref.quality), ref.path
    img = Image.open(pdq_data / references[0].path)
    assert pdq.pdq_from_image(img, xp=np).hex == references[0].pdq


def test_python_threatexchange_images_match_their_published_hash_and_quality(pdq_data: Path) -> None:
    """16-bit greyscale (quality 36: a low-quality image), LA and RGB test images of python-threatexchange."""
    published = {}
    for line in (pdq_data / "expected.txt").read_text().splitlines():
        f = line.split("\t")
        if f[0].startswith("images/python-threatexchange/"):
            published[f[0]] = (f[1], int(f[2]))
    assert len(published) == 3
    for path, (hx, quality) in published.items():
        h = pdq.pdq_from_bytes((pdq_data / path).read_bytes(), xp=np)
        assert (h.hex, h.quality) == (hx, quality), path


def test_values_published_by_other_implementations_are_close(pdq_data: Path,
                                                              references: list[Reference]) -> None:
    """The C++/Java tools' published outputs used other JPEG decoders: a few bits apart, never far."""
    ours = {r.path: r.pdq for r in references}
    distances = []
    for line in (pdq_data / "expected.txt").read_text().splitlines():
        f = line.split("\t")
        if f[0] in ours:
            distances.append(pdq.hamming(bytes.fromhex(f[1]), bytes.fromhex(ours[f[0]])))
    assert len(distances) >= 15
    assert max(distances) <= 10
    for r in references:
        if r.wasm:
            assert pdq.hamming(bytes.fromhex(r.wasm), bytes.fromhex(r.pdq)) <= 10


def test_rotated_copies_match_one_of_the_originals_dihedral_hashes(references: list[Reference]) -> None:
    by_path = {r.path: r for r in references}
    original = by_path["images/reg-test-input/dih/bridge-1-original.jpg"]
    variants = [bytes.fromhex(h) for h in original.dihedral]
    for name in ("bridge-2-rotate-90", "bridge-3-rotate-180", "bridge-4-rotate-270"):
        h = bytes.fromhex(by_path[f"images/reg-test-input/dih/{name}.jpg"].pdq)
        assert min(pdq.hamming(h, v) for v in variants) <= 10, name
        assert pdq.hamming(h, variants[0]) > 31, f"{name} must need the dihedral variants to match"


def test_every_pillow_mode_hashes_near_the_original(references: list[Reference]) -> None:
    by_path = {r.path: r for r in references}
    original = bytes.fromhex(by_path["images/misc-images/modes/original.jpg"].pdq)
    modes = [r for r in references if "/modes/" in r.path]
    assert len(modes) >= 14
    for r in modes:
        assert pdq.hamming(bytes.fromhex(r.pdq), original) <= 4, r.path


@pytest.mark.parametrize("name", ["bridge-mods/aaa-orig.jpg", "reg-test-input/dih/bridge-2-rotate-90.jpg",
                                  "bridge-mods/square-512x512.jpg", "bridge-mods/shrink-a-little.jpg"])
def test_fast_path_stays_within_a_few_bits_of_the_exact_hash(pdq_data: Path, references: list[Reference],
                                                              name: str) -> None:
    """Fast path = JPEG luminance decoded at 1/2–1/8 scale in the DCT domain, with the full-resolution Jarosz
    filter emulated on it (bench/pdq_throughput.py measures it on 500 generated 1080p JPEGs)."""
    from appliance.hashing.images import decode_luma_fast

    ref = next(r for r in references if r.path == f"images/{name}")
    data = (pdq_data / ref.path).read_bytes()
    luma, full = decode_luma_fast(data)
    assert luma.shape[0] < full[0] and luma.shape[1] < full[1]  # really decoded at a reduced scale
    fast = pdq.pdq_from_bytes(data, xp=np, exact=False)
    assert fast.distance(bytes.fromhex(ref.pdq)) <= 4
    assert fast.quality == ref.quality


def test_hex_is_bit_255_first_and_bit_i16_plus_j_is_dct_row_i_column_j() -> None:
    # DCT values 0..255 in row-major order: the lower median is 127, so bits 128..255 are set.
    c = np.arange(256, dtype=np.float32).reshape(1, 16, 16)
    assert pdq.bits_from_dct(c)[0].tobytes().hex() == "ff" * 16 + "00" * 16
    # Only coefficient (0, 1) above the median → bit 1 → the last hex digit is 2.
    c = np.zeros((1, 16, 16), dtype=np.float32)
    c[0, 0, 1] = 1.0
    assert pdq.bits_from_dct(c)[0].tobytes().hex() == "0" * 63 + "2"
    assert pdq.hash_to_hex(pdq.hex_to_hash(" " + "AB" * 32 + "\n")) == "ab" * 32
    with pytest.raises(ValueError, match="64 hex"):
        pdq.hex_to_hash("abc")
    with pytest.raises(ValueError, match="not a hex"):
        pdq.hex_to_hash("zz" * 32)


def test_tiny_images_hash_to_zero_with_quality_zero() -> None:
    h = pdq.pdq_from_rgb(np.full((4, 100, 3), 200, dtype=np.uint8), xp=np)
    assert h == pdq.PdqHash(bytes(32), 0)


# Edge sizes (tiny, thin, odd, exactly 64×64): noise images from default_rng(0) in this order, with the hash
# and quality Meta's C++ (pdqhash 0.2.8 compute / compute_dihedral) gave for them when recorded.
EDGE_SIZES = [
    ((64, 64), "691b0eeb307dcdef6e00e5bdd2ec5173203502e8620bdbe0a0dec9bab309ee49", 100),
    ((5, 5), "93a43b0e6c5be4f961d86e5b91a491a46e1f9b2693a43b0e6c5b64d921c86e5b", 100),
    ((6, 100), "4872797d6f25a9b54872576990da0482b78d3e4e90dac1b148727b7d6f25a8b5", 100),
    ((100, 6), "e94ef81f259203e19e3852b5cb6916b58d4ada6dad1a16b193399b39ad4a3592", 100),
    ((63, 65), "881213f19575cd81bd097765699c3c7b283e9b34bf51bc617b14436bc9c68bd0", 100),
    ((129, 257), "9e09e6c7a8364f58148842ab96f6c5f3f5296093fd5b87842dd9c175ea28f870", 100),
    ((1000, 7), "3b846d693b843ad049259b24b47ad7c36d29c6d39f20cd29e18fc32779cd612d", 100),
]


def test_edge_sizes_match_the_reference_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    for shape, hx, quality in EDGE_SIZES:
        img = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        assert pdq.pdq_from_rgb(img, xp=np) == pdq.PdqHash(bytes.fromhex(hx), quality), shape
        assert pdq.dihedral_hashes(img, xp=np)[0].hex == hx, shape
