"""``gapscan unlock``: unlock the hash-list store for this boot (passphrase or TPM).

The passphrase comes from ``--passphrase-file FILE``, ``$GAPSCAN_PASSPHRASE``, or a prompt on a terminal. The
first unlock of a fresh state directory sets the passphrase (and seals the key to the TPM where present).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from appliance.audit import AuditLog
from appliance.cli import EXIT_OK
from appliance.config import resolve_state_dir
from appliance.errors import GapscanError
from appliance.hashlist.passphrase import read_passphrase_file


def add_passphrase_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--passphrase-file", type=Path, metavar="FILE",
                   help="read the store passphrase from FILE (first line); else $GAPSCAN_PASSPHRASE")


def passphrase_from_args(args: argparse.Namespace) -> str | None:
    path: Path | None = getattr(args, "passphrase_file", None)
    if path is None:
        return None
    passphrase = read_passphrase_file(path)
    if passphrase is None:
        raise GapscanError(f"passphrase file {str(path)!r} is empty")
    return passphrase


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("unlock", help="unlock the hash-list store for this boot (passphrase or TPM)")
    add_passphrase_arguments(p)
    p.add_argument("--tpm", action="store_true", help="unlock with the TPM only (no passphrase)")
    p.add_argument("--seal-tpm", action="store_true", help="also seal the store key to this machine's TPM")
    p.set_defaults(func=run_unlock)


def run_unlock(args: argparse.Namespace) -> int:
    from appliance.hashlist.store import HashListStore, StoreLocked  # only commands that open it load the store

    state_dir = resolve_state_dir(args.state_dir)
    passphrase = None if args.tpm else passphrase_from_args(args)
    store = HashListStore(state_dir)
    if (passphrase is None and not args.tpm and not os.environ.get("GAPSCAN_PASSPHRASE")
            and not store.keystore.tpm_sealed and sys.stdin.isatty()):
        passphrase = getpass.getpass("hash-list store passphrase: ")
    with AuditLog.in_state_dir(state_dir) as audit:
        try:
            how = store.unlock(passphrase)
        except StoreLocked:
            audit.record("store.unlock", actor="cli", outcome="refused")
            raise
        if args.seal_tpm:
            store.seal_to_tpm()
        token = store.remember_for_boot()
        audit.record("store.unlock", actor="cli", method=how, tpm_sealed=store.keystore.tpm_sealed)
    print(f"hash-list store unlocked ({how}) until reboot or `gapscan lock`; token in {token.parent}")
    return EXIT_OK
