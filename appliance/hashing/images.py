"""Bounded image decoding for perceptual hashing: hostile files become :class:`ImageError`, never a crash.

Limits are explicit and checked from the header before any pixel is decoded: a decompression bomb (a small file
that claims a huge canvas) is refused without allocating. Truncated files are refused rather than padded
(``ImageFile.LOAD_TRUNCATED_IMAGES`` stays False). Pixels are converted the way the PDQ reference's callers do:
``Image.convert("RGB")`` of the first frame, EXIF orientation ignored (the stored pixels are hashed).
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from appliance.hashing.filetype import sniff
from appliance.hashing.pdq import ImageError

#: Largest canvas decoded (width × height). 100 MP covers any camera; beyond it the file is refused.
MAX_IMAGE_PIXELS = 100_000_000
#: Largest side accepted, whatever the pixel count (guards very long thin images).
MAX_IMAGE_SIDE = 65_535
#: Formats Pillow may try: those found on real drives. Everything else is refused by type.
DECODE_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP", "HEIF", "MPO")
#: Sniffed MIME types we decode as images.
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/bmp", "image/tiff", "image/webp",
                         "image/heic"})
#: Fast-path JPEG decodes are reduced (DCT scaling 1/2..1/8) but kept at least this large on the short side.
FAST_MIN_SIDE = 256

ImageFile.LOAD_TRUNCATED_IMAGES = False
# Pillow's own bomb guard, set to our limit: it errors at twice this at open; we refuse above it before
# decoding (open_image), so its warning between the two is redundant noise.
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def heif_available() -> bool:
    """Register the HEIC/HEIF plugin (pillow-heif) if it is installed; say whether it is."""
    try:
        from pillow_heif import register_heif_opener  # type: ignore[import-not-found]
    except ImportError:
        return False
    register_heif_opener()
    return True


_HEIF = heif_available()
Image.init()  # load every plugin so the format allow-list below refers to registered decoders
_FORMATS = tuple(f for f in DECODE_FORMATS if f in Image.OPEN)


def supported_types() -> frozenset[str]:
    return IMAGE_TYPES if _HEIF else IMAGE_TYPES - {"image/heic"}


def open_image(data: bytes, *, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Open (header only) and check limits. Raises :class:`ImageError` naming the problem."""
    kind = sniff(data[:64])
    if kind not in supported_types():
        raise ImageError(f"not a supported image type ({kind or 'unknown magic bytes'})")
    try:
        img = Image.open(io.BytesIO(data), formats=_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageError(f"decompression bomb refused: {exc}") from None
    except UnidentifiedImageError:
        raise ImageError(f"corrupt or unreadable {kind} image") from None
    except Exception as exc:  # Pillow raises many types for hostile headers; all mean "this file is bad"
        raise ImageError(f"corrupt {kind} image: {type(exc).__name__}: {exc}") from None
    w, h = img.size
    if w <= 0 or h <= 0 or w > MAX_IMAGE_SIDE or h > MAX_IMAGE_SIDE or w * h > max_pixels:
        raise ImageError(f"image of {w}×{h} pixels exceeds the decoding limit ({max_pixels} pixels, "
                         f"{MAX_IMAGE_SIDE} a side): refused as a possible decompression bomb")
    return img


def rgb_array(img: Image.Image) -> np.ndarray:
    """First frame as (H, W, 3) uint8, converted like ``Image.convert("RGB")`` (CMYK, palette, alpha, 16-bit)."""
    with contextlib.suppress(EOFError, AttributeError):
        img.seek(0)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8)


def decode_rgb(data: bytes, *, fast: bool = False, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode bytes to (H, W, 3) uint8 RGB within the limits.

    ``fast``: JPEGs are decoded at a reduced scale in the DCT domain (Pillow ``draft``), at least
    :data:`FAST_MIN_SIDE` on the short side, which is several times quicker than a full decode.
    """
    img = open_image(data, max_pixels=max_pixels)
    try:
        if fast and img.format == "JPEG" and img.mode in ("RGB", "L", "YCbCr"):
            w, h = img.size
            scale = max(1, min(8, min(w, h) // FAST_MIN_SIDE))
            if scale > 1:
                img.draft("RGB", (w // scale, h // scale))
        img.load()
        return rgb_array(img)
    except ImageError:
        raise
    except MemoryError:
        raise ImageError("image too large to decode in memory") from None
    except Exception as exc:  # Pillow raises many types for hostile data; all mean "this file is bad"
        raise ImageError(f"corrupt {img.format or 'image'} data: {type(exc).__name__}: {exc}") from None


def decode_luma_fast(data: bytes, *,
                     max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[np.ndarray, tuple[int, int]] | None:
    """Fast path for JPEG: the Y channel decoded at a reduced scale in the DCT domain (no chroma decoding,
    no colour conversion), as (h, w) float32, with the full (H, W). JPEG's Y is 0.299 R + 0.587 G + 0.114 B,
    so this is PDQ's luminance up to the codec's rounding. ``None`` for anything that is not a plain JPEG."""
    img = open_image(data, max_pixels=max_pixels)
    if img.format != "JPEG" or img.mode not in ("RGB", "L", "YCbCr"):
        return None
    try:
        w, h = img.size
        scale = max(1, min(8, min(w, h) // FAST_MIN_SIDE))
        img.draft("L", (w // scale, h // scale))
        img.load()
        if img.mode != "L":
            return None
        return np.asarray(img, dtype=np.float32), (h, w)
    except MemoryError:
        raise ImageError("image too large to decode in memory") from None
    except Exception as exc:  # Pillow raises many types for hostile data; all mean "this file is bad"
        raise ImageError(f"corrupt JPEG data: {type(exc).__name__}: {exc}") from None
