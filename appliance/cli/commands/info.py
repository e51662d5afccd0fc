"""``gapscan info``: what this appliance runs on: version, accelerator backend and why, state, lists, daemon."""

from __future__ import annotations

import argparse
import importlib
import json
from typing import Any

from appliance import __version__
from appliance.cli import EXIT_OK
from appliance.config import resolve_state_dir


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("info", help="version, accelerator backend and why, state directory, hash lists, daemon")
    p.add_argument("--json", action="store_true")
    p.add_argument("--bench", action="store_true", help="also run the accelerator's quick self-benchmark")
    p.set_defaults(func=run)


def collect(state_dir: Any, *, bench: bool = False) -> dict[str, Any]:
    from firmware.accel import probe

    backend = probe()
    info: dict[str, Any] = {
        "version": __version__, "state_dir": str(state_dir),
        "backend": {"name": backend.name, "device": backend.device, "memory_bytes": backend.memory_bytes,
                    "reason": backend.reason},
    }
    if bench:
        run_bench = getattr(backend, "self_benchmark", None)
        info["backend"]["benchmark"] = run_bench() if run_bench else "not available in this build"
    try:
        store_mod = importlib.import_module("appliance.hashlist.store")
        metas = store_mod.HashListStore(state_dir).metadata()
        info["lists"] = [{"name": m.name, "kind": m.kind, "version": m.version,
                          "entries": sum(m.counts.values())} for m in metas]
    except ModuleNotFoundError:
        info["lists"] = None  # this build has no encrypted store
    from appliance.daemon.client import DaemonClient
    from appliance.errors import GapscanError

    client = DaemonClient(state_dir, timeout=2.0)
    try:
        ping = client.ping()
        info["daemon"] = {"running": True, "pid": ping.get("pid"), "auto_scan": ping.get("auto_scan"),
                          "panel": ping.get("panel"), "watchdog": ping.get("watchdog")}
    except GapscanError:
        info["daemon"] = {"running": False, "socket": str(client.path)}
    return info


def run(args: argparse.Namespace) -> int:
    info = collect(resolve_state_dir(args.state_dir), bench=args.bench)
    if args.json:
        print(json.dumps(info, default=str))
        return EXIT_OK
    b = info["backend"]
    print(f"gapscan {info['version']}")
    mem = f", {b['memory_bytes'] / 2**30:.1f} GiB" if b["memory_bytes"] else ""
    print(f"backend: {b['name']} on {b['device'] or 'unknown device'}{mem}")
    print(f"  why: {b['reason']}")
    if "benchmark" in b:
        print(f"  benchmark: {b['benchmark']}")
    print(f"state dir: {info['state_dir']}")
    if info["lists"] is None:
        print("hash lists: store not in this build")
    else:
        print(f"hash lists: {len(info['lists'])}")
        for lst in info["lists"]:
            print(f"  {lst['name']} v{lst['version']} ({lst['kind']}, {lst['entries']} entries)")
    d = info["daemon"]
    if d["running"]:
        panel = d["panel"] or {}
        panel_text = ("connected" if panel.get("connected") else f"not connected: {panel.get('problem')}"
                      ) if panel else "disabled"
        print(f"daemon: running (pid {d['pid']}), auto-scan {'on' if d['auto_scan'] else 'off'}, "
              f"watchdog {'armed' if d['watchdog'] else 'off'}")
        print(f"  panel: {panel_text}")
    else:
        print(f"daemon: not running (no answer on {d['socket']})")
    return EXIT_OK
