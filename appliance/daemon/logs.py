"""Structured logs: one JSON object per line on stdout, which systemd's journal stores as the service's log.

Callers pass ids, counts and fixed words only. Hash-list values never reach this module: the daemon never
holds any (lists are loaded by the scan subprocesses), and field names that would carry digests are refused.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from typing import Any, TextIO

#: Keys a log record may never carry: digests and contents belong in the encrypted store and results only.
FORBIDDEN_KEYS = frozenset({"md5", "sha1", "sha256", "pdq", "digest", "hash", "hashes", "content", "data"})


#: A run of hex this long is a digest (MD5 and up) or key material: never written, whatever the field.
_HEXRUN = re.compile(r"[0-9a-fA-F]{32,}")


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _HEXRUN.sub("[hex redacted]", value)
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    return value


class JsonLog:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def __call__(self, event: str, level: str = "info", **fields: Any) -> None:
        bad = FORBIDDEN_KEYS.intersection(fields)
        if bad:
            raise ValueError(f"log field {sorted(bad)[0]!r} may carry hash values; log counts and ids instead")
        # Defence in depth: a message quoting a malformed hash-list line must not leak the value into the journal.
        record = {"ts": round(time.time(), 3), "level": level, "event": event, **_scrub(fields)}
        line = json.dumps(record, default=str, ensure_ascii=True)
        with self._lock:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass  # journal gone (shutdown): logging must never stop the service
