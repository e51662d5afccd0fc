"""PDQ perceptual hash (Meta's 256-bit image hash), written once against the NumPy API.

``xp`` is the array module (``numpy`` on the CPU, ``cupy`` on CUDA; see ``firmware.accel.probe``). The exact path
reproduces the reference C++ (``pdq/cpp/hashing/pdqhashing.cpp``, as bound by PyPI ``pdqhash``) bit for bit given
the same decoded pixels, because it performs the same IEEE float32 operations in the same order:

* luminance ``0.299 R + 0.587 G + 0.114 B`` in float64, stored as float32 (what ``pdqhash.compute`` feeds the C++);
* Jarosz tent filter = two X/Y passes of a 1-D box filter whose running float32 sum is updated step by step
  (vectorised across the other axis and across a batch, never re-associated), then decimation at pixel centres;
* the 16×16 DCT ``D · A · Dᵀ`` as two matrix products, each evaluated as 64 rank-1 updates in index order so every
  output sums its 64 float32 products in the reference's order (a BLAS ``matmul`` would re-associate them);
* bit ``i*16+j`` set when ``dct[i, j]`` is above the lower median (Torben's algorithm on 256 values returns the
  128th smallest); quality from quantised gradients of the 64×64 image, ``min(100, sum // 90)``.

The fast path (``exact=False``) decodes JPEGs' luminance at 1/2–1/8 scale in the DCT domain (Pillow ``draft``)
and emulates the full-resolution filter on it (fractional windows over prefix sums, ``downsample64_reduced``);
other images get float64 prefix-sum box filters and a plain ``matmul``. On 500 generated 1080p JPEGs: mean 0.9,
p99 4, max 4 bits from the exact hash at 5× pdqhash's speed per core (bench/pdq_throughput.py).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from appliance.errors import GapscanError

#: Images smaller than this along either side hash to all-zero bits with quality 0 (as the reference does).
MIN_HASHABLE_DIM = 5
#: Below this quality a PDQ hash is recorded but never reported as a perceptual hit (the field's practice).
QUALITY_THRESHOLD = 50
#: Default match radius in bits (ThreatExchange / HMA default for PDQ).
DEFAULT_THRESHOLD = 31
HASH_BYTES = 32
#: Dihedral variants in the reference's order (``pdqDihedralHash256esFromFloatLuma``).
DIHEDRAL_NAMES = ("original", "rotate90", "rotate180", "rotate270", "flipx", "flipy", "flip_plus1", "flip_minus1")

_NUM_JAROSZ_XY_PASSES = 2


class ImageError(GapscanError):
    """An image that cannot be hashed: corrupt, truncated, too large (decompression bomb) or of an unknown type."""


@dataclass(frozen=True, slots=True)
class PdqHash:
    """A 256-bit PDQ hash (32 bytes, reference bit order) and its quality 0–100."""

    hash: bytes
    quality: int

    @property
    def hex(self) -> str:
        return self.hash.hex()

    def distance(self, other: PdqHash | bytes) -> int:
        return hamming(self.hash, other.hash if isinstance(other, PdqHash) else other)


# -- hex and bit helpers ---------------------------------------------------------------------------------------
def hash_to_hex(digest: bytes) -> str:
    """64 lowercase hex characters, most significant bit (bit 255) first, like the reference's ``toString``."""
    if len(digest) != HASH_BYTES:
        raise ValueError(f"a PDQ hash is {HASH_BYTES} bytes, not {len(digest)}")
    return digest.hex()


