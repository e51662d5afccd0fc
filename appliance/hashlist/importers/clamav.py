"""ClamAV hash signatures: ``.hdb`` (MD5) and ``.hsb`` (SHA-1/SHA-256), one ``hash:size:name[:flevel]`` per line.

A size of ``*`` means "any size": such an entry carries no size, so the list as a whole cannot use the size
pre-filter. The signature name becomes the label.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from appliance.hashlist.importers.common import ImportStats, RecordErrors, decode_line, hex_digest, parse_size
from appliance.hashlist.model import HashRecord

FORMAT = "clamav"


def sniff(head: bytes) -> bool:
    for raw in head.splitlines():
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        parts = line.split(b":")
        return (len(parts) in (3, 4) and len(parts[0]) in (32, 40, 64)
                and all(c in b"0123456789abcdefABCDEF" for c in parts[0])
                and (parts[1].isdigit() or parts[1] == b"*"))
    return False


def iter_records(path: str | os.PathLike[str], *, lenient: bool = False,
                 stats: ImportStats | None = None) -> Iterator[HashRecord]:
    stats = stats if stats is not None else ImportStats()
    errors = RecordErrors(path, lenient, stats)
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = decode_line(raw).strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(":")
            if len(parts) not in (3, 4):
                errors.bad(lineno, "fields", f"expected hash:size:name[:flevel], found {len(parts)} field(s)")
                continue
            parsed = hex_digest(parts[0])
            if isinstance(parsed, str):
                errors.bad(lineno, "hash", parsed)
                continue
            size: int | None = None
            if parts[1] != "*":
                parsed_size = parse_size(parts[1])
                if isinstance(parsed_size, str):
                    errors.bad(lineno, "size", parsed_size)
                    continue
                size = parsed_size
            if not parts[2]:
                errors.bad(lineno, "name", "empty signature name")
                continue
            stats.records += 1
            yield HashRecord(parsed[0], parsed[1], parts[2], size)
