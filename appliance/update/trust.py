"""The trust root (``root.json``): public keys, roles with thresholds, revocations; and threshold checks.

Layout (TUF-like)::

    {"signed": {"_type": "gapscan-root", "product": "gapscan", "version": 1,
                "keys": {KEYID: {"keytype": "ed25519", "public": HEX, "dev": false}},
                "roles": {"root": {"keyids": [...], "threshold": 1}, "lists": {...}, "software": {...}},
                "revoked": [KEYID, ...]},
     "signatures": [{"keyid": KEYID, "sig": HEX}]}

The root is self-signed by its own root threshold. A new root must be signed by the current root's
threshold and by its own (TUF's rotation rule); :func:`check_rotation` enforces that.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.update.canonical import canonical_json, strict_loads
from appliance.update.errors import BundleRefused
from appliance.update.keys import ROOT_DOMAIN, SigningKey, verify_signature

ROLES = ("root", "lists", "software")
MAX_ROOT_BYTES = 64 * 1024
MAX_SIGNATURES = 16
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")


@dataclass(frozen=True)
class Role:
    keyids: tuple[str, ...]
    threshold: int


@dataclass(frozen=True)
class TrustRoot:
    product: str
    version: int
    keys: dict[str, dict[str, Any]]
    roles: dict[str, Role]
    revoked: frozenset[str] = field(default_factory=frozenset)
    signed_bytes: bytes = b""
    signatures: tuple[dict[str, str], ...] = ()

    def to_document(self) -> dict[str, Any]:
        return {"signed": json.loads(self.signed_bytes), "signatures": list(self.signatures)}

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_document(), indent=1, sort_keys=True).encode() + b"\n"


def parse_signatures(obj: Any, where: str) -> list[dict[str, str]]:
    """Validate a signature list's shape (before any signature is believed)."""
    if not isinstance(obj, list) or len(obj) > MAX_SIGNATURES:
        raise BundleRefused("malformed", f"{where}: signatures must be a list of at most {MAX_SIGNATURES}")
    out = []
    for sig in obj:
        if (not isinstance(sig, dict) or set(sig) != {"keyid", "sig"} or not isinstance(sig["keyid"], str)
                or not isinstance(sig["sig"], str) or not _HEX64.fullmatch(sig["keyid"])
                or not _HEX128.fullmatch(sig["sig"])):
            raise BundleRefused("malformed", f"{where}: each signature is {{keyid: 64 hex, sig: 128 hex}}")
        out.append(sig)
    if not out:
        raise BundleRefused("missing-signature", f"{where} carries no signature")
    return out


def valid_signers(root: TrustRoot, signatures: Iterable[dict[str, str]], domain: bytes, data: bytes
                  ) -> tuple[set[str], list[tuple[str, str]]]:
    """Key ids of ``root`` whose signature over ``data`` verifies, and (keyid, problem) for every other one."""
    good: set[str] = set()
    problems: list[tuple[str, str]] = []
    for sig in signatures:
        kid = sig["keyid"]
        key = root.keys.get(kid)
        if kid in root.revoked:  # named as revoked whether or not the root still lists its public key
            problems.append((kid, "revoked-key"))
        elif key is None:
            problems.append((kid, "unknown-key"))
        elif not verify_signature(key["public"], domain, data, sig["sig"]):
            problems.append((kid, "bad-signature"))
        else:
            good.add(kid)
    return good, problems


