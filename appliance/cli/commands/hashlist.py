"""``gapscan hashlist import|info|remove``: manage the encrypted hash-list store. Never prints entries."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.audit import AuditLog
from appliance.cli import EXIT_OK
from appliance.cli.commands.unlock import add_passphrase_arguments, passphrase_from_args
from appliance.config import resolve_state_dir
from appliance.errors import GapscanError
from appliance.hashlist.allow import AllowList
from appliance.hashlist.importers import FORMATS

if TYPE_CHECKING:  # the store (crypto, keystore) loads only when a hashlist command runs
    from appliance.hashlist.store import HashListStore, ListMeta


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("hashlist", help="import, inspect and remove hash lists (encrypted at rest)")
    hs = p.add_subparsers(dest="hashlist_command", metavar="ACTION", required=True)

    imp = hs.add_parser("import", help="import a hash-list file into the encrypted store")
    imp.add_argument("file", type=Path)
    imp.add_argument("--format", default="auto",
                     help=f"auto (default) or one of: {', '.join(sorted(FORMATS))}, md5sum, sha1sum, sha256sum")
    imp.add_argument("--name", required=True, help="the list's name in the store")
    imp.add_argument("--kind", choices=("alert", "ignore"), default="alert",
                     help="alert (default): matches are hits; ignore: known-good, matching files skip further work")
    imp.add_argument("--category", help="label every entry with this category")
    imp.add_argument("--version", type=int, help="list version (default: installed version + 1)")
    imp.add_argument("--lenient", action="store_true", help="count and skip malformed records")
    imp.add_argument("--pdq-distance", type=int, metavar="N",
                     help="PDQ entries without their own distance match within N bits (default 31)")
    imp.add_argument("--json", action="store_true", help="print the new list's metadata as JSON")
    add_passphrase_arguments(imp)
    imp.set_defaults(func=run_import)

    info = hs.add_parser("info", help="per list: name, kind, version, format, counts, categories (never entries)")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=run_info)

    rm = hs.add_parser("remove", help="remove a list from the store")
    rm.add_argument("name")
    add_passphrase_arguments(rm)
    rm.set_defaults(func=run_remove)

    allow = hs.add_parser("allow", help="mark a hit as a false positive: later scans do not report it")
    allow.add_argument("digest", help="the hit's digest (hex)")
    allow.add_argument("--algorithm", required=True, choices=("md5", "sha1", "sha256", "pdq"))
    allow.add_argument("--list", required=True, dest="list_name", help="the list that reported the hit")
    allow.add_argument("--reason", required=True)
    allow.add_argument("--actor", default="cli", help="who decided (recorded in the audit log)")
    add_passphrase_arguments(allow)
    allow.set_defaults(func=run_allow)


def run_import(args: argparse.Namespace) -> int:
    state_dir = resolve_state_dir(args.state_dir)
    from appliance.hashlist.store import HashListStore

    store = HashListStore.open(state_dir, passphrase=passphrase_from_args(args))
    t0 = time.monotonic()
    with AuditLog.in_state_dir(state_dir) as audit:
        try:
            meta = store.import_file(args.file, fmt=args.format, name=args.name, kind=args.kind,
                                     category=args.category, version=args.version, lenient=args.lenient,
                                     pdq_distance=args.pdq_distance)
        except Exception as exc:
            audit.record("hashlist.import", actor="cli", outcome="failed", name=args.name, file=args.file.name,
                         error=str(exc)[:300])
            raise
        audit.record("hashlist.import", actor="cli", name=meta.name, version=meta.version, kind=meta.kind,
                     format=meta.source_format, source=meta.source, counts=meta.counts, skipped=meta.skipped)
    if args.json:
        print(json.dumps(_meta_json(meta)))
    else:
        print(f"imported {meta.name} v{meta.version} ({meta.kind}, {meta.source_format}): "
              f"{_counts_text(meta)} in {time.monotonic() - t0:.1f} s; {meta.stored_bytes} bytes encrypted")
        if meta.skipped:
            print(f"skipped {meta.skipped} malformed record(s) (--lenient)")
        if meta.excluded:
            print(f"left out {meta.excluded} record(s) on purpose (e.g. VICS category 0, not pertinent)")
    return EXIT_OK


def _counts_text(meta: ListMeta) -> str:
    return ", ".join(f"{n} {alg}" for alg, n in meta.counts.items()) or "no entries"


def _meta_json(meta: ListMeta) -> dict[str, object]:
    return {"name": meta.name, "kind": meta.kind, "version": meta.version, "source_format": meta.source_format,
            "source": meta.source, "imported_at": meta.imported_at,
            "age_days": round((time.time() - meta.imported_at) / 86400, 3), "counts": meta.counts,
            "categories": meta.categories, "sized": meta.sized, "size_filter": meta.sized and meta.kind == "alert",
            "stored_bytes": meta.stored_bytes, "skipped": meta.skipped, "excluded": meta.excluded,
            "pdq_distance": _pdq_distance(meta)}


def _pdq_distance(meta: ListMeta) -> int | None:
    """The distance PDQ entries without their own match within; None for a list without PDQ entries."""
    from appliance.hashlist.pdq_index import DEFAULT_RADIUS

    if not meta.counts.get("pdq"):
        return None
    return DEFAULT_RADIUS if meta.pdq_distance is None else meta.pdq_distance


def run_info(args: argparse.Namespace) -> int:
    from appliance.hashlist.store import HashListStore

    store = HashListStore(resolve_state_dir(args.state_dir))
    metas = store.metadata()
    if args.json:
        print(json.dumps({"locked": not store.keystore.initialised or _locked(store),
                          "lists": [_meta_json(m) for m in metas]}))
        return EXIT_OK
    if not metas:
        print("no hash lists installed (import one with: gapscan hashlist import FILE --name NAME)")
    for m in metas:
        age = (time.time() - m.imported_at) / 86400
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(m.imported_at))
        print(f"{m.name}  v{m.version}  {m.kind}  format {m.source_format}  imported {when} ({age:.1f} days ago)")
        print(f"  entries: {_counts_text(m)}")
        if m.categories:
            print("  categories: " + ", ".join(f"{k}: {v}" for k, v in sorted(m.categories.items())))
        print("  size pre-filter: " + ("every entry sized" if m.sized else "not all entries sized (off)"))
        if (distance := _pdq_distance(m)) is not None:
            print(f"  PDQ match distance: {distance} bits (entries with their own distance keep it)")
        print(f"  stored: {m.stored_bytes} bytes encrypted")
    sys.stdout.flush()
    return EXIT_OK


def _locked(store: HashListStore) -> bool:
    try:
        store.unlock()
    except Exception:
        return True
    return False


def run_remove(args: argparse.Namespace) -> int:
    state_dir = resolve_state_dir(args.state_dir)
    from appliance.hashlist.store import HashListStore

    store = HashListStore.open(state_dir, passphrase=passphrase_from_args(args))  # only an unlocked store changes
    meta = store.get_metadata(args.name)
    store.remove(args.name)
    with AuditLog.in_state_dir(state_dir) as audit:
        audit.record("hashlist.remove", actor="cli", name=args.name, version=meta.version if meta else None)
    print(f"removed {args.name}")
    return EXIT_OK


def run_allow(args: argparse.Namespace) -> int:
    state_dir = resolve_state_dir(args.state_dir)
    from appliance.hashlist.store import HashListStore

    store = HashListStore.open(state_dir, passphrase=passphrase_from_args(args))
    if store.get_metadata(args.list_name) is None:
        raise GapscanError(f"no hash list named {args.list_name!r} in the store")
    AllowList(state_dir).add(args.digest, args.algorithm, args.list_name, args.reason, args.actor)
    print(f"allow-listed one {args.algorithm} entry of {args.list_name}: later scans will not report it")
    return EXIT_OK
