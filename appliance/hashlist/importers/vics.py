"""Project VIC VICS JSON (OData): version 1.x (``odata.metadata``, Media-rooted) and 2.0 (``@odata.context``,
Cases-rooted with a ``Media`` list per case).

Parsed streaming with ``ijson`` (the yajl2 C backend where available): one Media object at a time, so memory
stays constant for files of hundreds of MB. Each Media yields one record per digest it carries (MD5, SHA1,
SHA256, PDQ), labelled with its category (``"category N"``) and sized by ``MediaSize``.

Category 0 means "not pertinent": such entries are left out (counted in ``stats.excluded``) unless
``include_not_pertinent`` is set, so they never produce a hit.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import ijson

from appliance.hashlist.importers.common import ImportStats, RecordErrors, hex_digest
from appliance.hashlist.model import HashListFormatError, HashRecord

FORMAT = "vics"
_CONTEXT = re.compile(rb'"@?odata\.(?:metadata|context)"\s*:\s*"([^"]*)"')
HEAD_BYTES = 1 << 16
_FIELDS = (("MD5", "md5"), ("SHA1", "sha1"), ("SHA256", "sha256"))


def sniff(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") and _CONTEXT.search(head) is not None


def label_for(category: int) -> str:
    return f"category {category}"


def _item_prefix(path: str, head: bytes) -> str:
    m = _CONTEXT.search(head)
    if m is None:
        raise HashListFormatError(path, 0, "odata.context",
                                  "no 'odata.metadata' / '@odata.context' near the start: not a VICS file")
    context = m.group(1).decode("utf-8", "replace")
    root = context.rsplit("#", 1)[-1] if "#" in context else ""
    if root == "Media":
        return "value.item"
    if root == "Cases":
        return "value.item.Media.item"
    raise HashListFormatError(path, 0, "odata.context", f"unsupported VICS root {root!r} in {context!r} "
                                                        "(expected #Media or #Cases)")


def iter_records(path: str | os.PathLike[str], *, lenient: bool = False, stats: ImportStats | None = None,
                 include_not_pertinent: bool = False) -> Iterator[HashRecord]:
    stats = stats if stats is not None else ImportStats()
    errors = RecordErrors(path, lenient, stats)
    name = os.fspath(path)
    with open(path, "rb") as fh:
        prefix = _item_prefix(name, fh.read(HEAD_BYTES))
        fh.seek(0)
        n = 0
        try:
            for n, media in enumerate(ijson.items(fh, prefix, use_float=True), start=1):
                out = _media_records(errors, n, media, include_not_pertinent)
                if out is None:
                    continue
                if not out:
                    stats.excluded += 1
                    continue
                stats.records += 1
                yield from out
        except ijson.JSONError as exc:
            raise HashListFormatError(name, n + 1, "json", f"malformed JSON after Media record {n}: {exc}") from None


def _media_records(errors: RecordErrors, n: int, media: Any, include_not_pertinent: bool) -> list[HashRecord] | None:
    """Records of one Media object; ``[]`` when excluded, ``None`` when bad (and lenient)."""
    if not isinstance(media, dict):
        errors.bad(n, "Media", "not an object")
        return None
    category = media.get("Category")
    if isinstance(category, str) and category.strip().isdigit():
        category = int(category)
    if not isinstance(category, int) or isinstance(category, bool) or category < 0:
        errors.bad(n, "Category", f"not a category number: {category!r}")
        return None
    if category == 0 and not include_not_pertinent:
        return []
    size = media.get("MediaSize")
    if isinstance(size, str) and size.strip().isdigit():
        size = int(size)
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        errors.bad(n, "MediaSize", f"not a size in bytes: {size!r}")
        return None
    label = label_for(category)
    out: list[HashRecord] = []
    for key, alg in _FIELDS:
        value = media.get(key)
        if value in (None, ""):
            continue
        parsed = hex_digest(str(value), alg)
        if isinstance(parsed, str):
            errors.bad(n, key, parsed)
            return None
        out.append(HashRecord(alg, parsed[1], label, size))
    pdq = media.get("PDQ")
    if pdq not in (None, ""):
        text = str(pdq).strip()
        if len(text) != 64 or any(c not in "0123456789abcdefABCDEF" for c in text):
            errors.bad(n, "PDQ", f"PDQ hash must be 64 hex characters: {pdq!r}")
            return None
        out.append(HashRecord("pdq", bytes.fromhex(text), label, size))
    if not out:
        errors.bad(n, "MD5", "Media entry carries no MD5, SHA1, SHA256 or PDQ")
        return None
    return out
