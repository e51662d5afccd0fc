"""``gapscan media list|watch|bundles``: attached drives, plug events, update bundles on a drive."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from appliance.cli import EXIT_OK
from appliance.media import AttachedDrive, attached_media, find_bundles, udev_status, volumes_of, watch_media


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("media", help="attached drives and plug events (udev)")
    msub = p.add_subparsers(dest="media_command", metavar="ACTION", required=True)
    lp = msub.add_parser("list", help="drives attached now (vendor, model, serial, size, volumes)")
    lp.add_argument("--all", action="store_true", help="also disks that are not removable mass storage")
    lp.add_argument("--json", action="store_true", help="one JSON object per drive")
    lp.set_defaults(func=run_list)
    wp = msub.add_parser("watch", help="print drives as they are plugged in and removed")
    wp.add_argument("--json", action="store_true", help="one JSON object per event")
    wp.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="stop after this long idle")
    wp.set_defaults(func=run_watch)
    vp = msub.add_parser("volumes", help="partition table and volumes of a drive or image (read in userland)")
    vp.add_argument("device")
    vp.add_argument("--json", action="store_true")
    vp.set_defaults(func=run_volumes)
    bp = msub.add_parser("bundles", help="update bundles on a drive, volume or image (read in userland)")
    bp.add_argument("device")
    bp.add_argument("--json", action="store_true")
    bp.set_defaults(func=run_bundles)


def _lines(drive: AttachedDrive) -> list[str]:
    if drive.devnode is None:
        return [f"{drive.title}: {drive.kind} on {drive.bus or '?'} — not mass storage, ignored"]
    flag = "" if drive.mass_storage else "  (not removable mass storage: not scanned automatically)"
    head = (f"{drive.devnode}  {drive.title}  serial {drive.serial or '?'}  {drive.size_text}  "
            f"bus {drive.bus or '?'}  table {drive.partition_table or '-'}{flag}")
    vols = [f"  {v.devnode}  {v.fstype or '?'}  label {v.label or '-'}  uuid {v.uuid or '-'}  {v.size_text}"
            for v in drive.volumes]
    return [head, *vols]


def run_list(args: argparse.Namespace) -> int:
    ok, why = udev_status()
    if not ok:
        print(f"gapscan: note: {why}", file=sys.stderr)
    drives = attached_media(mass_storage_only=not args.all)
    for d in drives:
        print(json.dumps(asdict(d)) if args.json else "\n".join(_lines(d)))
    if not drives and not args.json:
        print("no removable drives attached" + ("" if args.all else " (--all lists every disk)"))
    return EXIT_OK


def run_watch(args: argparse.Namespace) -> int:
    for change in watch_media(timeout=args.timeout):
        if args.json:
            print(json.dumps({"action": change.action, **asdict(change.drive)}), flush=True)
        else:
            verb = "added" if change.action == "add" else "removed"
            lines = _lines(change.drive)
            print(f"{verb}: {lines[0]}", *lines[1:], sep="\n", flush=True)
    return EXIT_OK


def run_bundles(args: argparse.Namespace) -> int:
    for b in find_bundles(args.device):
        print(json.dumps({"volume": b.volume, "path": b.path_in_volume, "size": b.size}) if args.json
              else f"{b.path_in_volume}  {b.size} bytes")
    return EXIT_OK


def run_volumes(args: argparse.Namespace) -> int:
    table, vols = volumes_of(args.device)
    if not args.json:
        print(f"{args.device}: partition table {table or 'none (one filesystem on the whole medium)'}")
    for v in vols:
        print(json.dumps(asdict(v)) if args.json else
              f"  {v.name:<4} {v.fstype or '?':<8} {v.size_text:>9}  at {v.offset}  {v.partition}"
              + (f"  ERROR: {v.error}" if v.error else ""))
    return EXIT_OK
