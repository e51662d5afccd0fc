"""Plain digest lists: one hex digest per line, optionally followed by whitespace and a label.

Also reads ``md5sum``/``sha1sum``/``sha256sum`` output (``HASH  name`` / ``HASH *name``: the name becomes the
label). MD5/SHA-1/SHA-256 are told apart by length; case-insensitive; ``#`` comments, blank lines, a UTF-8
BOM and CRLF line ends are accepted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from appliance.hashing.digests import parse_hex_digest
from appliance.hashlist.model import HashListFormatError, HashRecord

FORMAT = "text"


@dataclass
class ImportStats:
    records: int = 0
    skipped: int = 0


def sniff(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    first = text.split(None, 1)[0] if text.split() else b""
    return len(first) in (32, 40, 64) and all(c in b"0123456789abcdefABCDEF" for c in first)


def iter_records(path: str | os.PathLike[str], *, lenient: bool = False,
                 stats: ImportStats | None = None) -> Iterator[HashRecord]:
    stats = stats if stats is not None else ImportStats()
    name = os.fspath(path)
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            line = raw.strip()
            if not line or line.startswith(b"#"):
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                text = line.decode("latin-1")
            parts = text.split(None, 1)
            try:
                algorithm, digest = parse_hex_digest(parts[0])
            except ValueError as exc:
                if lenient:
                    stats.skipped += 1
                    continue
                raise HashListFormatError(name, lineno, "digest", str(exc)) from None
            label = parts[1].strip() if len(parts) > 1 else None
            if label and label.startswith("*"):  # sha256sum binary-mode marker
                label = label[1:]
            stats.records += 1
            yield HashRecord(algorithm, digest, label or None)