def check_threshold(root: TrustRoot, role: str, good: set[str], problems: list[tuple[str, str]], *,
                    production: bool, what: str) -> list[str]:
    """Return the signer key ids that count for ``role``; raise the most telling refusal if too few."""
    authorised = set(root.roles[role].keyids)
    dev = {k for k in good if root.keys[k].get("dev")}
    counted = sorted((good & authorised) - (dev if production else set()))
    if len(counted) >= root.roles[role].threshold:
        return counted
    need = root.roles[role].threshold
    reasons = [p for _, p in problems]
    if "bad-signature" in reasons:
        kid = next(k for k, p in problems if p == "bad-signature")
        raise BundleRefused("bad-signature", f"{what}: signature by key {kid[:16]} does not verify")
    if "revoked-key" in reasons:
        kid = next(k for k, p in problems if p == "revoked-key")
        raise BundleRefused("revoked-key", f"{what}: signed by revoked key {kid[:16]}")
    if production and dev & authorised:
        raise BundleRefused("dev-key", f"{what}: signed by development key {sorted(dev)[0][:16]}, "
                                       "which a production appliance refuses")
    if good and not (good & authorised):
        raise BundleRefused("wrong-role", f"{what}: signed only by keys that are not {role} keys "
                                          f"({', '.join(k[:16] for k in sorted(good))})")
    if not good and "unknown-key" in reasons:
        raise BundleRefused("unknown-key", f"{what}: signed by key(s) the trust root does not know "
                                           f"({', '.join(k[:16] for k, _ in problems)})")
    raise BundleRefused("below-threshold", f"{what}: {len(counted)} valid {role} signature(s), {need} required")


def parse_root(data: bytes, *, source: str) -> TrustRoot:
    """Parse and self-verify a root document. Raises BundleRefused(malformed / signature reasons)."""
    if len(data) > MAX_ROOT_BYTES:
        raise BundleRefused("too-large", f"trust root {source} exceeds {MAX_ROOT_BYTES} bytes")
    try:
        doc = strict_loads(data, canonical=False)
        if not isinstance(doc, dict) or set(doc) != {"signed", "signatures"} or not isinstance(doc["signed"], dict):
            raise ValueError("top level must be {signed, signatures}")
        signed = doc["signed"]
        if set(signed) != {"_type", "product", "version", "keys", "roles", "revoked"}:
            raise ValueError("signed must have exactly _type, product, version, keys, roles, revoked")
        if signed["_type"] != "gapscan-root" or not isinstance(signed["product"], str):
            raise ValueError("_type must be gapscan-root and product a string")
        if not isinstance(signed["version"], int) or isinstance(signed["version"], bool) or signed["version"] < 1:
            raise ValueError("version must be a positive integer")
        keys = signed["keys"]
        if not isinstance(keys, dict) or not keys:
            raise ValueError("keys must be a non-empty object")
        for kid, key in keys.items():
            if (not _HEX64.fullmatch(kid) or not isinstance(key, dict) or set(key) != {"keytype", "public", "dev"}
                    or key["keytype"] != "ed25519" or not isinstance(key["public"], str)
                    or not _HEX64.fullmatch(key["public"]) or not isinstance(key["dev"], bool)):
                raise ValueError(f"key {kid[:16]!r}: must be {{keytype: ed25519, public: 64 hex, dev: bool}}")
            from appliance.update.keys import key_id
            if key_id(bytes.fromhex(key["public"])) != kid:
                raise ValueError(f"key {kid[:16]}: id is not the SHA-256 of its public key")
        roles: dict[str, Role] = {}
        if not isinstance(signed["roles"], dict) or set(signed["roles"]) != set(ROLES):
            raise ValueError(f"roles must be exactly {', '.join(ROLES)}")
        for name, role in signed["roles"].items():
            if (not isinstance(role, dict) or set(role) != {"keyids", "threshold"}
                    or not isinstance(role["keyids"], list) or not isinstance(role["threshold"], int)
                    or isinstance(role["threshold"], bool) or not 1 <= role["threshold"] <= len(role["keyids"])
                    or any(k not in keys for k in role["keyids"]) or len(set(role["keyids"])) != len(role["keyids"])):
                raise ValueError(f"role {name}: keyids must be known keys and 1 <= threshold <= len(keyids)")
            roles[name] = Role(tuple(role["keyids"]), role["threshold"])
        if not isinstance(signed["revoked"], list) or not all(isinstance(k, str) for k in signed["revoked"]):
            raise ValueError("revoked must be a list of key ids")
    except ValueError as exc:
        raise BundleRefused("malformed", f"trust root {source}: {exc}") from None
    signatures = parse_signatures(doc["signatures"], f"trust root {source}")
    root = TrustRoot(signed["product"], signed["version"], keys, roles, frozenset(signed["revoked"]),
                     canonical_json(signed), tuple(signatures))
    return root


