"""The ``gapscan`` command. Each sub-command lives in its own module under ``appliance.cli.commands`` and
exposes ``register(subparsers)``; modules are discovered, so adding a command touches no shared file.

Exit status (like clamscan and grep): 0 = done, nothing found; 1 = done, hits found; 2 = error.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from appliance import __version__
from appliance.errors import GapscanError

EXIT_OK, EXIT_HITS, EXIT_ERROR = 0, 1, 2
STATE_DIR_HELP = ("where results and hash lists live (default: $GAPSCAN_STATE_DIR, /var/lib/gapscan on the "
                  "appliance, else ~/.local/share/gapscan)")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 already; keep our prefix
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"gapscan: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gapscan", description="Scan media read-only and match files against hash lists.")
    parser.add_argument("--version", action="version", version=f"gapscan {__version__}")
    parser.add_argument("--state-dir", metavar="DIR", help=STATE_DIR_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    from appliance.cli import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    _accept_state_dir_after_commands(parser)
    return parser


def _accept_state_dir_after_commands(parser: argparse.ArgumentParser) -> None:
    """``gapscan serve --state-dir D`` means the same as ``gapscan --state-dir D serve``, at every level.

    SUPPRESS keeps a sub-command from overwriting a ``--state-dir`` given before it with None."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in set(action.choices.values()):
                if "--state-dir" not in child._option_string_actions:
                    child.add_argument("--state-dir", metavar="DIR", default=argparse.SUPPRESS, help=STATE_DIR_HELP)
                _accept_state_dir_after_commands(child)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return int(args.func(args) or 0)
    except GapscanError as exc:
        print(f"gapscan: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_ERROR
