"""``gapscan serve``: the local web UI over HTTPS (cheroot, a production WSGI server with built-in TLS).

The self-signed certificate is created on first start; its SHA-256 fingerprint is printed so operators can
compare it with what the browser shows. ``--demo`` seeds demo media and a demo hash list first.
"""

from __future__ import annotations

import argparse
import signal
import ssl
import sys
from pathlib import Path
from typing import Any

from appliance.cli import EXIT_OK
from appliance.config import resolve_state_dir
from appliance.errors import GapscanError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run the web UI (HTTPS)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; the appliance "
                                                        "uses 0.0.0.0)")
    p.add_argument("--port", type=int, default=8443, help="TCP port (default 8443; the appliance uses 443)")
    p.add_argument("--demo", action="store_true", help="seed demo media and a demo hash list")
    p.add_argument("--threads", type=int, default=32, help="worker threads (each live progress view holds one)")
    p.set_defaults(func=run_serve)


def seed_demo(state_dir: Path) -> str:
    """Create demo media and install the demo hash list (in the store where one is available). Returns a line
    for the console saying what was done."""
    from appliance.demo import make_demo
    from appliance.settings import update_settings

    demo = make_demo(state_dir / "demo")
    update_settings(state_dir, demo_hashlist=str(demo.hashlist))
    try:
        from appliance.hashlist.store import HashListStore  # type: ignore[import-not-found]
    except ImportError:
        return f"demo media in {demo.media}; demo hash list file {demo.hashlist} (hash-list store not available)"
    try:
        store = HashListStore.open(state_dir)
        if store.installed_version("demo") is None:
            store.import_file(demo.hashlist, name="demo", kind="alert")
    except Exception as exc:  # locked store, older store: the demo list file still works for scans
        return f"demo media in {demo.media}; demo hash list file {demo.hashlist} (not imported into the store: {exc})"
    return f"demo media in {demo.media}; demo hash list imported into the store as 'demo'"


def build_server(app: Any, host: str, port: int, cert: Path, key: Path, threads: int) -> Any:
    from cheroot import wsgi
    from cheroot.ssl.builtin import BuiltinSSLAdapter

    server = wsgi.Server((host, port), app, numthreads=threads, server_name="gapscan", timeout=30,
                         shutdown_timeout=2)
    adapter = BuiltinSSLAdapter(str(cert), str(key))
    adapter.context.minimum_version = ssl.TLSVersion.TLSv1_2
    server.ssl_adapter = adapter
    return server


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def run_serve(args: argparse.Namespace) -> int:
    from appliance.tls import ensure_certificate
    from web import create_app

    state_dir = resolve_state_dir(args.state_dir)
    if args.demo:
        print(f"gapscan: {seed_demo(state_dir)}", flush=True)
    cert, key, fingerprint = ensure_certificate(state_dir)
    app = create_app(state_dir, config={"DEMO": bool(args.demo)})
    from appliance.health import warm_up

    warm_up()
    try:
        server = build_server(app, args.host, args.port, cert, key, args.threads)
        server.prepare()
    except OSError as exc:
        raise GapscanError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"gapscan web UI: https://{host}:{server.bind_addr[1]}/", flush=True)
    print(f"TLS certificate SHA-256 fingerprint: {fingerprint}", flush=True)
    print("Check that the browser shows this fingerprint before logging in.", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return EXIT_OK
