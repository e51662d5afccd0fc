"""``gapscan lock``: forget this boot's unlock token; scans then need the passphrase (or TPM) again."""

from __future__ import annotations

import argparse

from appliance.audit import AuditLog
from appliance.cli import EXIT_OK
from appliance.config import resolve_state_dir


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("lock", help="lock the hash-list store (remove this boot's unlock token)")
    p.set_defaults(func=run_lock)


def run_lock(args: argparse.Namespace) -> int:
    from appliance.hashlist.store import HashListStore  # loaded only when this command runs

    state_dir = resolve_state_dir(args.state_dir)
    removed = HashListStore(state_dir).forget_for_boot()
    with AuditLog.in_state_dir(state_dir) as audit:
        audit.record("store.lock", actor="cli", token_removed=removed)
    print("hash-list store locked" + ("" if removed else " (it was not unlocked for this boot)"))
    return EXIT_OK
