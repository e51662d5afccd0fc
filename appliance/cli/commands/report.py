"""``gapscan report SCAN_ID --format csv|json|dfxml --out FILE``."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from appliance.cli import EXIT_OK
from appliance.config import resolve_state_dir
from appliance.errors import GapscanError
from appliance.results.store import ResultStore

#: appliance.results.reports.FORMATS, spelled out so that building the parser (for every command, ``scan``
#: included) does not import the report writers and what they pull in (xml.sax -> urllib -> http.client).
FORMATS = ("csv", "json", "dfxml")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("report", help="write a scan's report (metadata and digests, never content)")
    p.add_argument("scan_id")
    p.add_argument("--format", choices=FORMATS, default="json")
    p.add_argument("--out", metavar="FILE", help="write here (atomically) instead of stdout")
    p.add_argument("--hits-only", action="store_true", help="only files that matched a list")
    p.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    with ResultStore.in_state_dir(resolve_state_dir(args.state_dir)) as store:
        scan = store.get_scan(args.scan_id)
        if scan is None:
            raise GapscanError(f"no scan with id {args.scan_id!r}")
        from appliance.results.reports import WRITERS

        writer = WRITERS[args.format]
        if not args.out:
            writer(store, scan, sys.stdout, hits_only=args.hits_only)
            return EXIT_OK
        out = Path(args.out)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent or ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                writer(store, scan, fh, hits_only=args.hits_only)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    print(f"wrote {args.format} report of scan {args.scan_id} to {out}", file=sys.stderr)
    return EXIT_OK
