"""Vectorised parsing of line-oriented hash lists, a large chunk at a time.

Why: a Python object per line made a 10^7-row import take minutes. The fast path checks a whole chunk with
NumPy (byte classes, hex table, field widths, digit fields) and turns it into a :class:`RecordBatch`. When any
line of a chunk fails that check (odd characters, a malformed line, a header, a lone CR) the importer hands the
chunk to its per-line parser instead, so every error message (file, line, field) and ``--lenient`` count stay
exactly those of the per-line parser; the fast path only ever accepts lines that parser accepts identically.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from appliance.hashing.digests import DIGEST_KINDS

FIRST_CHUNK = 64 << 10  # small: headers and comments at the top go through the per-line parser cheaply
CHUNK = 1 << 20  # ~10^4 lines: NumPy calls amortised, temporaries small beside the digests
MAX_DIGITS = 18  # longer decimal fields go per-line (they could overflow int64)
BOM = b"\xef\xbb\xbf"
BY_HEX_LEN = {k.hex_len: k.name for k in DIGEST_KINDS.values()}


def _table(chars: bytes | range) -> np.ndarray:
    t = np.zeros(256, dtype=bool)
    t[list(chars)] = True
    return t


HEX_VALUE = np.full(256, -1, dtype=np.int8)
for _i, _c in enumerate(b"0123456789abcdef"):
    HEX_VALUE[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    HEX_VALUE[_c] = 10 + _i
IS_HEX = HEX_VALUE >= 0
# Two hex characters read as one little-endian uint16 (first character in the low byte) -> their byte value,
# or 0xFFFF when either is not hex: one table look-up per digest byte.
_FIRST, _SECOND = np.arange(1 << 16) & 0xFF, np.arange(1 << 16) >> 8
HEX_PAIR = np.where(IS_HEX[_FIRST] & IS_HEX[_SECOND],
                    (HEX_VALUE[_FIRST].astype(np.int32) << 4) | HEX_VALUE[_SECOND], 0xFFFF).astype(np.uint16)
del _FIRST, _SECOND
IS_DIGIT = _table(b"0123456789")
IS_ALNUM = _table(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
PRINTABLE = _table(bytes(range(0x20, 0x7F)) + b"\t\r\n")  # plain ASCII lines: str and bytes rules agree
BLANK = _table(b" \t\r")  # the only whitespace a PRINTABLE line can hold besides the newline
BLANK_OR_NL = _table(b" \t\r\n")


def read_chunks(fh: BinaryIO) -> Iterator[bytes]:
    """The file in chunks that end just after a ``\\n`` (the last one may not); a line is never split."""
    carry = b""
    want = FIRST_CHUNK
    while True:
        data = fh.read(want)
        if not data:
            if carry:
                yield carry
            return
        buf = carry + data if carry else data
        cut = buf.rfind(b"\n")
        if cut < 0:
            carry = buf  # a line longer than a chunk: read on
            continue
        carry = buf[cut + 1:]
        yield buf[:cut + 1] if carry else buf
        want = CHUNK


def line_count(chunk: bytes) -> int:
    """Lines in a chunk as a binary line iterator counts them (``\\n`` ends a line)."""
    return chunk.count(b"\n") + (0 if not chunk or chunk.endswith(b"\n") else 1)


class Lines:
    """A chunk's bytes and line table: ``starts[i]`` .. ``ends[i]`` (CRLF's CR and the LF excluded), ``nl[i]``
    the LF. ``ok`` is False when a CR is found anywhere but before a LF (per-line parsers split or strip those
    differently)."""

    def __init__(self, chunk: bytes) -> None:
        if not chunk.endswith(b"\n"):
            chunk += b"\n"
        self.arr = arr = np.frombuffer(chunk, dtype=np.uint8)
        self.nl = nl = np.flatnonzero(arr == 10)
        self.starts = np.empty_like(nl)
        self.starts[:1] = 0
        self.starts[1:] = nl[:-1] + 1
        cr = np.flatnonzero(arr == 13)
        self.ok = not len(cr) or bool((arr[cr + 1] == 10).all())
        self.ends = nl - (arr[nl - 1] == 13) if len(nl) else nl
        self.ends = np.maximum(self.ends, self.starts)

    def data_lines(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(first, last): each non-blank, non-``#`` line's first byte and one past its last, blanks stripped;
        None when the chunk needs a per-line parser (a stray CR, a byte outside printable ASCII and tab)."""
        if not self.ok or not PRINTABLE[self.arr].all():
            return None
        first = self.skip_blanks(self.starts, self.nl)  # the stripped line's first byte (its LF when blank)
        data = (first < self.nl) & (self.arr[first] != ord("#"))
        first, last = first[data], self.ends[data]
        return first, self.skip_blanks(last, first, step=-1)

    def digests_by_length(self, first: np.ndarray,
                          lengths: np.ndarray) -> tuple[list[str], list[np.ndarray], np.ndarray | None] | None:
        """Hex digests starting at ``first``, ``lengths`` characters each, grouped by algorithm (told by the
        length): (algorithms, their ``m × width`` digests, each row's algorithm index or None when there is
        one); None when a length is no digest's or a character is not hex."""
        algs = sorted({int(n) for n in np.unique(lengths)})
        if any(n not in BY_HEX_LEN for n in algs):
            return None
        row_alg = np.searchsorted(np.array(algs), lengths).astype(np.uint8)
        digests = []
        for k, n in enumerate(algs):
            digest = self.hex_bytes(first[row_alg == k], n // 2)
            if digest is None:
                return None
            digests.append(digest)
        return [BY_HEX_LEN[n] for n in algs], digests, (row_alg if len(algs) > 1 else None)

    def positions(self, table: np.ndarray) -> np.ndarray:
        """Offsets of the bytes in class ``table`` (a 256-entry bool table)."""
        return np.flatnonzero(table[self.arr])

    @staticmethod
    def next_at(positions: np.ndarray, at: np.ndarray) -> np.ndarray:
        """For each offset in ``at``, the first of ``positions`` at or after it (``positions`` must hold one
        past every ``at``: the classes used all include the final LF)."""
        return positions[np.searchsorted(positions, at)]

    def windows(self, starts: np.ndarray, width: int) -> np.ndarray:
        """The ``width`` bytes at each of ``starts`` (all inside the chunk): an n × width copy, row by row."""
        return np.lib.stride_tricks.sliding_window_view(self.arr, width)[starts]

    def hex_bytes(self, starts: np.ndarray, width: int) -> np.ndarray | None:
        """``width``-byte digests from the ``2·width`` hex characters at ``starts`` (n × width uint8), or None
        when any of those characters is not hex."""
        pairs = self.windows(starts, 2 * width).view("<u2")
        values = HEX_PAIR[pairs]
        if len(values) and values.max() > 0xFF:
            return None
        return values.astype(np.uint8)

    def decimal(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
        """The decimal numbers at ``starts`` .. ``ends`` (int64), or None unless every field is 1..18 ASCII
        digits."""
        if not len(starts):
            return np.zeros(0, dtype=np.int64)
        lengths = ends - starts
        width = int(lengths.max())
        if lengths.min() < 1 or width > MAX_DIGITS:
            return None
        at = ends - width  # right-aligned windows; the bytes before a field are masked off
        if at.min() < 0:  # a field near the chunk's start (the first line's first column)
            near = at < 0
            out = np.empty(len(starts), dtype=np.int64)
            head = self._decimal_left(starts[near], ends[near], width)
            tail = self.decimal(starts[~near], ends[~near])
            if head is None or tail is None:
                return None
            out[near], out[~near] = head, tail
            return out
        digits = self.windows(at, width).astype(np.int64) - 48
        inside = np.arange(width) >= (width - lengths)[:, None]
        if ((digits < 0) | (digits > 9))[inside].any():
            return None
        digits[~inside] = 0
        return digits @ (10 ** np.arange(width - 1, -1, -1, dtype=np.int64))

    def _decimal_left(self, starts: np.ndarray, ends: np.ndarray, width: int) -> np.ndarray | None:
        """:meth:`decimal` for fields too close to the chunk's start for a right-aligned window."""
        out = np.zeros(len(starts), dtype=np.int64)
        lengths = ends - starts
        for j in range(width):  # j-th digit from the right
            has = lengths > j
            d = self.arr[np.where(has, ends - 1 - j, 0)].astype(np.int64) - 48
            if ((d < 0) | (d > 9))[has].any():
                return None
            out += np.where(has, d, 0) * (10 ** j)
        return out

    def skip_blanks(self, at: np.ndarray, limit: np.ndarray, step: int = 1) -> np.ndarray:
        """Move each offset forward (``step`` 1) or back (-1: looks at the byte before it) over blanks, not
        past ``limit``. Runs are short (a separator, a CR), so a few vectorised steps do."""
        arr = self.arr
        look = 0 if step > 0 else -1
        while True:
            moving = (at < limit) if step > 0 else (at > limit)
            moving &= BLANK[arr[np.where(moving, at + look, 0)]]
            if not moving.any():
                return at
            at = at + step * moving

    def texts(self, starts: np.ndarray, ends: np.ndarray) -> tuple[list[str | None], np.ndarray]:
        """(table in order of first appearance, index per row) of the ASCII texts ``starts`` .. ``ends``;
        an empty text is None. (C-level ``map``s: lists may carry a distinct file name per row.)"""
        raw = self.arr.base if isinstance(self.arr.base, bytes) else self.arr.tobytes()
        texts = list(map(raw.__getitem__, map(slice, starts.tolist(), ends.tolist())))
        table = dict.fromkeys(texts)  # first appearance order
        index = dict(zip(table, range(len(table)), strict=True))
        ids = np.fromiter(map(index.__getitem__, texts), dtype=np.uint32, count=len(texts))
        return [t.decode("ascii") or None for t in table], ids