def hex_to_hash(text: str) -> bytes:
    """Parse 64 hex characters (any case, surrounding blanks ignored). Raises ``ValueError`` quoting the value."""
    value = text.strip().lower()
    if len(value) != 2 * HASH_BYTES:
        raise ValueError(f"a PDQ hash is 64 hex characters, got {len(value)}: {text!r}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"not a hex PDQ hash: {text!r}") from None


def hamming(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


# -- constants of the maths ------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def dct_matrix() -> np.ndarray:
    """16×64 DCT-II rows 1..16, float32, computed as the reference does (double cosine, float storage)."""
    scale = float(np.float32(math.sqrt(2.0 / 64.0)))
    i = np.arange(16, dtype=np.float64)[:, None]
    j = np.arange(64, dtype=np.float64)[None, :]
    return (scale * np.cos(((math.pi / 2.0 / 64.0) * (i + 1.0)) * (2.0 * j + 1.0))).astype(np.float32)


def jarosz_window(old: int, new: int = 64) -> int:
    """Box-filter window per pass: half of old/new, rounded up (``computeJaroszFilterWindowSize``)."""
    return (old + 2 * new - 1) // (2 * new)


def decimation_indices(n: int, out: int = 64) -> np.ndarray:
    """Source index for each output pixel, sampling at pixel centres (``decimateFloat``)."""
    return (((np.arange(out, dtype=np.float64) + 0.5) * n) / out).astype(np.int64)


def _asnumpy(a: Any) -> np.ndarray:
    return a.get() if hasattr(a, "get") else np.asarray(a)


# -- the array maths -------------------------------------------------------------------------------------------
def luma_from_rgb(rgb: Any, xp: Any = np) -> Any:
    """(…, H, W, 3) uint8 → (…, H, W) float32, rounding once from float64 like ``pdqhash.compute``."""
    rgb = xp.ascontiguousarray(xp.asarray(rgb))
    out = xp.empty(rgb.shape[:-1], dtype=xp.float32)
    rows_in, rows_out = rgb.reshape(-1, rgb.shape[-2], 3), out.reshape(-1, rgb.shape[-2])
    step = max(1, (1 << 21) // max(1, rgb.shape[-2]))  # bounded float64 temporaries (a few MB at a time)
    for start in range(0, rows_in.shape[0], step):
        block = rows_in[start:start + step]
        r, g, b = (block[..., c].astype(xp.float64) for c in range(3))
        rows_out[start:start + step] = r * 0.299 + g * 0.587 + b * 0.114
    return out


def _box_first_axis_exact(x: Any, window: int, xp: Any) -> Any:
    """1-D box filter along axis 0 of ``x`` (N, M) float32, as ``box1DFloat``: one float32 running sum per
    column, updated in the reference's order; each output is that sum divided by the current window size."""
    n = x.shape[0]
    half = (window + 2) // 2
    out = xp.empty_like(x)
    counts = np.empty(n, dtype=np.float32)
    s = xp.zeros(x.shape[1:], dtype=xp.float32)
    ri = li = oi = 0
    size = 0
    for _ in range(half - 1):  # phase 1: accumulate, no writes
        xp.add(s, x[ri], out=s)
        ri += 1
        size += 1
    for _ in range(window - half + 1):  # phase 2: growing window
        xp.add(s, x[ri], out=s)
        ri += 1
        size += 1
        out[oi] = s
        counts[oi] = size
        oi += 1
    for _ in range(n - window):  # phase 3: full window, add then subtract
        xp.add(s, x[ri], out=s)
        xp.subtract(s, x[li], out=s)
        ri += 1
        li += 1
        out[oi] = s
        counts[oi] = size
        oi += 1
    for _ in range(half - 1):  # phase 4: shrinking window
        xp.subtract(s, x[li], out=s)
        li += 1
        size -= 1
        out[oi] = s
        counts[oi] = size
        oi += 1
    shape = (n,) + (1,) * (x.ndim - 1)
    out /= xp.asarray(counts).reshape(shape)
    return out


def _box_first_axis_fast(x: Any, window: int, xp: Any) -> Any:
    """The same box filter from float64 prefix sums: no Python loop, differs from exact by a few ULPs."""
    n = x.shape[0]
    half = (window + 2) // 2
    c = xp.zeros((n + 1, *x.shape[1:]), dtype=xp.float64)
    xp.cumsum(x, axis=0, dtype=xp.float64, out=c[1:])
    o = np.arange(n)
    hi = np.minimum(o + half, n)  # exclusive right edge of output o's window
    lo = np.maximum(o + half - window, 0)
    counts = (hi - lo).astype(np.float64).reshape((n,) + (1,) * (x.ndim - 1))
    return ((c[xp.asarray(hi)] - c[xp.asarray(lo)]) / xp.asarray(counts)).astype(xp.float32)


def downsample64(luma: Any, xp: Any = np, *, exact: bool = True, passthrough_64: bool = True) -> Any:
    """(B, H, W) float32 luminance → (B, 64, 64) float32 by the Jarosz tent filter and centre decimation.

    A 64×64 input is used as it is when ``passthrough_64`` (the reference's single-hash path does that; its
    dihedral path filters it anyway, so ``dihedral=True`` hashing passes False)."""
    _, h, w = luma.shape
    if h == 64 and w == 64 and passthrough_64:
        return luma.astype(xp.float32, copy=True)
    box = _box_first_axis_exact if exact else _box_first_axis_fast
    wr, wc = jarosz_window(w), jarosz_window(h)
    rows, cols = xp.asarray(decimation_indices(h)), xp.asarray(decimation_indices(w))
    # Work with the filtered axis first so each step of the running sum touches one contiguous slice.
    a = xp.ascontiguousarray(xp.moveaxis(luma.astype(xp.float32, copy=False), 2, 0))  # (W, B, H)
    for rep in range(_NUM_JAROSZ_XY_PASSES):
        a = box(a, wr, xp)  # along rows (x)
        a = xp.ascontiguousarray(xp.moveaxis(a, 2, 0))  # (H, W, B)
        if rep == _NUM_JAROSZ_XY_PASSES - 1:
            a = xp.ascontiguousarray(a[:, cols])  # only the decimated columns are needed from here on
        a = box(a, wc, xp)  # along columns (y)
        if rep < _NUM_JAROSZ_XY_PASSES - 1:
            a = xp.ascontiguousarray(xp.moveaxis(a, 0, 2))  # (W, B, H)
    # a is (H, 64, B): pick the decimated rows, reorder to (B, 64, 64)
    return xp.ascontiguousarray(xp.moveaxis(a[rows], 2, 0))


def _emulated_box_first_axis(x: Any, n_full: int, window: int, xp: Any) -> Any:
    """The full-resolution box filter (window ``window`` in full-resolution pixels, the reference's asymmetric
    extents and shrinking edge windows) applied to ``x`` (n, M), a reduced image whose pixel k covers
    full-resolution span [k·s, (k+1)·s), s = n_full / n. Exact for piecewise-constant input: window edges
    fall inside reduced pixels, so the integral is interpolated instead of rounding the window."""
    n = x.shape[0]
    s = n_full / n
    half = (window + 2) // 2
    left, right = window - half, half - 1  # output o covers inputs [o - left, o + right]
    centre = (np.arange(n) + 0.5) * s - 0.5  # full-resolution coordinate of each reduced pixel
    lo = np.clip(centre - left, 0, n_full)
    hi = np.clip(centre + right + 1, 0, n_full)
    c = xp.zeros((n + 1, *x.shape[1:]), dtype=xp.float64)
    xp.cumsum(x, axis=0, dtype=xp.float64, out=c[1:])

    def integral(u: np.ndarray) -> Any:
        j = np.minimum((u / s).astype(np.int64), n - 1)
        frac = (u - j * s).reshape((-1,) + (1,) * (x.ndim - 1))
        jj = xp.asarray(j)
        return s * c[jj] + xp.asarray(frac) * x[jj]

    width = (hi - lo).reshape((-1,) + (1,) * (x.ndim - 1))
    return (integral(hi) - integral(lo)) / xp.asarray(width)


def _sample_first_axis(x: Any, n_full: int, xp: Any) -> Any:
    """Values at the reference's 64 decimation points (full-resolution indices), linearly interpolated."""
    n = x.shape[0]
    s = n_full / n
    r = (decimation_indices(n_full) + 0.5) / s - 0.5
    j0 = np.clip(np.floor(r).astype(np.int64), 0, n - 1)
    j1 = np.minimum(j0 + 1, n - 1)
    t = np.clip(r - j0, 0.0, 1.0).reshape((-1,) + (1,) * (x.ndim - 1))
    return x[xp.asarray(j0)] * xp.asarray(1.0 - t) + x[xp.asarray(j1)] * xp.asarray(t)


def downsample64_reduced(luma: Any, full_h: int, full_w: int, xp: Any = np) -> Any:
    """Fast path: (B, h, w) luminance decoded at a reduced scale → the (B, 64, 64) the full-resolution
    Jarosz filter would give, emulated with the full-resolution windows (float64; approximate)."""
    wr, wc = jarosz_window(full_w), jarosz_window(full_h)
    a = xp.moveaxis(luma.astype(xp.float64), 2, 0)  # (w, B, h)
    for _ in range(_NUM_JAROSZ_XY_PASSES):
        a = _emulated_box_first_axis(a, full_w, wr, xp)
        a = xp.moveaxis(a, 2, 0)  # (h, w, B)
        a = _emulated_box_first_axis(a, full_h, wc, xp)
        a = xp.moveaxis(a, 0, 2)  # (w, B, h)
    a = _sample_first_axis(a, full_w, xp)  # (64, B, h)
    a = xp.moveaxis(a, 2, 0)  # (h, 64, B)
    a = _sample_first_axis(a, full_h, xp)  # (64, 64, B)
    return xp.ascontiguousarray(xp.moveaxis(a, 2, 0)).astype(xp.float32)


def quality(a64: Any, xp: Any = np) -> Any:
    """(B, 64, 64) → (B,) int quality: sum of |trunc((u - v) * 100 / 255)| over neighbours, // 90, at most 100."""
    a64 = a64.astype(xp.float32, copy=False)
    hundred, scale = xp.float32(100), xp.float32(255)
    dv = xp.trunc(((a64[:, :-1, :] - a64[:, 1:, :]) * hundred) / scale)
    dh = xp.trunc(((a64[:, :, :-1] - a64[:, :, 1:]) * hundred) / scale)
    total = xp.abs(dv).astype(xp.int64).sum(axis=(1, 2)) + xp.abs(dh).astype(xp.int64).sum(axis=(1, 2))
    return xp.minimum(total // 90, 100)


def dct16(a64: Any, xp: Any = np, *, exact: bool = True) -> Any:
    """(B, 64, 64) → (B, 16, 16) = D · A · Dᵀ. Exact: each sum over k runs in index order in float32."""
    d = xp.asarray(dct_matrix())
    if not exact:
        return xp.matmul(xp.matmul(d, a64), d.T).astype(xp.float32)
    bsz = a64.shape[0]
    t = xp.zeros((bsz, 16, 64), dtype=xp.float32)
    for k in range(64):  # T = D A: T[i, j] += D[i, k] * A[k, j]
        t += d[None, :, k, None] * a64[:, None, k, :]
    out = xp.zeros((bsz, 16, 16), dtype=xp.float32)
    for k in range(64):  # B = T Dᵀ: B[i, j] += T[i, k] * D[j, k]
        out += t[:, :, k, None] * d[None, None, :, k]
    return out


#: Sign patterns and transposition that turn the original's DCT into each dihedral variant's
#: (``dct16OriginalToRotate90`` etc.): (transpose, sign from row parity, sign from column parity).
def _dihedral_dct(c: Any, xp: Any) -> list[Any]:
    i = xp.arange(16)
    odd_i = (i % 2 == 1)[:, None]
    odd_j = (i % 2 == 1)[None, :]
    ct = xp.swapaxes(c, -1, -2)  # ct[.., j, i] = c[.., i, j]
    # For B[j][i] = ±A[i][j] the sign depends on the *source* indices (i, j) = (col, row) of the output.
    return [
        c,
        xp.where(odd_i, ct, -ct),  # rotate 90: source column j odd → +; output row is j
        xp.where(odd_i ^ odd_j, -c, c),  # rotate 180
        xp.where(odd_j, ct, -ct),  # rotate 270: source row i odd → +; output column is i
        xp.where(odd_i, c, -c),  # flip x
        xp.where(odd_j, c, -c),  # flip y
        ct,  # flip plus-1 diagonal
        xp.where(odd_i ^ odd_j, -ct, ct),  # flip minus-1 diagonal
    ]


def bits_from_dct(c: Any, xp: Any = np) -> np.ndarray:
    """(B, 16, 16) DCT → (B, 32) uint8 hashes: bit ``i*16+j`` = coefficient above the lower median,
    packed with bit 255 first (so ``bytes.hex()`` is the reference's hex)."""
    flat = c.reshape(c.shape[0], 256)
    median = xp.sort(flat, axis=1)[:, 127:128]
    bits = _asnumpy(flat > median)
    return np.packbits(bits[:, ::-1], axis=1)


def hash_luma_batch(luma: Any, xp: Any = np, *, exact: bool = True, dihedral: bool = False,
                    full_size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Hash a batch of same-sized luminance images.

    ``luma`` (B, H, W) float32. Returns ``(hashes, qualities)``: hashes (B, 32) uint8, or (B, 8, 32) with all
    dihedral variants in the reference's order; qualities (B,) int. Images under 5 pixels a side give zero
    hashes and quality 0, as the reference does. ``full_size`` (H, W): ``luma`` was decoded at a reduced
    scale from an image of that size (fast path); the full-resolution filter is emulated.
    """
    luma = xp.asarray(luma)
    b, h, w = luma.shape
    fh, fw = full_size or (h, w)
    if fh < MIN_HASHABLE_DIM or fw < MIN_HASHABLE_DIM:
        shape = (b, 8, HASH_BYTES) if dihedral else (b, HASH_BYTES)
        return np.zeros(shape, dtype=np.uint8), np.zeros(b, dtype=np.int64)
    if full_size is not None and (fh, fw) != (h, w):
        a64 = downsample64_reduced(luma, fh, fw, xp)
    else:
        a64 = downsample64(luma, xp, exact=exact, passthrough_64=not dihedral)
    q = _asnumpy(quality(a64, xp)).astype(np.int64)
    c = dct16(a64, xp, exact=exact)
    if not dihedral:
        return bits_from_dct(c, xp), q
    variants = _dihedral_dct(c, xp)
    packed = np.stack([bits_from_dct(v, xp) for v in variants], axis=1)
    return packed, q


# -- convenience entry points ------------------------------------------------------------------------------------
def _backend_xp(xp: Any | None) -> Any:
    return xp if xp is not None else _default_xp()


@lru_cache(maxsize=1)
def _default_xp() -> Any:
    from firmware.accel import probe

    return probe().xp


def pdq_from_rgb(rgb: np.ndarray, *, xp: Any | None = None, exact: bool = True) -> PdqHash:
    """Hash one (H, W, 3) uint8 RGB array."""
    xp = _backend_xp(xp)
    hashes, q = hash_luma_batch(luma_from_rgb(rgb, xp)[None], xp, exact=exact)
    return PdqHash(hashes[0].tobytes(), int(q[0]))


def pdq_from_image(img: Any, *, xp: Any | None = None, exact: bool = True) -> PdqHash:
    """Hash a decoded ``PIL.Image`` (any mode: converted to RGB as the reference's callers do)."""
    from appliance.hashing.images import rgb_array

    return pdq_from_rgb(rgb_array(img), xp=xp, exact=exact)


def pdq_from_bytes(data: bytes, *, xp: Any | None = None, exact: bool = True) -> PdqHash:
    """Decode (magic-byte sniffed, bounded) and hash. Raises :class:`ImageError` for corrupt files and bombs.
    ``exact=False`` decodes JPEGs at a reduced size, luminance only (``images.decode_luma_fast``)."""
    xp = _backend_xp(xp)
    luma, full = decode_luma(data, exact=exact)
    hashes, q = hash_luma_batch(xp.asarray(luma)[None], xp, exact=exact, full_size=full)
    return PdqHash(hashes[0].tobytes(), int(q[0]))


def decode_luma(data: bytes, *, exact: bool = True) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode on the CPU to float32 luminance and the image's full (H, W): the full decode (exact), or for
    JPEGs the reduced-scale Y channel (``exact=False``). Raises :class:`ImageError`."""
    from appliance.hashing.images import decode_luma_fast, decode_rgb

    if not exact:
        fast = decode_luma_fast(data)
        if fast is not None:
            return fast
    luma = luma_from_rgb(decode_rgb(data), np)
    return luma, (luma.shape[0], luma.shape[1])


def dihedral_hashes(source: Any, *, xp: Any | None = None, exact: bool = True) -> list[PdqHash]:
    """The 8 dihedral variants (reference order, see :data:`DIHEDRAL_NAMES`) of an image given as bytes,
    a ``PIL.Image`` or an (H, W, 3) uint8 array."""
    from appliance.hashing.images import rgb_array

    xp = _backend_xp(xp)
    full = None
    if isinstance(source, bytes | bytearray | memoryview):
        luma, full = decode_luma(bytes(source), exact=exact)
        luma = xp.asarray(luma)
    else:
        luma = luma_from_rgb(source if isinstance(source, np.ndarray) else rgb_array(source), xp)
    hashes, q = hash_luma_batch(luma[None], xp, exact=exact, dihedral=True, full_size=full)
    return [PdqHash(h.tobytes(), int(q[0])) for h in hashes[0]]


def pdq_batch(rgbs: Sequence[np.ndarray], *, xp: Any | None = None, exact: bool = True,
              dihedral: bool = False) -> list[tuple[np.ndarray, int]]:
    """Hash many RGB arrays, grouping equal sizes into one batch on the accelerator. Returns, in input order,
    (hash bytes array (32,) or (8, 32), quality) per image."""
    xp = _backend_xp(xp)
    out: list[tuple[np.ndarray, int] | None] = [None] * len(rgbs)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, rgb in enumerate(rgbs):
        groups.setdefault(rgb.shape[:2], []).append(i)
    for idx in groups.values():
        stack = np.stack([rgbs[i] for i in idx])
        hashes, q = hash_luma_batch(luma_from_rgb(stack, xp), xp, exact=exact, dihedral=dihedral)
        for k, i in enumerate(idx):
            out[i] = (hashes[k], int(q[k]))
    return [o for o in out if o is not None]


@dataclass
class _Job:
    luma: np.ndarray
    dihedral: bool
    full_size: tuple[int, int] | None
    done: threading.Event = field(default_factory=threading.Event)
    result: tuple[np.ndarray, int] | None = None
    error: BaseException | None = None


class BatchHasher:
    """Hash images from many threads in batches on the accelerator.

    Scan workers decode in parallel on the CPU and call :meth:`hash`; one hashing thread collects what arrives
    within ``max_wait`` seconds (up to ``max_batch`` images), groups equal sizes and hashes each group in one
    pass, so reading, decoding and hashing overlap and the GPU sees batches instead of single images.
    """

    def __init__(self, xp: Any, *, exact: bool = True, max_batch: int = 64, max_wait: float = 0.005) -> None:
        self.xp, self.exact, self.max_batch, self.max_wait = xp, exact, max_batch, max_wait
        self._cond = threading.Condition()
        self._queue: list[_Job] = []
        self._thread: threading.Thread | None = None
        self.batches: list[int] = []  # sizes of the batches hashed (for tests and statistics)

    def hash(self, luma: np.ndarray, *, dihedral: bool = False,
             full_size: tuple[int, int] | None = None) -> tuple[np.ndarray, int]:
        """(H, W) float32 luminance → (hash (32,) or (8, 32) uint8, quality). Blocks until hashed.
        ``full_size``: as for :func:`hash_luma_batch` (reduced-scale fast-path decodes)."""
        job = _Job(luma, dihedral, full_size)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="gapscan-pdq-batch", daemon=True)
                self._thread.start()
            self._queue.append(job)
            self._cond.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _run(self) -> None:
        import time

        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                deadline = time.monotonic() + self.max_wait
                while len(self._queue) < self.max_batch and (left := deadline - time.monotonic()) > 0:
                    self._cond.wait(left)
                jobs, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch:]
            self.batches.append(len(jobs))
            groups: dict[tuple[Any, ...], list[_Job]] = {}
            for job in jobs:
                groups.setdefault((job.luma.shape, job.dihedral, job.full_size), []).append(job)
            for (_shape, dihedral, full_size), group in groups.items():
                try:
                    stack = self.xp.asarray(np.stack([j.luma for j in group]))
                    hashes, q = hash_luma_batch(stack, self.xp, exact=self.exact, dihedral=dihedral,
                                                full_size=full_size)
                    for k, job in enumerate(group):
                        job.result = (hashes[k], int(q[k]))
                except BaseException as exc:  # e.g. device out of memory: every waiter gets the error
                    for job in group:
                        job.error = exc
                for job in group:
                    job.done.set()
