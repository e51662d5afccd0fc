"""``apply_bundle``: copy, verify the copy, check versions, install from the copy, record the outcome.

Nothing is written outside ``state_dir/update/work-*`` until every check has passed; the refusal paths
therefore leave installed software and hash lists byte for byte as they were. Every accept, no-op and
refusal is audit-logged with bundle id, kind, version, key ids and reason, never a hash value.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from appliance.audit import AuditLog
from appliance.errors import GapscanError
from appliance.update import hashlists, software
from appliance.update.copy import Opener, copy_bundle, work_dir
from appliance.update.durable import atomic_write
from appliance.update.errors import BundleRefused
from appliance.update.state import Clock, Versions, installed_root_path, is_production, update_dir
from appliance.update.verify import VerifiedBundle, open_bundle_file, verify_bundle


@dataclass(frozen=True)
class ApplyResult:
    bundle: VerifiedBundle
    action: str  # "installed" | "no-op"
    detail: str


@contextmanager
def _update_lock(state_dir: Path) -> Iterator[None]:
    with open(update_dir(state_dir) / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def apply_bundle(path: Path, *, state_dir: Path, actor: str, trust: Path | None = None, clock: Clock | None = None,
                 expect_kind: str | None = None, opener: Opener = open_bundle_file,
                 after_copy: Callable[[], None] | None = None) -> ApplyResult:
    """Verify and install ``path``. ``opener``/``after_copy`` are test seams (a failing drive, a swapped file)."""
    state_dir = Path(state_dir)
    audit_source = Path(path).name
    if trust is not None and is_production(state_dir):
        raise GapscanError("--trust is refused on a production appliance: bundles verify against the "
                           "installed trust root only")
    with _update_lock(state_dir):
        work = work_dir(state_dir)
        verified: VerifiedBundle | None = None
        try:
            copy = copy_bundle(Path(path), work, opener=opener)
            if after_copy:
                after_copy()
            verified = verify_bundle(copy, state_dir=state_dir, trust=trust, clock=clock, expect_kind=expect_kind)
            try:
                result = _install(verified, copy, state_dir)
            except OSError as exc:  # disk full, I/O error: the pointer/list was not switched, old state stands
                raise BundleRefused("install-failed", f"writing the update failed: {exc.strerror or exc} "
                                                      "(the installed version is unchanged)") from None
        except BundleRefused as refused:
            exc = refused.for_bundle(verified.id) if verified is not None else refused
            _audit(state_dir, actor, "refused", audit_source, verified, reason=exc.reason, detail=exc.detail,
                   bundle=exc.bundle, **{k: v for k, v in exc.context.items() if v is not None})
            if exc is refused:
                raise
            raise exc from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
    _audit(state_dir, actor, "ok" if result.action == "installed" else "no-op", audit_source, verified,
           detail=result.detail)
    return result


def _install(v: VerifiedBundle, copy: Path, state_dir: Path) -> ApplyResult:
    assert v.manifest is not None
    if v.kind == "hashlist":
        return _install_hashlist(v, copy, state_dir)
    if v.kind == "software":
        return _install_software(v, copy, state_dir)
    return _install_root(v, state_dir)


def _member_files(v: VerifiedBundle, copy: Path, work: Path) -> dict[str, Path]:
    """Split the verified copy's members into files in the private work dir (hash-list import reads files)."""
    assert v.manifest is not None
    out: dict[str, Path] = {}
    with open(copy, "rb") as fh:
        fh.seek(v.data_offset)
        for m in v.manifest.members:
            dest = work / f"member-{len(out)}"
            digest = hashlib.sha256()
            with open(dest, "xb") as w:
                left = m.size
                while left:
                    chunk = fh.read(min(1 << 20, left))
                    if not chunk:
                        raise BundleRefused("truncated", f"verified copy ends inside member {m.name}", bundle=v.id)
                    digest.update(chunk)
                    w.write(chunk)
                    left -= len(chunk)
            if digest.hexdigest() != m.sha256:  # installed bytes are verified bytes, even if the copy changed
                raise BundleRefused("hash-mismatch", f"member {m.name} differs from the verified copy", bundle=v.id)
            out[m.name] = dest
    return out


