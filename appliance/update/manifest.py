"""The signed manifest: what a bundle is, and every member's name, size and SHA-256.

Parsed only after its signatures verified. Schema is exact: an unknown field is malformed, and member
fields that would describe anything but a plain file (type, link, setuid mode) are unsafe.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from appliance.update.canonical import strict_loads
from appliance.update.errors import BundleRefused

KINDS = ("hashlist", "software", "root")
KIND_ROLE = {"hashlist": "lists", "software": "software", "root": "root"}
MAX_MEMBERS = 1024
MAX_NAME_BYTES = 200
MAX_MEMBER_BYTES = 4 * 1024**3
MAX_TOTAL_BYTES = 4 * 1024**3
FILE_MODES = (0o644, 0o755)
_COMPONENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")
_LIST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TOP = {"format", "kind", "product", "version", "base", "signed_at", "expires", "list", "members"}
_MEMBER = {"name", "size", "sha256", "mode"}
_UNSAFE_MEMBER_FIELDS = {"type", "link", "linkname", "target", "uid", "gid", "device", "major", "minor", "setuid"}


@dataclass(frozen=True)
class Member:
    name: str
    size: int
    sha256: str
    mode: int = 0o644


@dataclass(frozen=True)
class Manifest:
    kind: str
    product: str
    version: int
    base: int | None
    signed_at: int
    expires: int | None
    list_name: str | None
    list_kind: str | None
    members: tuple[Member, ...]

    @property
    def stream(self) -> str:
        """The anti-rollback stream: ``software``, ``root`` or ``hashlist:NAME``."""
        return f"hashlist:{self.list_name}" if self.kind == "hashlist" else self.kind


def check_member_name(name: Any) -> str:
    """Relative ASCII path of ``[A-Za-z0-9._-]`` components: no absolute, ``..``, backslash, NUL, hidden."""
    if not isinstance(name, str):
        raise BundleRefused("unsafe-member", f"member name {name!r} is not a string")
    shown = ascii(name)[:80]
    if not name or len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise BundleRefused("unsafe-member", f"member name {shown} is empty or longer than {MAX_NAME_BYTES} bytes")
    if not name.isascii() or unicodedata.normalize("NFKC", name) != name:
        raise BundleRefused("unsafe-member", f"member name {shown} is not plain ASCII")
    if name.startswith("/") or "\\" in name or "\x00" in name:
        raise BundleRefused("unsafe-member", f"member name {shown} is absolute or holds a backslash or NUL")
    for part in name.split("/"):
        if part in ("", ".", ".."):
            raise BundleRefused("unsafe-member", f"member name {shown} has an empty, '.' or '..' component")
        if not _COMPONENT.fullmatch(part):
            raise BundleRefused("unsafe-member", f"member name {shown}: component {part!r} must be letters, "
                                                 "digits, '.', '_' or '-' and not start with '.'")
    return name


def _int(value: Any, field: str, *, minimum: int = 0, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise BundleRefused("malformed", f"manifest field {field!r} must be an integer >= {minimum}")
    return value


def parse_manifest(data: bytes) -> Manifest:
    try:
        doc = strict_loads(data)
    except ValueError as exc:
        raise BundleRefused("malformed", f"manifest: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != _TOP:
        raise BundleRefused("malformed", f"manifest must have exactly the fields {', '.join(sorted(_TOP))}")
    if doc["format"] != 1:
        raise BundleRefused("malformed", f"manifest format {doc['format']!r} is not supported (1 is)")
    kind = doc["kind"]
    if kind not in KINDS:
        raise BundleRefused("malformed", f"manifest kind {kind!r} is not one of {', '.join(KINDS)}")
    if not isinstance(doc["product"], str) or not doc["product"]:
        raise BundleRefused("malformed", "manifest product must be a non-empty string")
    version = _int(doc["version"], "version", minimum=1)
    base = _int(doc["base"], "base", minimum=1, optional=True)
    if base is not None and (kind != "hashlist" or base >= version):  # type: ignore[operator]
        raise BundleRefused("malformed", "manifest base: only hash-list deltas have a base, and base < version")
    signed_at = _int(doc["signed_at"], "signed_at")
    expires = _int(doc["expires"], "expires", optional=True)
    list_name = list_kind = None
    if kind == "hashlist":
        lst = doc["list"]
        if (not isinstance(lst, dict) or set(lst) != {"name", "kind"} or not isinstance(lst["name"], str)
                or not _LIST_NAME.fullmatch(lst["name"]) or lst["kind"] not in ("alert", "ignore")):
            raise BundleRefused("malformed", "manifest list must be {name: [A-Za-z0-9._-]{1,64}, "
                                             "kind: alert|ignore}")
        list_name, list_kind = lst["name"], lst["kind"]
    elif doc["list"] is not None:
        raise BundleRefused("malformed", f"manifest list must be null for a {kind} bundle")
    members = _parse_members(doc["members"])
    return Manifest(kind, doc["product"], version, base, signed_at, expires, list_name, list_kind,  # type: ignore[arg-type]
                    members)


def _parse_members(raw: Any) -> tuple[Member, ...]:
    if not isinstance(raw, list) or not raw:
        raise BundleRefused("malformed", "manifest members must be a non-empty list")
    if len(raw) > MAX_MEMBERS:
        raise BundleRefused("too-large", f"manifest lists {len(raw)} members; at most {MAX_MEMBERS} are allowed")
    members: list[Member] = []
    folded: dict[str, str] = {}
    total = 0
    for entry in raw:
        if not isinstance(entry, dict):
            raise BundleRefused("malformed", "each manifest member must be an object")
        unsafe = set(entry) & _UNSAFE_MEMBER_FIELDS
        if unsafe:
            raise BundleRefused("unsafe-member", f"member {ascii(entry.get('name'))[:80]} declares "
                                                 f"{', '.join(sorted(unsafe))}: only plain files are allowed")
        if not {"name", "size", "sha256"} <= set(entry) <= _MEMBER:
            raise BundleRefused("malformed", "each member must be {name, size, sha256[, mode]}")
        name = check_member_name(entry["name"])
        mode = entry.get("mode", 0o644)
        if mode not in FILE_MODES or isinstance(mode, bool):
            raise BundleRefused("unsafe-member", f"member {name}: mode {mode!r} is not 0644 or 0755 "
                                                 "(no setuid, setgid, sticky or device bits)")
        size = _int(entry["size"], f"{name}.size")
        if size > MAX_MEMBER_BYTES:  # type: ignore[operator]
            raise BundleRefused("too-large", f"member {name} declares {size} bytes (limit {MAX_MEMBER_BYTES})")
        total += size  # type: ignore[operator]
        if not isinstance(entry["sha256"], str) or not _HEX64.fullmatch(entry["sha256"]):
            raise BundleRefused("malformed", f"member {name}: sha256 must be 64 lowercase hex digits")
        key = name.casefold()
        if key in folded:
            raise BundleRefused("unsafe-member", f"member {name} collides with {folded[key]} "
                                                 "(names must differ beyond letter case)")
        for prefix in _prefixes(key):
            if prefix in folded:
                raise BundleRefused("unsafe-member", f"member {name} lies under the file {folded[prefix]}")
        folded[key] = name
        members.append(Member(name, size, entry["sha256"], mode))  # type: ignore[arg-type]
    dirs = {p for m in members for p in _prefixes(m.name.casefold())}
    clash = dirs & set(folded)
    if clash:
        raise BundleRefused("unsafe-member", f"member {folded[min(clash)]} is both a file and a directory")
    if total > MAX_TOTAL_BYTES:
        raise BundleRefused("too-large", f"members total {total} bytes (limit {MAX_TOTAL_BYTES})")
    return tuple(members)


def _prefixes(name: str) -> list[str]:
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]
