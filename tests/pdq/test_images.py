"""Image formats found on real drives, and hostile files: every failure is an ImageError naming the problem."""

from __future__ import annotations

import contextlib
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from appliance.hashing import images, pdq
from appliance.hashing.images import decode_rgb, open_image
from tests.pdq.conftest import bridge_bytes, encode, textured


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny valid-looking PNG whose header claims a huge canvas (a decompression bomb's shape)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + \
        chunk(b"IEND", b"")


@pytest.mark.parametrize(("w", "h"), [(100_000, 100_000), (20_000, 6_000), (70_000, 10)])
def test_decompression_bombs_are_refused_from_the_header_without_decoding(w: int, h: int) -> None:
    with pytest.raises(pdq.ImageError, match=r"decompression bomb|decoding limit"):
        decode_rgb(_png_claiming(w, h))


def test_the_pixel_limit_is_explicit_and_adjustable() -> None:
    data = encode(textured(300, 200), "PNG")
    assert decode_rgb(data).shape == (200, 300, 3)
    with pytest.raises(pdq.ImageError, match="exceeds the decoding limit"):
        decode_rgb(data, max_pixels=50_000)
    assert images.MAX_IMAGE_PIXELS == Image.MAX_IMAGE_PIXELS == 100_000_000


def test_truncated_and_corrupt_files_are_errors(pdq_data: Path) -> None:
    jpeg = bridge_bytes(pdq_data)
    with pytest.raises(pdq.ImageError, match="truncated"):
        pdq.pdq_from_bytes(jpeg[: len(jpeg) // 3])
    with pytest.raises(pdq.ImageError, match="corrupt"):
        pdq.pdq_from_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 8)  # JPEG magic, garbage after
    png = encode(textured(64, 48), "PNG")
    with pytest.raises(pdq.ImageError):
        pdq.pdq_from_bytes(png[:40])
    with pytest.raises(pdq.ImageError, match="not a supported image type"):
        pdq.pdq_from_bytes(b"%PDF-1.4 not an image")
    with pytest.raises(pdq.ImageError, match="not a supported image type"):
        pdq.pdq_from_bytes(b"")


def test_random_garbage_behind_every_magic_never_raises_anything_but_image_error() -> None:
    rng = np.random.default_rng(7)
    magics = [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
              b"RIFF\x00\x01\x00\x00WEBPVP8 "]
    for magic in magics:
        for _ in range(5):
            data = magic + rng.integers(0, 256, int(rng.integers(0, 2000)), dtype=np.uint8).tobytes()
            with contextlib.suppress(pdq.ImageError):  # anything else propagates and fails the test
                pdq.pdq_from_bytes(data, xp=np)


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "WEBP", "GIF", "JPEG"])
def test_each_drive_format_decodes_and_hashes_near_the_source(fmt: str) -> None:
    src = textured(320, 240, seed=3)
    reference = pdq.pdq_from_image(src, xp=np)
    kw = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    data = encode(src, fmt, **kw)
    h = pdq.pdq_from_bytes(data, xp=np)
    assert h == pdq.pdq_from_rgb(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), xp=np)
    assert h.quality == reference.quality == 100
    # Lossless formats: identical pixels, identical hash. JPEG/WebP at quality 95 stay far inside the match
    # radius (31). GIF's 256-colour Floyd-Steinberg dithering of this smooth, low-detail texture moves the hash
    # about 40 bits: a real property of palette copies of smooth images, not of the decoder (the first assert
    # shows the decoded pixels hash exactly).
    limit = {"PNG": 0, "BMP": 0, "TIFF": 0, "JPEG": 16, "WEBP": 16, "GIF": 48}[fmt]
    assert h.distance(reference) <= limit


def test_gif_first_frame_is_hashed() -> None:
    first, second = textured(160, 120, seed=1), textured(160, 120, seed=2)
    buf = io.BytesIO()
    first.save(buf, format="GIF", save_all=True, append_images=[second], duration=100, loop=0)
    assert Image.open(io.BytesIO(buf.getvalue())).n_frames == 2
    got = pdq.pdq_from_bytes(buf.getvalue(), xp=np)
    want_first = pdq.pdq_from_image(Image.open(io.BytesIO(encode(first, "GIF"))), xp=np)
    assert got.distance(want_first) <= 16
    assert got.distance(pdq.pdq_from_image(second, xp=np)) > 60


def test_modes_are_converted_like_the_reference_callers_do() -> None:
    """CMYK, palette, alpha (dropped, not composited) and 16-bit greyscale go through convert("RGB")."""
    src = textured(200, 150, seed=5)
    rgba = src.copy()
    rgba.putalpha(Image.new("L", src.size, 0))  # fully transparent: the reference still hashes the colour
    cases = {
        "CMYK": encode(src.convert("CMYK"), "TIFF"),
        "P": encode(src.convert("P"), "PNG"),
        "RGBA": encode(rgba, "PNG"),
        "LA": encode(src.convert("LA"), "PNG"),
        "I;16": encode(src.convert("L").convert("I;16"), "PNG"),
    }
    for mode, data in cases.items():
        img = Image.open(io.BytesIO(data))
        assert img.mode == mode or (mode == "I;16" and img.mode.startswith("I"))
        want = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        assert pdq.pdq_from_bytes(data, xp=np) == pdq.pdq_from_rgb(want, xp=np), mode
    base = pdq.pdq_from_image(src, xp=np)
    assert pdq.pdq_from_bytes(cases["RGBA"], xp=np) == base


def test_heic_when_the_plugin_is_installed() -> None:
    if not images.heif_available():
        pytest.skip("pillow-heif is not installed: HEIC images are refused as unsupported")
    try:
        data = encode(textured(256, 192, seed=4), "HEIF", quality=90)
    except (KeyError, OSError, ValueError) as exc:
        pytest.skip(f"this libheif has no HEVC encoder to make a test file: {exc}")
    assert open_image(data).format in ("HEIF", "HEIC")
    h = pdq.pdq_from_bytes(data, xp=np)
    assert h.distance(pdq.pdq_from_image(textured(256, 192, seed=4), xp=np)) <= 24


def test_exif_orientation_is_ignored_like_the_reference(pdq_data: Path, references: list) -> None:
    by_path = {r.path: r for r in references}
    for name in ("exif-rotn-1", "exif-rotn-3"):
        ref = by_path[f"images/reg-test-input/exif-rotn/{name}.jpg"]
        img = open_image((pdq_data / ref.path).read_bytes())
        assert img.size == (4032, 3024)  # stored pixels, not rotated by the EXIF tag
