"""Self-test canaries: deterministic generated files with their known digests and PDQ hashes.

The images are drawn with integer arithmetic only (no RNG, no libm) and stored as uncompressed 24-bit BMP,
which Pillow writes byte-for-byte the same everywhere, so the expected values below are constants. The PDQ
values were checked against Meta's C++ reference (PyPI ``pdqhash`` 0.2.8) when they were recorded; the test
suite checks that gapscan reproduces them, and the daemon's self-test runs them on the active backend.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True, slots=True)
class Canary:
    """One generated file: its bytes and what every digest of it must be (``pdq`` None: not an image)."""

    name: str
    data: bytes
    md5: str
    sha1: str
    sha256: str
    pdq: str | None = None
    pdq_quality: int | None = None


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:h, 0:w]
    return y.astype(np.int64), x.astype(np.int64)


def _draw(name: str) -> np.ndarray:
    """(H, W, 3) uint8 pixels of a named pattern."""
    if name == "checker-gradient":
        y, x = _grid(192, 256)
        r = (x * 255) // 255
        g = ((x // 32 + y // 32) % 2) * 200 + 20
        b = (y * 3) % 256
    elif name == "rings":
        y, x = _grid(240, 320)
        d2 = (x - 160) ** 2 + (y - 120) ** 2
        r = (d2 // 97) % 256
        g = (d2 // 53 + x) % 256
        b = (255 - r + y) % 256
    elif name == "diagonal-bands":
        y, x = _grid(300, 200)
        r = ((x + 2 * y) // 25 % 2) * 255
        g = ((3 * x - y) % 256)
        b = (x * y // 97) % 256
    elif name == "near-flat":  # almost no gradient: quality far below 50, hashed but never a perceptual hit
        y, x = _grid(128, 128)
        r = 120 + (x // 64)
        g = 120 + (y // 64)
        b = np.full_like(x, 121)
    else:
        raise KeyError(name)
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def _bmp(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="BMP")
    return buf.getvalue()


def _blob() -> bytes:
    """A non-image file (digests only): a fixed byte pattern."""
    return bytes((i * 7 + (i >> 8)) & 0xFF for i in range(4096))


# name -> (md5, sha1, sha256, pdq hex, quality); recorded once, see the module docstring.
_EXPECTED: dict[str, tuple[str, str, str, str | None, int | None]] = {
    "checker-gradient": ("858367f86da6c9a345048c08beb36b4e", "cfc57a75bbdaf25868d2e06ba69423e88a7cf3f4",
                         "6e67c3df9a448f9c9cff5e8fd1ea789803ede63802c5611e5e8d28946481a292",
                         "aaffff2a00d5ff2aa8d500d500d500d580d500d5ff2aff2a80d5ff2a00d5ff2a", 100),
    "rings": ("cbf8de2497e359aad1b3d01201247cf5", "143e4b1c9428a09daa73cc64460f0cffecc6ef37",
              "e854b9b2ef45d48994216956c2b050ae10d80682f10d48fc602b7d86b77db3b5",
              "9cf928e6f4e6a39a92e69b1993397c7150b9e1c652f9890eabe4c4bcad040bb4", 100),
    "diagonal-bands": ("d52e112db1d898797758383303a4c433", "4bad9b088d3e4e3a1b202760af21194b71cda4c5",
                       "f69fbdb21f35c27bbf14e5d63b47d3931909155dc15ccccad480c51e785ed345",
                       "50ddb62f50aafa7710a97c2555e916449caf422064abfe00eb45aba5eff0555a", 100),
    "near-flat": ("f338c37b8cc4af6b26217fa5c1416478", "fb71a9e9821b8ad3c9bb9658a0abd397ce26be7a",
                  "3b88aa51b0a84f01b5d3547054fa404054fd52bbea206f9ca8617c19a85c8f94",
                  "99993333aab49999c6e4333399996666e6c433333333cccccccc999933339999", 0),
    "blob": ("32696fd7d176a4abe51ef096a885fa89", "e3f92a7f0d923c8e43352f9cea7da0c26fb7829b",
             "d24ac44c83cce842b67a82d2f77bcbe5e41dbd555605c92832d609e29c5a997c", None, None),
}


@lru_cache(maxsize=1)
def canaries() -> list[Canary]:
    out = []
    for name in ("checker-gradient", "rings", "diagonal-bands", "near-flat", "blob"):
        data = _blob() if name == "blob" else _bmp(_draw(name))
        md5, sha1, sha256, pdq_hex, quality = _EXPECTED[name]
        out.append(Canary(name, data, md5, sha1, sha256, pdq_hex, quality))
    return out


def _record() -> None:  # pragma: no cover - used once to fill _EXPECTED
    from appliance.hashing.pdq import pdq_from_bytes

    for name in ("checker-gradient", "rings", "diagonal-bands", "near-flat", "blob"):
        data = _blob() if name == "blob" else _bmp(_draw(name))
        h = None if name == "blob" else pdq_from_bytes(data)
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        sha1 = hashlib.sha1(data, usedforsecurity=False).hexdigest()
        print(f"    {name!r}: ({md5!r}, {sha1!r},")
        print(f"        {hashlib.sha256(data).hexdigest()!r},")
        print(f"        {h.hex if h else None!r}, {h.quality if h else None!r}),")


#: Every canary (images and a plain blob), as the daemon's self-test consumes them.
CANARIES: list[Canary] = canaries()
#: The image canaries: known PDQ hex and quality.
PDQ_CANARIES: list[Canary] = [c for c in CANARIES if c.pdq is not None]
