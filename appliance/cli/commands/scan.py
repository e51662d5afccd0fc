"""``gapscan scan`` and ``gapscan scans``: run, resume and list scans."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import BrokenExecutor
from contextlib import contextmanager
from typing import Any

from appliance.cli import EXIT_ERROR, EXIT_HITS, EXIT_OK
from appliance.config import resolve_state_dir
from appliance.errors import GapscanError
from appliance.hashing.digests import DEFAULT_ALGORITHMS, parse_algorithms
from appliance.hashlist.index import Matcher
from appliance.hashlist.selection import add_list_arguments, list_context, load_scan_lists
from appliance.pathfmt import display_path, escape_path
from appliance.results.store import HitRow, ResultStore
from appliance.scan.analyzers import analyzers_for
from appliance.scan.job import ScanJob, ScanOptions
from appliance.scan.records import ScanCounts
from appliance.scan.sources import add_source_arguments, finish_scan_source, open_scan_source, source_context
from firmware.media.source import SourceError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("scan", help="hash a source and match it against hash lists",
                       description="Walk SOURCE read-only, hash every file, report hits. "
                                   "Exit 0: no hits; 1: hits; 2: error.")
    p.add_argument("source", nargs="?", help="directory to scan (devices, images and smb:// with the media layer)")
    add_list_arguments(p)
    add_source_arguments(p)
    p.add_argument("--algorithms", default="md5,sha1,sha256",
                   help="digests to compute (default: md5,sha1,sha256); add pdq to record perceptual hashes of "
                        "every image and video (done anyway where a list holds PDQ entries)")
    p.add_argument("--json", action="store_true", help="one JSON object per hit, then a summary line")
    p.add_argument("--resume", metavar="SCAN_ID", help="continue an interrupted scan")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel hashing workers (default: one per core)")
    p.add_argument("--hash-sparse", action="store_true", help="hash large sparse files too (default: skip)")
    p.add_argument("--max-file-size", type=int, default=None, metavar="BYTES", help="skip larger files")
    p.add_argument("--hash-all", action="store_true",
                   help="compute every digest of every file (no size pre-filter)")
    p.add_argument("--no-progress", action="store_true", help="no progress display even on a terminal")
    p.add_argument("--id-file", metavar="FILE",
                   help="write the scan id to FILE as soon as the scan is recorded (for controllers)")
    p.set_defaults(func=run_scan)

    p = sub.add_parser("scans", help="list recorded scans")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=list_scans)


@contextmanager
def _signals_cancel(job: ScanJob) -> Iterator[None]:
    """Ctrl-C (SIGINT) and SIGTERM (systemd stop, kill, the web UI's cancel) stop the scan cleanly: what was
    hashed is recorded, the scan is marked interrupted and can be resumed. A second signal changes nothing."""
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda *_: job.cancel()) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _with_id_file(sink: Any, id_file: str | None) -> Any:
    """Wrap an event sink so the scan id reaches ``id_file`` (atomically) on the first event."""
    if not id_file:
        return sink

    def on_event(event: Any) -> None:
        if event.kind == "start":
            tmp = f"{id_file}.tmp"
            with open(tmp, "w", encoding="ascii") as fh:
                fh.write(event.scan_id)
            os.replace(tmp, id_file)
        sink(event)

    return on_event


def run_scan(args: argparse.Namespace) -> int:
    state_dir = resolve_state_dir(args.state_dir)
    store = ResultStore.in_state_dir(state_dir)
    try:
        if args.resume:
            scan = store.get_scan(args.resume)
            if scan is None:
                raise GapscanError(f"no scan with id {args.resume!r} in {state_dir}")
            if scan.status == "finished":
                raise GapscanError(f"scan {args.resume} already finished; nothing to resume")
            if scan.status == "running" and _process_alive(scan.extra.get("pid")):
                raise GapscanError(f"scan {args.resume} is still running (process {scan.extra['pid']}); "
                                   "stop it first (SIGTERM) or wait for it")
            options = ScanOptions.from_json(scan.options)
            source_spec = scan.source
            context = scan.options
        else:
            if not args.source:
                raise GapscanError("a SOURCE to scan is required (or --resume SCAN_ID)")
            try:
                names = {n.strip().lower() for n in args.algorithms.split(",")}
                pdq = "pdq" in names
                algorithms = parse_algorithms(names - {"pdq"} or DEFAULT_ALGORITHMS)
            except ValueError as exc:
                raise GapscanError(f"--algorithms: {exc}") from None
            kwargs: dict[str, Any] = {"algorithms": algorithms, "pdq": pdq, "hash_sparse": args.hash_sparse,
                                      "max_file_size": args.max_file_size, "hash_all": args.hash_all}
            if args.workers is not None:
                if args.workers < 1:
                    raise GapscanError(f"--workers must be at least 1 (got {args.workers})")
                kwargs["workers"] = args.workers
            options = ScanOptions(**kwargs)
            source_spec = args.source
            # Remember what --resume needs to rebuild the same matcher and reopen the same source.
            context = {**list_context(args), **source_context(args)}
        matcher = Matcher(load_scan_lists(context, state_dir))
        source = open_scan_source(source_spec, context)
        job = ScanJob(source, matcher, store, options, analyzers=analyzers_for(
            matcher, (*options.algorithms, "pdq") if options.pdq else options.algorithms))
        from appliance.cli.progress import ScanProgress

        with ScanProgress(False if (args.no_progress or args.json) else None) as progress, _signals_cancel(job):
            job.on_event = _with_id_file(progress.update, args.id_file)
            try:
                counts = job.resume(args.resume) if args.resume else job.start(context)
            except SourceError as exc:
                raise GapscanError(f"{exc}; what was recorded is kept: continue with "
                                   f"gapscan scan --resume {job.scan_id}") from None
            except BrokenExecutor as exc:
                raise GapscanError(f"a hashing worker died ({exc}); what was recorded is kept: continue with "
                                   f"gapscan scan --resume {job.scan_id}") from None
            finally:
                if job.scan_id is not None:
                    finish_scan_source(source, store, job.scan_id)  # device fingerprint after; closes source
        assert job.scan_id is not None
        scan = store.get_scan(job.scan_id)
        assert scan is not None
        _print_results(store, job.scan_id, counts, scan.status, scan.seconds, as_json=args.json)
        if scan.status != "finished":
            print(f"gapscan: scan {job.scan_id} {scan.status}; continue it with: "
                  f"gapscan scan --resume {job.scan_id}", file=sys.stderr)
            return EXIT_ERROR
        return EXIT_HITS if counts.hits else EXIT_OK
    finally:
        store.close()


def _process_alive(pid: object) -> bool:
    """Is the process that last ran a scan still there? (A scan killed with -9 stays ``running`` in the store.)"""
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read()
    except OSError:
        return False
    return b"appliance" in cmdline or b"gapscan" in cmdline


def _print_results(store: ResultStore, scan_id: str, counts: ScanCounts, status: str, seconds: float, *,
                   as_json: bool) -> None:
    files = {f.path: f for f in store.iter_files(scan_id, hits_only=True)}
    out = sys.stdout
    for hit in store.iter_hits(scan_id):
        f = files.get(hit.path)
        if as_json:
            out.write(json.dumps(hit_json(hit, f)) + "\n")
        else:
            label = f" [{hit.label}]" if hit.label else ""
            out.write(f"HIT {display_path(hit.path)}  {hit.algorithm} in {hit.list_name} "
                      f"v{hit.list_version}{label}\n")
    summary = {"scan_id": scan_id, "status": status, "files": counts.files, "bytes": counts.bytes,
               "hits": counts.hits, "errors": counts.errors, "skipped": counts.skipped,
               "known": counts.known, "prefiltered": counts.prefiltered, "seconds": round(seconds, 3)}
    if as_json:
        out.write(json.dumps({"summary": summary}) + "\n")
    else:
        out.write(f"scan {scan_id} {status}: {counts.files} files, {counts.bytes / 1e6:.1f} MB in "
                  f"{seconds:.1f} s; {counts.hits} hit(s), {counts.errors} error(s), {counts.skipped} skipped"
                  + (f", {counts.prefiltered} not hashed (size matches no list entry)" if counts.prefiltered
                     else "") + "\n")
    out.flush()


def hit_json(hit: HitRow, f: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "path": escape_path(hit.path), "size": f.size if f else None,
        "md5": f.md5.hex() if f and f.md5 else None, "sha1": f.sha1.hex() if f and f.sha1 else None,
        "sha256": f.sha256.hex() if f and f.sha256 else None, "algorithm": hit.algorithm,
        "list": hit.list_name, "list_version": hit.list_version, "label": hit.label,
    }
    if hit.distance is not None:
        d["distance"] = hit.distance
    if f and f.flags:
        d["flags"] = f.flags.split(",")
    return d


def list_scans(args: argparse.Namespace) -> int:
    with ResultStore.in_state_dir(resolve_state_dir(args.state_dir)) as store:
        for scan in store.list_scans(args.limit):
            counts = store.counts(scan.id)
            if args.json:
                print(json.dumps({"scan_id": scan.id, "source": scan.source, "status": scan.status,
                                  "started_at": scan.started_at, "finished_at": scan.finished_at, **counts}))
            else:
                print(f"{scan.id}  {scan.status:<11} {counts['files']:>8} files {counts['hits']:>5} hits  "
                      f"{display_path(scan.source.encode())}")
    return EXIT_OK
