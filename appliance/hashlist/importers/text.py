"""Plain digest lists: one hex digest per line, optionally followed by whitespace and a label.

Also reads ``md5sum``/``sha1sum``/``sha256sum`` output (``HASH  name`` / ``HASH *name``: the name becomes the
label). MD5/SHA-1/SHA-256 are told apart by length; case-insensitive; ``#`` comments, blank lines, a UTF-8
BOM and CRLF line ends are accepted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from appliance.hashlist.importers.common import ImportStats, RecordErrors, decode_line, hex_digest
from appliance.hashlist.model import HashRecord

FORMAT = "text"
__all__ = ["FORMAT", "ImportStats", "iter_records", "sniff"]


def sniff(head: bytes) -> bool:
    for raw in head.removeprefix(b"\xef\xbb\xbf").splitlines():
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        first = line.split(None, 1)[0]
        return len(first) in (32, 40, 64) and all(c in b"0123456789abcdefABCDEF" for c in first)
    return False


def iter_records(path: str | os.PathLike[str], *, lenient: bool = False,
                 stats: ImportStats | None = None) -> Iterator[HashRecord]:
    stats = stats if stats is not None else ImportStats()
    errors = RecordErrors(path, lenient, stats)
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            line = raw.strip()
            if not line or line.startswith(b"#"):
                continue
            parts = decode_line(line).split(None, 1)
            parsed = hex_digest(parts[0])
            if isinstance(parsed, str):
                errors.bad(lineno, "digest", parsed)
                continue
            label = parts[1].strip() if len(parts) > 1 else None
            if label and label.startswith("*"):  # sha256sum binary-mode marker
                label = label[1:]
            stats.records += 1
            yield HashRecord(parsed[0], parsed[1], label or None)
