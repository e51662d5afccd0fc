"""Software releases in A/B slots under ``state_dir/software/`` with a boot counter and mark-good.

``software/a`` and ``software/b`` hold two releases; ``software/slots.json`` is the pointer: the current
slot, the previous one, each slot's version, the anti-rollback floor, and whether the current slot is
still on probation (``pending``) with how many boots it has had. A release is written into the inactive
slot under a temp name, fsynced, renamed into place, and only then does one atomic rewrite of
``slots.json`` switch to it. Each start calls :func:`boot`; a release that has not called
:func:`mark_good` within ``MAX_TRIAL_BOOTS`` starts is abandoned and the previous slot becomes current
again (the bootloader's job on the appliance; the same logic, testable here).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from appliance.update.durable import atomic_write_json, fsync_dir, read_json, step, write_file
from appliance.update.errors import BundleRefused

SLOTS = ("a", "b")
MAX_TRIAL_BOOTS = 3
RELEASE_FILE = ".release.json"
_CHUNK = 1024 * 1024


def software_dir(state_dir: Path) -> Path:
    d = Path(state_dir) / "software"
    d.mkdir(mode=0o755, parents=True, exist_ok=True)
    return d


def load_slots(state_dir: Path) -> dict[str, Any]:
    default = {"current": None, "previous": None, "versions": {"a": None, "b": None}, "bundles": {},
               "pending": False, "boots": 0, "floor": 0, "fell_back_from": None}
    return {**default, **read_json(software_dir(state_dir) / "slots.json", {})}


def save_slots(state_dir: Path, slots: dict[str, Any]) -> None:
    atomic_write_json(software_dir(state_dir) / "slots.json", slots)


def current_release(state_dir: Path) -> Path | None:
    slot = load_slots(state_dir)["current"]
    return software_dir(state_dir) / slot if slot else None


def install_release(state_dir: Path, *, copy: Path, data_offset: int, members: list[Any], version: int,
                    bundle_id: str) -> str:
    """Write the verified members into the inactive slot, then switch the pointer. Returns the slot."""
    root = software_dir(state_dir)
    slots = load_slots(state_dir)
    target = "b" if slots["current"] == "a" else "a"
    staging, old = root / f".{target}.new", root / f".{target}.old"
    for leftover in (staging, old):
        shutil.rmtree(leftover, ignore_errors=True)
    staging.mkdir(mode=0o755)
    try:
        with open(copy, "rb") as fh:
            fh.seek(data_offset)
            for member in members:
                _extract(fh, staging, member)
        release = {"version": version, "bundle": bundle_id, "installed_at": int(time.time())}
        write_file(staging / RELEASE_FILE, json.dumps(release).encode(), mode=0o644)
        for d in sorted({(staging / m.name).parent for m in members} | {staging}, key=lambda p: -len(p.parts)):
            fsync_dir(d)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # a failed install leaves nothing behind
        raise
    if (root / target).exists():
        os.rename(root / target, old)
        step(f"rename {target} to .{target}.old")
    os.rename(staging, root / target)
    step(f"rename .{target}.new to {target}")
    fsync_dir(root)
    slots.update(previous=slots["current"], current=target, pending=True, boots=0, fell_back_from=None,
                 floor=max(int(slots["floor"]), version))
    slots["versions"] = {**slots["versions"], target: version}
    slots["bundles"] = {**slots["bundles"], target: bundle_id}
    save_slots(state_dir, slots)  # the commit point: before it the old release is current, after it the new
    shutil.rmtree(old, ignore_errors=True)
    return target


def _extract(fh: Any, staging: Path, member: Any) -> None:
    """Create one plain file (O_EXCL, O_NOFOLLOW, mode 0644/0755) from the next ``member.size`` bytes."""
    dest = staging / member.name
    dest.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        left = member.size
        while left:
            chunk = fh.read(min(_CHUNK, left))
            if not chunk:
                raise BundleRefused("truncated", f"verified copy ends inside member {member.name}")
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
        step(f"write {member.name}")
        out.flush()
        os.fsync(out.fileno())
        step(f"fsync {member.name}")
    if digest.hexdigest() != member.sha256:  # the private copy changed under us: refuse, never install it
        raise BundleRefused("hash-mismatch", f"member {member.name} differs from the verified copy")
    os.chmod(dest, member.mode)


def boot(state_dir: Path, *, max_trial_boots: int = MAX_TRIAL_BOOTS) -> dict[str, Any]:
    """Count one start of the current release; fall back to the previous slot after too many unconfirmed."""
    slots = load_slots(state_dir)
    if not slots["pending"]:
        return slots
    slots["boots"] = int(slots["boots"]) + 1
    if slots["boots"] > max_trial_boots and slots["previous"]:
        slots.update(fell_back_from=slots["current"], current=slots["previous"], previous=slots["current"],
                     pending=False, boots=0)
    save_slots(state_dir, slots)
    return slots


def mark_good(state_dir: Path) -> dict[str, Any]:
    """The running release confirms itself healthy: it stays current."""
    slots = load_slots(state_dir)
    if slots["pending"]:
        slots.update(pending=False, boots=0)
        save_slots(state_dir, slots)
    return slots
