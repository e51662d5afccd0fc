"""``gapscan selftest``: known-answer checks of every hash path and of the hash-list store."""

from __future__ import annotations

import argparse
import json

from appliance.cli import EXIT_ERROR, EXIT_OK
from appliance.config import resolve_state_dir
from appliance.errors import GapscanError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("selftest", help="check every hash path and the hash-list store against known answers",
                       description="Hash built-in canaries with known digests on the active backend and check "
                                   "the hash-list store. Exit 0: all passed; 2: a check failed (scanning is "
                                   "blocked until it passes).")
    p.add_argument("--json", action="store_true", help="the report as one JSON object")
    p.add_argument("--no-store", action="store_true", help="skip the hash-list store check")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from appliance.audit import AuditLog
    from appliance.selftest import run_selftest

    state_dir = resolve_state_dir(args.state_dir)
    report = run_selftest(state_dir, check_store=not args.no_store)
    with AuditLog.in_state_dir(state_dir) as audit:
        audit.record("selftest", actor="cli", outcome="ok" if report.passed else "failed",
                     failed=[c.name for c in report.failures], backend=report.backend)
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        for c in report.checks:
            mark = "PASS" if c.passed else "FAIL"
            print(f"{mark}  {c.name}: {c.detail}")
        print(f"backend: {report.backend}")
    if not report.passed:
        raise GapscanError(report.summary() + " - scanning is blocked until the self-test passes")
    return EXIT_OK if report.passed else EXIT_ERROR
