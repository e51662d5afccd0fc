"""The installer process the power-cut tests SIGKILL: ``gapscan bundle apply`` without the CLI's other commands.

Calls the same code as ``gapscan --state-dir S bundle apply X`` (appliance.cli.commands.bundle.run_apply),
but imports only the update engine, so each of the many killed runs starts fast. With
``GAPSCAN_TEST_STEP_OS=1`` every os.fsync, os.replace and os.rename of any module (the hash-list store's own
writes too) is a kill point.
"""

import argparse
import os
import sys
from pathlib import Path


def _kill_points_on_os_calls() -> None:
    from appliance.update.durable import step

    def wrap(name: str) -> None:
        original = getattr(os, name)

        def call(*args: object, **kwargs: object) -> object:
            result = original(*args, **kwargs)
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if not caller.startswith("appliance.update."):  # the update engine marks its own steps
                step(f"os.{name} in {caller}")
            return result

        setattr(os, name, call)

    for name in ("fsync", "replace", "rename"):
        wrap(name)


if __name__ == "__main__":
    if os.environ.get("GAPSCAN_TEST_STEP_OS") == "1":
        _kill_points_on_os_calls()
    from appliance.cli.commands.bundle import run_apply
    from appliance.errors import GapscanError

    state_dir, bundle = sys.argv[1], sys.argv[2]
    try:
        sys.exit(run_apply(argparse.Namespace(state_dir=state_dir, bundle=Path(bundle), actor="installer",
                                              trust=None, kind=None)))
    except GapscanError as exc:
        print(f"gapscan: error: {exc}", file=sys.stderr)
        sys.exit(2)