def _install_hashlist(v: VerifiedBundle, copy: Path, state_dir: Path) -> ApplyResult:
    m = v.manifest
    assert m is not None and m.list_name is not None and m.list_kind is not None
    versions = Versions.load(state_dir)
    installed = hashlists.installed_version(state_dir, m.list_name)
    recorded = versions.floor(m.stream)
    reset = bool(versions.streams.get(m.stream, {}).get("reset_by_root"))
    # the store may be ahead of versions.json (power cut between the two); a rotation reset ignores it
    floor = (recorded or 0) if reset else max(recorded or 0, installed or 0)
    if m.version < floor:
        raise BundleRefused("rollback", f"hash list {m.list_name} v{m.version} is older than the installed "
                                        f"v{floor}", bundle=v.id)
    if m.version == floor:
        if recorded != floor:
            _raise_floors(state_dir, v, versions)
        return ApplyResult(v, "no-op", f"hash list {m.list_name} v{m.version} is already installed")
    if m.base is not None and m.base != installed:
        raise BundleRefused("wrong-base", f"delta for hash list {m.list_name} applies to v{m.base}, but "
                                          f"{'v' + str(installed) if installed else 'no version'} is installed",
                            bundle=v.id)
    try:
        hashlists.install(state_dir, name=m.list_name, kind=m.list_kind, version=m.version, base=m.base,
                          source=f"bundle {v.id}", members=_member_files(v, copy, copy.parent), replace_newer=reset)
    except BundleRefused as exc:
        raise exc.for_bundle(v.id) from None
    except GapscanError as exc:
        raise BundleRefused("install-failed", f"hash list {m.list_name}: {exc}", bundle=v.id) from None
    _raise_floors(state_dir, v, versions)
    what = f"delta v{m.base}→v{m.version}" if m.base else f"v{m.version}"
    return ApplyResult(v, "installed", f"hash list {m.list_name} {what} installed")


def _install_software(v: VerifiedBundle, copy: Path, state_dir: Path) -> ApplyResult:
    m = v.manifest
    assert m is not None
    slots = software.load_slots(state_dir)
    if m.version < int(slots["floor"]):
        raise BundleRefused("rollback", f"software v{m.version} is older than v{slots['floor']}, the newest "
                                        "accepted", bundle=v.id)
    if m.version == int(slots["floor"]):
        return ApplyResult(v, "no-op", f"software v{m.version} is already installed")
    if slots["pending"] and slots["previous"]:
        raise BundleRefused("pending-confirmation", f"software v{slots['versions'][slots['current']]} in slot "
                                                    f"{slots['current']} is still on trial; it must mark itself good "
                                                    "(or fall back) before another release may overwrite slot "
                                                    f"{slots['previous']}, the last good one", bundle=v.id)
    slot = software.install_release(state_dir, copy=copy, data_offset=v.data_offset, members=list(m.members),
                                    version=m.version, bundle_id=v.id)
    _raise_floors(state_dir, v, Versions.load(state_dir))
    return ApplyResult(v, "installed", f"software v{m.version} installed in slot {slot}; it becomes permanent "
                                       "once it marks itself good (`gapscan bundle mark-good`)")


def _install_root(v: VerifiedBundle, state_dir: Path) -> ApplyResult:
    """Rotation. Roles whose keys changed get their version floors reset (TUF fast-forward recovery)."""
    from appliance.update.state import load_installed_root

    assert v.new_root is not None and v.manifest is not None
    current = load_installed_root(state_dir)
    changed = [r for r in ("lists", "software") if set(current.roles[r].keyids) != set(v.new_root.roles[r].keyids)]
    if changed:
        versions = Versions.load(state_dir)
        if "lists" in changed:
            for stream in versions.streams:
                if stream.startswith("hashlist:"):
                    versions.streams[stream] = {"version": 0, "reset_by_root": v.new_root.version}
        versions.time_floor = v.manifest.signed_at
        versions.save(state_dir)
        if "software" in changed:
            slots = software.load_slots(state_dir)
            slots["floor"] = 0
            software.save_slots(state_dir, slots)
    atomic_write(installed_root_path(state_dir), v.new_root.to_bytes(), mode=0o644)
    note = f"; version floors reset for {', '.join(changed)}" if changed else ""
    return ApplyResult(v, "installed", f"trust root v{v.new_root.version} installed{note}")


def _raise_floors(state_dir: Path, v: VerifiedBundle, versions: Versions) -> None:
    assert v.manifest is not None
    if v.kind == "hashlist":
        versions.streams[v.manifest.stream] = {"version": v.version, "keyids": [k[:16] for k in v.signers]}
    versions.time_floor = max(versions.time_floor, v.signed_at)
    versions.save(state_dir)


def _audit(state_dir: Path, actor: str, outcome: str, source: str, v: VerifiedBundle | None, **details: object
           ) -> None:
    if v is not None:
        details.update(bundle=v.id, kind=v.kind, version=v.version, base=v.base, keyids=[k[:16] for k in v.signers],
                       list=v.list_name)
    with AuditLog.in_state_dir(state_dir) as log:
        log.record("update.apply", actor=actor, outcome=outcome, file=source,
                   **{k: v for k, v in details.items() if v is not None})
