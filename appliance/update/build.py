"""Vendor side (the offline signing machine): key generation and bundle building.

``keygen`` writes ``KEYDIR/root.json`` (what the appliance image pins) and one private key per role.
``build`` turns payload files into a signed ``.gsb``: hash lists in any format gapscan imports are
converted to the canonical records format; software payloads are files or directory trees (regular
files only; symlinks and special files are refused at build time too).
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from appliance.errors import GapscanError
from appliance.update.canonical import canonical_json
from appliance.update.container import write_bundle
from appliance.update.hashlists import encode_records
from appliance.update.keys import MANIFEST_DOMAIN, SigningKey
from appliance.update.manifest import check_member_name
from appliance.update.trust import ROLES, TrustRoot, build_root, load_root_file, resign_root


def keygen(keydir: Path, *, role: str | None = None, product: str = "gapscan", dev: bool = False) -> TrustRoot:
    """New key set (no ``role``), or a new key for one role: root.json v+1 signed by old and new root keys."""
    keydir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if role is None:
        if (keydir / "root.json").exists():
            raise GapscanError(f"{keydir / 'root.json'} exists; use --role ROLE to rotate one key")
        keys = {r: SigningKey.generate(r, dev=dev) for r in ROLES}
        for r, k in keys.items():
            k.save(keydir / f"{r}.key")
        root = build_root(product, 1, keys)  # type: ignore[arg-type]
    else:
        if role not in ROLES:
            raise GapscanError(f"unknown role {role!r} (root, lists or software)")
        current = load_root_file(keydir / "root.json")
        old_keys = {r: SigningKey.load(keydir / f"{r}.key") for r in ROLES}
        new_key = SigningKey.generate(role, dev=dev)
        keys = {**old_keys, role: new_key}
        root = build_root(current.product, current.version + 1, keys,  # type: ignore[arg-type]
                          {r: current.roles[r].threshold for r in ROLES}, revoked=[old_keys[role].keyid],
                          signers=[old_keys["root"], keys["root"]] if role == "root" else [old_keys["root"]])
        os.replace(keydir / f"{role}.key", keydir / f"{role}.v{current.version}.key")
        new_key.save(keydir / f"{role}.key")
    (keydir / "root.json").write_bytes(root.to_bytes())
    return root


def records_from_file(path: Path) -> list[Any]:
    """Read a hash-list file with gapscan's importers (all formats the hash-list area supports, else text)."""
    if Path(path).stat().st_size == 0:
        return []  # e.g. a delta that removes nothing
    try:
        from appliance.hashlist.importers import iter_file  # type: ignore[attr-defined]

        return list(iter_file(path, "auto", lenient=False))
    except ImportError:
        from appliance.hashlist.importers import text

        return list(text.iter_records(path))


def _software_members(payloads: Sequence[Path]) -> list[tuple[str, bytes, int]]:
    out: list[tuple[str, bytes, int]] = []
    for top in payloads:
        st = os.lstat(top)
        items: Iterable[tuple[Path, str]]
        if stat.S_ISDIR(st.st_mode):
            items = ((p, p.relative_to(top).as_posix()) for p in sorted(top.rglob("*")))
        else:
            items = [(top, top.name)]
        for p, name in items:
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode):
                continue
            if not stat.S_ISREG(st.st_mode):
                raise GapscanError(f"{p}: only regular files can go into a bundle (no links or special files)")
            out.append((check_member_name(name), p.read_bytes(), 0o755 if st.st_mode & 0o111 else 0o644))
    return out


def build_bundle(out: Path, *, kind: str, version: int, keys: Sequence[SigningKey], payloads: Sequence[Path],
                 base: int | None = None, product: str = "gapscan", list_name: str | None = None,
                 list_kind: str = "alert", removed: Sequence[Path] = (), signed_at: int | None = None,
                 expires: int | None = None) -> dict[str, Any]:
    """Write a signed bundle; returns its manifest."""
    if kind == "hashlist":
        added = [r for p in payloads for r in records_from_file(p)]
        if base is None:
            members = [("records.tsv", encode_records(added), 0o644)]
        else:
            gone = [r for p in removed for r in records_from_file(p)]
            members = [("added.tsv", encode_records(added), 0o644), ("removed.tsv", encode_records(gone), 0o644)]
        lst: dict[str, str] | None = {"name": list_name or (payloads[0].stem if payloads else "list"),
                                      "kind": list_kind}
    elif kind == "software":
        members, lst = _software_members(payloads), None
    elif kind == "root":
        if len(payloads) != 1:
            raise GapscanError("a root bundle carries exactly one payload: the new root.json")
        members, lst = [("root.json", payloads[0].read_bytes(), 0o644)], None
    else:
        raise GapscanError(f"unknown bundle kind {kind!r}")
    manifest = {"format": 1, "kind": kind, "product": product, "version": version, "base": base,
                "signed_at": int(time.time()) if signed_at is None else signed_at, "expires": expires,
                "list": lst,
                "members": [{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest(),
                             **({"mode": m} if m != 0o644 else {})} for n, d, m in members]}
    write_signed(out, manifest, keys, [d for _, d, _ in members])
    return manifest


def write_signed(out: Path, manifest: dict[str, Any], keys: Sequence[SigningKey], members: list[bytes]) -> None:
    data = canonical_json(manifest)
    sigs = canonical_json({"signatures": [k.sign(MANIFEST_DOMAIN, data) for k in keys]})
    tmp = out.with_name(f".{out.name}.tmp")
    with open(tmp, "wb") as fh:
        write_bundle(fh, data, sigs, members)
    os.replace(tmp, out)


__all__ = ["build_bundle", "build_root", "keygen", "resign_root", "write_signed"]
