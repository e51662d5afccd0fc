"""Verify a bundle file: signed manifest first, then every member's size and SHA-256, then nothing else.

Order (each step refuses before the next one parses anything): the file must be a regular file within
the size cap; header lengths are bounded; the signature block's shape is checked; the manifest's
signatures are checked against the trust root (which key ids verified); only then is the manifest parsed;
then product, role threshold and kind; then members are streamed and hashed; then EOF must follow.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from appliance.update.canonical import strict_loads
from appliance.update.container import header_size, read_header
from appliance.update.errors import BundleRefused
from appliance.update.keys import MANIFEST_DOMAIN
from appliance.update.manifest import KIND_ROLE, MAX_TOTAL_BYTES, Manifest, parse_manifest
from appliance.update.state import Clock, Versions, is_production, load_installed_root
from appliance.update.trust import (
    TrustRoot,
    check_rotation,
    check_threshold,
    load_root_file,
    parse_root,
    parse_signatures,
    valid_signers,
)

MAX_BUNDLE_BYTES = MAX_TOTAL_BYTES + 1024 * 1024
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class VerifiedBundle:
    id: str
    kind: str
    product: str
    version: int
    base: int | None
    signed_at: int
    signers: list[str]
    members: list[tuple[str, int]]
    warnings: list[str] = field(default_factory=list)
    manifest: Manifest | None = None
    data_offset: int = 0
    new_root: TrustRoot | None = None

    @property
    def list_name(self) -> str | None:
        return self.manifest.list_name if self.manifest else None


def open_bundle_file(path: Path) -> BinaryIO:
    """Open without following a symlink or blocking on a FIFO; only a regular file within the cap passes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if os.path.islink(path):
            raise BundleRefused("not-a-file", f"{path} is a symbolic link; a bundle must be a regular file"
                                ) from None
        raise BundleRefused("read-error", f"cannot open {path}: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise BundleRefused("not-a-file", f"{path} is not a regular file (FIFO, device or directory)")
    if st.st_size > MAX_BUNDLE_BYTES:
        os.close(fd)
        raise BundleRefused("too-large", f"{path} is {st.st_size} bytes; bundles are capped at {MAX_BUNDLE_BYTES}")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def resolve_trust(state_dir: Path, trust: Path | None) -> TrustRoot:
    return load_root_file(Path(trust)) if trust is not None else load_installed_root(state_dir)


def verify_bundle(path: Path, *, state_dir: Path, trust: Path | None = None, clock: Clock | None = None,
                  expect_kind: str | None = None) -> VerifiedBundle:
    """Verify ``path`` completely against the trust root; raise BundleRefused naming the exact reason."""
    root = resolve_trust(state_dir, trust)
    production = is_production(state_dir)
    with open_bundle_file(Path(path)) as fh:
        return verify_stream(fh, root=root, production=production, state_dir=state_dir, clock=clock,
                             expect_kind=expect_kind)


def verify_stream(fh: BinaryIO, *, root: TrustRoot, production: bool, state_dir: Path, clock: Clock | None,
                  expect_kind: str | None) -> VerifiedBundle:
    manifest_bytes, sig_bytes = read_header(fh)
    bundle_id = hashlib.sha256(manifest_bytes).hexdigest()[:16]
    context: dict[str, object] = {}
    try:
        try:
            sig_doc = strict_loads(sig_bytes) if sig_bytes else {"signatures": []}
        except ValueError as exc:
            raise BundleRefused("malformed", f"signature block: {exc}") from None
        if not isinstance(sig_doc, dict) or set(sig_doc) != {"signatures"}:
            raise BundleRefused("malformed", "signature block must be {\"signatures\": [...]}")
        signatures = parse_signatures(sig_doc["signatures"], "manifest")
        context["keyids"] = [s["keyid"][:16] for s in signatures]
        good, problems = valid_signers(root, signatures, MANIFEST_DOMAIN, manifest_bytes)
        if not good:  # nothing trusted vouches for the manifest: do not even parse it
            check_threshold(root, "root", good, problems, production=production, what="manifest")
        manifest = parse_manifest(manifest_bytes)
        context.update(kind=manifest.kind, version=manifest.version, list=manifest.list_name)
        if manifest.product != root.product:
            raise BundleRefused("wrong-product", f"bundle is for product {manifest.product!r}; this appliance "
                                                 f"accepts {root.product!r}")
        signers = check_threshold(root, KIND_ROLE[manifest.kind], good, problems, production=production,
                                  what=f"{manifest.kind} manifest")
        if expect_kind and manifest.kind != expect_kind:
            raise BundleRefused("wrong-kind", f"a {manifest.kind} bundle was offered where a {expect_kind} "
                                              "bundle is expected")
        _check_member_set(manifest)
        root_member = _verify_members(fh, manifest)
        new_root = None
        if manifest.kind == "root":
            new_root = parse_root(root_member, source="root.json in bundle")
            if new_root.version != manifest.version:
                raise BundleRefused("malformed", f"root bundle version {manifest.version} differs from its "
                                                 f"root.json version {new_root.version}")
            check_rotation(root, new_root, production=production)
    except BundleRefused as exc:
        exc.context = exc.context or context
        raise exc.for_bundle(bundle_id) from None
    return VerifiedBundle(bundle_id, manifest.kind, manifest.product, manifest.version, manifest.base,
                          manifest.signed_at, signers, [(m.name, m.size) for m in manifest.members],
                          _time_warnings(manifest, state_dir, clock), manifest,
                          header_size(manifest_bytes, sig_bytes), new_root)


def _check_member_set(manifest: Manifest) -> None:
    names = [m.name for m in manifest.members]
    if manifest.kind == "hashlist":
        want = ["records.tsv"] if manifest.base is None else ["added.tsv", "removed.tsv"]
        if names != want:
            raise BundleRefused("malformed", f"a {'delta' if manifest.base else 'full'} hash-list bundle holds "
                                             f"exactly {' and '.join(want)}, not {', '.join(names)}")
    elif manifest.kind == "root" and names != ["root.json"]:
        raise BundleRefused("malformed", "a root bundle holds exactly one member, root.json")


def _verify_members(fh: BinaryIO, manifest: Manifest) -> bytes:
    """Stream and hash each member; returns root.json's bytes for a root bundle (else b'')."""
    keep = b""
    for member in manifest.members:
        digest = hashlib.sha256()
        left = member.size
        chunks: list[bytes] = []
        while left:
            try:
                chunk = fh.read(min(_CHUNK, left))
            except OSError as exc:
                raise BundleRefused("read-error", f"reading member {member.name} failed: "
                                                  f"{exc.strerror or exc} (was the drive removed?)") from None
            if not chunk:
                raise BundleRefused("truncated", f"file ends inside member {member.name} "
                                                 f"({member.size - left} of {member.size} bytes)")
            digest.update(chunk)
            if manifest.kind == "root":
                chunks.append(chunk)
            left -= len(chunk)
        if digest.hexdigest() != member.sha256:
            raise BundleRefused("hash-mismatch", f"member {member.name}: SHA-256 differs from the signed manifest")
        keep = b"".join(chunks)
    if fh.read(1):
        raise BundleRefused("unexpected-data", "data follows the last member listed in the signed manifest")
    return keep


def _time_warnings(manifest: Manifest, state_dir: Path, clock: Clock | None) -> list[str]:
    real = (clock or time.time)()
    floor = Versions.load(state_dir).time_floor
    now = max(real, floor)
    warnings = []
    if real < floor:
        warnings.append(f"the clock ({_iso(real)}) is behind the signed time floor ({_iso(floor)}); "
                        "the floor is used")
    if manifest.expires is not None and now > manifest.expires:
        warnings.append(f"bundle expired at {_iso(manifest.expires)} (now is at least {_iso(now)})")
    return warnings


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
