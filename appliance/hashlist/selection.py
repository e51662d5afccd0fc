"""Which hash lists a scan matches against.

``--hashlist FILE`` names plain files to load for this scan; with none, every active list of the encrypted
store is used (unlocked by ``--passphrase-file``, ``$GAPSCAN_PASSPHRASE``, this boot's ``gapscan unlock`` or
the TPM). With no list installed the scan only hashes. A locked store or a list that fails to decrypt is an
error (exit 2) naming the list. What is chosen is saved in the scan's context so ``--resume`` rebuilds the
same matcher. Allow-listed false positives are suppressed either way.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from appliance.errors import GapscanError
from appliance.hashlist.allow import AllowList
from appliance.hashlist.index import LoadedList
from appliance.hashlist.loading import load_list_file


def add_list_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hashlist", action="append", default=[], metavar="FILE",
                        help="a hash-list file to match against (repeatable; default: the store's lists)")
    parser.add_argument("--lenient", action="store_true", help="count and skip malformed hash-list lines")
    parser.add_argument("--passphrase-file", type=_remember_passphrase_file, metavar="FILE",
                        help="unlock the hash-list store with the passphrase in FILE")


def list_context(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON-able list selection to store with a new scan (never the passphrase)."""
    ctx: dict[str, Any] = {"hashlists": [str(p) for p in args.hashlist], "lenient": bool(args.lenient)}
    if not args.hashlist:
        ctx["hashlist_store"] = True
    return ctx


_PASSPHRASE_FILE: list[Path | None] = [None]


def _remember_passphrase_file(value: str) -> Path:
    """argparse ``type=``: remember the file for this process (new scans and --resume alike); it is never
    stored with the scan."""
    _PASSPHRASE_FILE[0] = Path(value)
    return Path(value)


def _passphrase() -> str | None:
    path = _PASSPHRASE_FILE[0]
    if path is None:
        return None
    from appliance.hashlist.passphrase import read_passphrase_file

    return read_passphrase_file(path)


def load_scan_lists(context: dict[str, Any], state_dir: Path) -> list[LoadedList]:
    """Load the lists ``context`` names. Raises GapscanError naming the list at fault."""
    lists: list[LoadedList] = []
    for path in context.get("hashlists", []):
        loaded, skipped = load_list_file(path, lenient=bool(context.get("lenient")))
        if skipped:
            print(f"gapscan: {path}: skipped {skipped} malformed line(s)", file=sys.stderr)
        lists.append(loaded)
    if not context.get("hashlists") and context.get("hashlist_store", True):
        lists = _store_lists(state_dir)
    allowed = AllowList(state_dir).suppressed()
    for lst in lists:
        lst.suppressed = frozenset(fp for fp, name in allowed if name == lst.info.name)
    return lists


def _store_lists(state_dir: Path) -> list[LoadedList]:
    from appliance.hashlist.store import HashListStore

    probe = HashListStore(state_dir)
    if not probe.metadata():
        print("gapscan: no hash list installed: hashing only (import one with `gapscan hashlist import FILE "
              "--name NAME`, or name a file with --hashlist FILE)", file=sys.stderr)
        return []
    store = HashListStore.open(state_dir, passphrase=_passphrase())
    lists, errors = store.load_active()
    if errors:
        raise GapscanError("cannot scan: " + "; ".join(errors))
    return lists
