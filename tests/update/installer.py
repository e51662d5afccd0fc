"""The installer process the power-cut tests SIGKILL: ``gapscan bundle apply`` without the CLI's other commands.

Calls the same code as ``gapscan --state-dir S bundle apply X`` (appliance.cli.commands.bundle.run_apply),
but imports only the update engine, so each of the many killed runs starts fast. Uses the stand-in
hash-list store only while the real one is missing.
"""

import argparse
import sys
from pathlib import Path

from tests.update.standin_store import install_if_needed

if __name__ == "__main__":
    install_if_needed()
    from appliance.cli.commands.bundle import run_apply
    from appliance.errors import GapscanError

    state_dir, bundle = sys.argv[1], sys.argv[2]
    try:
        sys.exit(run_apply(argparse.Namespace(state_dir=state_dir, bundle=Path(bundle), actor="installer",
                                              trust=None, kind=None)))
    except GapscanError as exc:
        print(f"gapscan: error: {exc}", file=sys.stderr)
        sys.exit(2)
