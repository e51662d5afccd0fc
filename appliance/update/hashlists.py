"""Hash-list payloads: the canonical records format, and the one place that calls the hash-list store.

``records.tsv`` (full list) / ``added.tsv`` + ``removed.tsv`` (delta)::

    gapscan-records 1
    ALGORITHM <TAB> HEX <TAB> SIZE|- <TAB> DISTANCE|- <TAB> LABEL|-      (one per line, "\\n" ends)

Algorithms md5, sha1, sha256 and pdq (32 bytes); hex lowercase; label UTF-8 without control characters.
The builder converts any list format gapscan imports into this; the appliance parses it strictly and
never decompresses anything. Values are never logged or put into an error message (line numbers only).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from appliance.errors import GapscanError
from appliance.hashlist.model import HashRecord, ListInfo
from appliance.hashlist.store import HashListStore
from appliance.update.errors import BundleRefused

HEADER = b"gapscan-records 1\n"
DIGEST_BYTES = {"md5": 16, "sha1": 20, "sha256": 32, "pdq": 32}
MAX_LINE = 1024
_HEX = re.compile(rb"[0-9a-f]+")
_INT = re.compile(rb"0|[1-9][0-9]{0,17}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def encode_records(records: Iterable[HashRecord]) -> bytes:
    """Vendor side: the canonical bytes of ``records`` (sorted, so one list has one encoding)."""
    lines = []
    for r in records:
        if r.algorithm not in DIGEST_BYTES or len(r.digest) != DIGEST_BYTES[r.algorithm]:
            raise GapscanError(f"record of algorithm {r.algorithm!r} cannot go into a bundle")
        label = r.label or "-"
        if _CONTROL.search(label) or (label == "-" and r.label):
            raise GapscanError("a record label holds control characters or is '-'")
        fields = [r.algorithm, r.digest.hex(), "-" if r.size is None else str(r.size),
                  "-" if r.distance is None else str(r.distance), label]
        lines.append("\t".join(fields).encode("utf-8") + b"\n")
    return HEADER + b"".join(sorted(set(lines)))


def iter_records(path: Path, member: str) -> Iterator[HashRecord]:
    """Strictly parse a records member from the verified copy; BundleRefused(malformed-member) names the line."""
    with open(path, "rb") as fh:
        if fh.read(len(HEADER)) != HEADER:
            raise BundleRefused("malformed-member", f"member {member}: first line must be 'gapscan-records 1'")
        for lineno, line in enumerate(fh, start=2):
            yield _parse_line(line, member, lineno)


def _parse_line(line: bytes, member: str, lineno: int) -> HashRecord:
    def bad(problem: str) -> BundleRefused:
        return BundleRefused("malformed-member", f"member {member}: line {lineno}: {problem}")

    if len(line) > MAX_LINE or not line.endswith(b"\n"):
        raise bad(f"longer than {MAX_LINE} bytes or not ended by a newline")
    parts = line[:-1].split(b"\t")
    if len(parts) != 5:
        raise bad("must have 5 tab-separated fields")
    algo, hexd, size, distance, label = parts
    algorithm = algo.decode("ascii", "replace")
    if algorithm not in DIGEST_BYTES:
        raise bad(f"unknown algorithm {algorithm[:10]!r}")
    if not _HEX.fullmatch(hexd) or len(hexd) != 2 * DIGEST_BYTES[algorithm]:
        raise bad(f"digest is not {2 * DIGEST_BYTES[algorithm]} lowercase hex digits")
    for value, name in ((size, "size"), (distance, "distance")):
        if value != b"-" and not _INT.fullmatch(value):
            raise bad(f"{name} must be a non-negative integer or '-'")
    try:
        text = label.decode("utf-8")
    except UnicodeDecodeError:
        raise bad("label is not UTF-8") from None
    if _CONTROL.search(text) or not text:
        raise bad("label holds control characters or is empty")
    return HashRecord(algorithm, bytes.fromhex(hexd.decode()), None if text == "-" else text,
                      None if size == b"-" else int(size), None if distance == b"-" else int(distance))


def validate_member(path: Path, member: str) -> int:
    """A full parsing pass before the store sees a single record; returns the record count."""
    return sum(1 for _ in iter_records(path, member))


def open_store(state_dir: Path) -> HashListStore:
    """The unlocked store (import needs the key); StoreLocked becomes a refusal that says how to unlock."""
    try:
        return HashListStore.open(state_dir)
    except GapscanError as exc:
        raise BundleRefused("store-locked", str(exc)) from None


def installed_version(state_dir: Path, name: str) -> int | None:
    """Works on a locked store (metadata only)."""
    return HashListStore(state_dir).installed_version(name)


def install(state_dir: Path, *, name: str, kind: str, version: int, base: int | None, source: str,
            members: dict[str, Path], replace_newer: bool = False) -> Any:
    """Import a verified full list or delta into the store (which activates it only once complete).

    ``replace_newer``: after a key rotation reset this stream (fast-forward recovery), a list the store
    holds at a higher version was signed by a revoked key; it is removed so the trusted one can go in."""
    for member, path in members.items():
        validate_member(path, member)
    store = open_store(state_dir)
    installed = store.installed_version(name)
    if replace_newer and base is None and installed is not None and installed >= version:
        store.remove(name)
    if base is None:
        info = ListInfo(name=name, version=version, kind=kind, source_format="gapscan-records",  # type: ignore[arg-type]
                        source=source)
        return store.import_records(info, iter_records(members["records.tsv"], "records.tsv"))
    return store.apply_delta(name, base_version=base, version=version,
                             added=iter_records(members["added.tsv"], "added.tsv"),
                             removed=iter_records(members["removed.tsv"], "removed.tsv"))