def verify_root_self(root: TrustRoot, *, source: str, production: bool = False) -> list[str]:
    """A root must carry its own root-role threshold."""
    good, problems = valid_signers(root, root.signatures, ROOT_DOMAIN, root.signed_bytes)
    return check_threshold(root, "root", good, problems, production=production, what=f"trust root {source}")


def check_rotation(current: TrustRoot, new: TrustRoot, *, production: bool) -> list[str]:
    """TUF rule: version is exactly current+1, same product, signed by current's AND new's root thresholds."""
    what = f"new trust root v{new.version}"
    if new.product != current.product:
        raise BundleRefused("wrong-product", f"{what} is for product {new.product!r}, "
                                             f"this appliance runs {current.product!r}")
    if new.version != current.version + 1:
        reason = "rollback" if new.version <= current.version else "malformed"
        raise BundleRefused(reason, f"{what}: the installed trust root is v{current.version}; "
                                    f"only v{current.version + 1} can follow it")
    good_old, problems_old = valid_signers(current, new.signatures, ROOT_DOMAIN, new.signed_bytes)
    try:
        old_signers = check_threshold(current, "root", good_old, problems_old, production=production,
                                      what=f"{what} (current root v{current.version}'s threshold)")
    except BundleRefused as exc:
        raise BundleRefused("below-threshold", f"{what} is not signed by the current root's threshold "
                                               f"({exc.reason}); a rotation needs the old and the new root keys"
                            ) from None
    new_signers = verify_root_self(new, source=what, production=production)
    return sorted(set(old_signers) | set(new_signers))


def build_root(product: str, version: int, keys: dict[str, SigningKey | list[SigningKey]],
               thresholds: dict[str, int] | None = None, *, revoked: Iterable[str] = (),
               signers: Iterable[SigningKey] = ()) -> TrustRoot:
    """Vendor side: a root naming ``keys`` per role, signed by ``signers`` (the root keys when omitted)."""
    entries: dict[str, dict[str, Any]] = {}
    roles: dict[str, dict[str, Any]] = {}
    for role in ROLES:
        role_keys = keys[role] if isinstance(keys[role], list) else [keys[role]]  # type: ignore[list-item]
        for k in role_keys:  # type: ignore[union-attr]
            entries[k.keyid] = {"keytype": "ed25519", "public": k.public_raw.hex(), "dev": k.dev}
        roles[role] = {"keyids": [k.keyid for k in role_keys],  # type: ignore[union-attr]
                       "threshold": (thresholds or {}).get(role, 1)}
    signed = {"_type": "gapscan-root", "product": product, "version": version, "keys": entries,
              "roles": roles, "revoked": sorted(revoked)}
    data = canonical_json(signed)
    sign_with = list(signers) or list(keys["root"] if isinstance(keys["root"], list) else [keys["root"]])
    signatures = tuple(k.sign(ROOT_DOMAIN, data) for k in sign_with)
    return TrustRoot(product, version, entries, {r: Role(tuple(v["keyids"]), v["threshold"]) for r, v in
                                                  roles.items()}, frozenset(revoked), data, signatures)


def resign_root(root: TrustRoot, signers: Iterable[SigningKey]) -> TrustRoot:
    sigs = tuple(k.sign(ROOT_DOMAIN, root.signed_bytes) for k in signers)
    return TrustRoot(root.product, root.version, root.keys, root.roles, root.revoked, root.signed_bytes, sigs)


def load_root_file(path: Path) -> TrustRoot:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BundleRefused("no-trust-root", f"cannot read trust root {path}: {exc.strerror or exc}") from None
    root = parse_root(data, source=str(path))
    verify_root_self(root, source=str(path))
    return root
