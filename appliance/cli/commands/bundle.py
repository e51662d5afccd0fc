"""``gapscan bundle keygen|build|verify|apply|trust|status|boot|mark-good``: signed update bundles."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from appliance.cli import EXIT_OK
from appliance.config import resolve_state_dir
from appliance.errors import GapscanError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bundle", help="signed update bundles (hash lists, software, trust root)",
                       description="Build (vendor side), verify and apply signed update bundles. "
                                   "Exit 0: verified/applied; 2: refused, with the reason.")
    bsub = p.add_subparsers(dest="bundle_command", metavar="ACTION", required=True)

    k = bsub.add_parser("keygen", help="vendor: new trust root and role keys (or rotate one role's key)")
    k.add_argument("--out", required=True, metavar="KEYDIR", type=Path)
    k.add_argument("--role", choices=("root", "lists", "software"), help="rotate this role's key only")
    k.add_argument("--product", default="gapscan")
    k.add_argument("--dev", action="store_true", help="mark the new key(s) as development keys")
    k.set_defaults(func=run_keygen)

    b = bsub.add_parser("build", help="vendor: sign payload files into a bundle")
    b.add_argument("--kind", required=True, choices=("hashlist", "software", "root"))
    b.add_argument("--version", required=True, type=int)
    b.add_argument("--base", type=int, help="hash-list delta: the version it applies to")
    b.add_argument("--key", required=True, action="append", type=Path, help="signing key (repeat for thresholds)")
    b.add_argument("--list-name", help="hash-list name (default: first payload's file name)")
    b.add_argument("--list-kind", choices=("alert", "ignore"), default="alert")
    b.add_argument("--removed", action="append", default=[], type=Path, metavar="FILE",
                   help="delta: hash-list file of entries to remove (the payloads are the added ones)")
    b.add_argument("--product", default="gapscan")
    b.add_argument("--expires", type=int, metavar="EPOCH", help="expiry shown as a warning after this time")
    b.add_argument("payload", nargs="+", type=Path)
    b.add_argument("--out", required=True, type=Path)
    b.set_defaults(func=run_build)

    v = bsub.add_parser("verify", help="verify a bundle; prints signers, kind, version, base, signing time")
    v.add_argument("bundle", type=Path)
    v.add_argument("--trust", type=Path, metavar="ROOT.json", help="verify against this root instead")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=run_verify)

    a = bsub.add_parser("apply", help="verify, then install atomically (audit-logged)")
    a.add_argument("bundle", type=Path)
    a.add_argument("--trust", type=Path, metavar="ROOT.json", help="(not on a production appliance)")
    a.add_argument("--kind", choices=("hashlist", "software", "root"), help="refuse any other kind")
    a.add_argument("--actor", default="cli")
    a.set_defaults(func=run_apply)

    t = bsub.add_parser("trust", help="provisioning: install the pinned trust root (only if none is installed)")
    t.add_argument("root", type=Path)
    t.add_argument("--production", action="store_true", help="refuse development keys from now on")
    t.set_defaults(func=run_trust)

    s = bsub.add_parser("status", help="software slots, stream versions, time floor")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run_status)

    bt = bsub.add_parser("boot", help="count one start of the current software (falls back if never confirmed)")
    bt.set_defaults(func=run_boot)

    g = bsub.add_parser("mark-good", help="the running software confirms itself healthy")
    g.set_defaults(func=run_mark_good)


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def run_keygen(args: argparse.Namespace) -> int:
    from appliance.update.build import keygen

    root = keygen(args.out, role=args.role, product=args.product, dev=args.dev)
    roles = ", ".join(f"{r}: {','.join(k[:16] for k in root.roles[r].keyids)}" for r in root.roles)
    print(f"wrote {args.out / 'root.json'} (v{root.version}; {roles})")
    return EXIT_OK


def run_build(args: argparse.Namespace) -> int:
    from appliance.update.build import build_bundle
    from appliance.update.keys import SigningKey

    keys = [SigningKey.load(p) for p in args.key]
    m = build_bundle(args.out, kind=args.kind, version=args.version, keys=keys, payloads=args.payload,
                     base=args.base, product=args.product, list_name=args.list_name, list_kind=args.list_kind,
                     removed=args.removed, expires=args.expires)
    print(f"wrote {args.out}: {m['kind']} v{m['version']}, {len(m['members'])} member(s), "
          f"signed by {', '.join(k.keyid[:16] for k in keys)}")
    return EXIT_OK


def _describe(v: object) -> dict[str, object]:
    from appliance.update.verify import VerifiedBundle

    assert isinstance(v, VerifiedBundle)
    return {"id": v.id, "kind": v.kind, "product": v.product, "version": v.version, "base": v.base,
            "list": v.list_name, "signed_at": _iso(v.signed_at), "signers": [k[:16] for k in v.signers],
            "members": [{"name": n, "size": s} for n, s in v.members], "warnings": v.warnings}


def _print_bundle(d: dict[str, object]) -> None:
    print(f"bundle {d['id']}: {d['kind']} v{d['version']}" + (f" (delta from v{d['base']})" if d["base"] else "")
          + (f", list {d['list']}" if d["list"] else "") + f", product {d['product']}")
    print(f"signed at {d['signed_at']} by {', '.join(d['signers'])}")  # type: ignore[arg-type]
    for w in d["warnings"]:  # type: ignore[attr-defined]
        print(f"warning: {w}")


def run_verify(args: argparse.Namespace) -> int:
    from appliance.update import verify_bundle

    v = verify_bundle(args.bundle, state_dir=resolve_state_dir(args.state_dir), trust=args.trust)
    d = _describe(v)
    if args.json:
        print(json.dumps({"verified": True, **d}))
    else:
        _print_bundle(d)
        print("verified")
    return EXIT_OK


def run_apply(args: argparse.Namespace) -> int:
    from appliance.update import apply_bundle

    r = apply_bundle(args.bundle, state_dir=resolve_state_dir(args.state_dir), actor=args.actor,
                     trust=args.trust, expect_kind=args.kind)
    _print_bundle(_describe(r.bundle))
    print(f"{r.action}: {r.detail}")
    return EXIT_OK


def run_trust(args: argparse.Namespace) -> int:
    from appliance.update import provision_root

    try:
        data = args.root.read_bytes()
    except OSError as exc:
        raise GapscanError(f"cannot read {args.root}: {exc.strerror or exc}") from None
    root = provision_root(resolve_state_dir(args.state_dir), data, production=args.production)
    print(f"installed trust root v{root.version} for {root.product}"
          f"{' (production: development keys refused)' if args.production else ''}")
    return EXIT_OK


def run_status(args: argparse.Namespace) -> int:
    from appliance.update import effective_now, is_production, load_slots
    from appliance.update.errors import BundleRefused
    from appliance.update.state import Versions, load_installed_root

    state_dir = resolve_state_dir(args.state_dir)
    slots, versions = load_slots(state_dir), Versions.load(state_dir)
    try:
        root = load_installed_root(state_dir)
        trust: dict[str, object] | str = {"version": root.version, "product": root.product,
                                          "roles": {r: [k[:16] for k in root.roles[r].keyids] for r in root.roles}}
    except BundleRefused as exc:
        trust = exc.detail
    info = {"production": is_production(state_dir), "software": slots, "trust_root": trust,
            "streams": {s: e["version"] for s, e in versions.streams.items()},
            "time_floor": _iso(versions.time_floor), "effective_now": _iso(effective_now(state_dir))}
    if args.json:
        print(json.dumps(info, sort_keys=True))
        return EXIT_OK
    cur = slots["current"]
    print(f"software: slot {cur or '-'} v{slots['versions'].get(cur) if cur else '-'}"
          + (f" (on trial, boot {slots['boots']}: run `gapscan bundle mark-good` once healthy)"
             if slots["pending"] else "")
          + (f"; fell back from slot {slots['fell_back_from']}" if slots["fell_back_from"] else ""))
    for stream, version in sorted(info["streams"].items()):  # type: ignore[attr-defined]
        print(f"{stream}: v{version}")
    t = info["trust_root"]
    print(f"trust root: v{t['version']} for {t['product']}" if isinstance(t, dict) else f"trust root: {t}")
    print(f"time floor: {info['time_floor']}; production: {'yes' if info['production'] else 'no'}")
    return EXIT_OK


def run_boot(args: argparse.Namespace) -> int:
    from appliance.update import boot

    slots = boot(resolve_state_dir(args.state_dir))
    if slots["fell_back_from"] and not slots["pending"] and slots["boots"] == 0:
        print(f"software in slot {slots['fell_back_from']} never confirmed itself; "
              f"fell back to slot {slots['current']}", file=sys.stderr)
    print(f"current slot {slots['current'] or '-'}, trial boots {slots['boots']}")
    return EXIT_OK


def run_mark_good(args: argparse.Namespace) -> int:
    from appliance.update import mark_good

    slots = mark_good(resolve_state_dir(args.state_dir))
    print(f"slot {slots['current'] or '-'} marked good")
    return EXIT_OK
