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
CHUNK = 4 << 20
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

    def positions(self, table: np.ndarray) -> np.ndarray:
        """Offsets of the bytes in class ``table`` (a 256-entry bool table)."""
        return np.flatnonzero(table[self.arr])

    @staticmethod
    def next_at(positions: np.ndarray, at: np.ndarray) -> np.ndarray:
        """For each offset in ``at``, the first of ``positions`` at or after it (``positions`` must hold one
        past every ``at``: the classes used all include the final LF)."""
        return positions[np.searchsorted(positions, at)]

    def hex_bytes(self, starts: np.ndarray, width: int) -> np.ndarray:
        """``width``-byte digests from the hex text at ``starts`` (already checked to be hex): n × width uint8."""
        idx = starts[:, None] + np.arange(2 * width)
        nib = HEX_VALUE[self.arr[idx]].astype(np.uint8)
        return (nib[:, 0::2] << 4) | nib[:, 1::2]

    def is_hex_run(self, nonhex: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> bool:
        """Is every ``starts[i]`` .. ``ends[i]`` all hex (``nonhex``: offsets of the non-hex bytes)?"""
        return bool((self.next_at(nonhex, starts) >= ends).all())

    def decimal(self, nondigit: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
        """The decimal numbers at ``starts`` .. ``ends`` (int64), or None unless every field is 1..18 ASCII
        digits."""
        lengths = ends - starts
        if len(lengths) and (lengths.min() < 1 or lengths.max() > MAX_DIGITS):
            return None
        if not (self.next_at(nondigit, starts) >= ends).all():
            return None
        width = int(lengths.max()) if len(lengths) else 0
        out = np.zeros(len(starts), dtype=np.int64)
        for j in range(width):  # j-th digit from the right
            has = lengths > j
            d = self.arr[np.where(has, ends - 1 - j, 0)].astype(np.int64) - 48
            out += np.where(has, d, 0) * (10 ** j)
        return out

    def texts(self, starts: np.ndarray, ends: np.ndarray) -> tuple[list[str | None], np.ndarray]:
        """(table in order of first appearance, index per row) of the ASCII texts ``starts`` .. ``ends``;
        an empty text is None."""
        raw = self.arr.tobytes() if not isinstance(self.arr.base, bytes) else self.arr.base
        table: dict[bytes | None, int] = {}
        ids = np.fromiter((table.setdefault(raw[a:b] if b > a else None, len(table))
                           for a, b in zip(starts.tolist(), ends.tolist(), strict=True)),
                          dtype=np.uint32, count=len(starts))
        return [None if t is None else t.decode("ascii") for t in table], ids
