"""``gapscan daemon``: run the appliance service in the foreground (the same as the ``gapscand`` command)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from appliance.daemon.args import add_arguments

    p = sub.add_parser("daemon", help="run the appliance service (gapscand) in the foreground",
                       description="Watch for drives, queue scans per device, drive the front panel and the "
                                   "watchdog, and answer the web UI on state_dir/run/gapscand.sock.")
    add_arguments(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from appliance.daemon.service import run_from_args

    return run_from_args(args)
