"""Which hash lists a scan matches against: ``--hashlist FILE`` files named on the command line.

Owned by the hash-list work: with no ``--hashlist``, the active lists of the encrypted store are used.
What is chosen is saved in the scan's context so ``--resume`` rebuilds the same matcher.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from appliance.hashlist.index import LoadedList
from appliance.hashlist.loading import load_list_file


def add_list_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hashlist", action="append", default=[], metavar="FILE",
                        help="a hash-list file to match against (repeatable)")
    parser.add_argument("--lenient", action="store_true", help="count and skip malformed hash-list lines")


def list_context(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON-able list selection to store with a new scan."""
    return {"hashlists": [str(p) for p in args.hashlist], "lenient": bool(args.lenient)}


def load_scan_lists(context: dict[str, Any], state_dir: Path) -> list[LoadedList]:
    """Load the lists ``context`` names. Raises GapscanError naming the list at fault."""
    lists: list[LoadedList] = []
    for path in context.get("hashlists", []):
        loaded, skipped = load_list_file(path, lenient=bool(context.get("lenient")))
        if skipped:
            print(f"gapscan: {path}: skipped {skipped} malformed line(s)", file=sys.stderr)
        lists.append(loaded)
    return lists
