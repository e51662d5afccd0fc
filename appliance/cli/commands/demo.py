"""``gapscan demo``: generate demo media and a demo hash list, then scan them (the README's run command
until the web UI takes over that role)."""

from __future__ import annotations

import argparse

from appliance.config import resolve_state_dir
from appliance.demo import make_demo


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="scan generated demo media against a demo hash list")
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from appliance.cli.commands.scan import run_scan

    demo = make_demo(resolve_state_dir(args.state_dir) / "demo")
    print(f"demo media: {demo.media}\ndemo hash list: {demo.hashlist}")
    scan_args = argparse.Namespace(
        state_dir=args.state_dir, source=str(demo.media), hashlist=[str(demo.hashlist)], lenient=False,
        algorithms="md5,sha1,sha256", json=False, resume=None, workers=None, hash_sparse=False,
        max_file_size=None, hash_all=False, no_progress=False)
    return run_scan(scan_args)
