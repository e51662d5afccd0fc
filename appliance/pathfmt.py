"""Turning hostile path bytes into text, only at the edge where a person or a JSON reader sees them."""

from __future__ import annotations

import re

# C0/C1 controls, DEL, and Unicode bidi/format characters that can disguise a name (RTL override etc.).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def escape_path(path: bytes) -> str:
    """Lossless text form: valid UTF-8 stays as is, a backslash doubles, any other byte becomes ``\\xNN``.

    ``unescape_path(escape_path(p)) == p`` for every byte string.
    """
    return path.replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace")


def unescape_path(text: str) -> bytes:
    out = bytearray()
    raw = text.encode("utf-8")
    i = 0
    while i < len(raw):
        if raw[i : i + 2] == b"\\\\":
            out += b"\\"
            i += 2
        elif raw[i : i + 2] == b"\\x" and i + 4 <= len(raw):
            out.append(int(raw[i + 2 : i + 4], 16))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return bytes(out)


def display_path(path: bytes) -> str:
    """For terminals and pages: :func:`escape_path`, then control or bidi-override characters
    are shown as ``\\u....`` so a name cannot move the cursor, fake a line or reverse the text."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", escape_path(path))
