"""Web UI page latency, idle and while scans saturate the CPU (target: p95 < 300 ms on the appliance).

Starts the real ``gapscan serve --demo`` (cheroot, TLS) on a temporary state dir, creates the admin, then
times GETs of the main pages over one keep-alive HTTPS connection. The peer figure in the same run is the
same server delivering a static file (no application code): the floor the pages are measured against.

    .venv/bin/python bench/web_latency.py [--requests 60] [--files 60] [--file-mb 8]
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGES = ["/", "/scan", "/results", "/audit", "/settings"]


class Browser:
    def __init__(self, port: int) -> None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str, dict]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        data = r.read().decode("utf-8", "replace")
        for value in r.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return r.status, data, dict(r.headers)

    def csrf(self, path: str) -> str:
        _, html, _ = self.request("GET", path)
        return re.search(r'name="csrf_token" value="([0-9a-f]+)"', html).group(1)


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18] if len(samples) >= 20 else max(samples)


def measure(b: Browser, paths: list[str], n: int, stop: threading.Event | None = None) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {p: [] for p in paths}
    for _ in range(n):
        for p in paths:
            t = time.perf_counter()
            status, _, _ = b.request("GET", p)
            out[p].append((time.perf_counter() - t) * 1000)
            assert status == 200, (p, status)
        if stop is not None and stop.is_set():
            break
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=40, help="rounds over the pages per phase")
    ap.add_argument("--files", type=int, default=64, help="files in the media scanned under load")
    ap.add_argument("--file-mb", type=int, default=8)
    ap.add_argument("--scans", type=int, default=2, help="concurrent scans for the loaded phase")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="gapscan-bench-") as tmp:
        state = Path(tmp) / "state"
        media = Path(tmp) / "media"
        media.mkdir()
        block = os.urandom(1 << 20)
        for i in range(args.files):
            (media / f"f{i:04d}.bin").write_bytes(i.to_bytes(4, "big") + block * args.file_mb)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("GAPSCAN_")}
        env["PYTHONPATH"] = str(REPO)
        server = subprocess.Popen([sys.executable, "-m", "appliance", "--state-dir", str(state), "serve", "--demo",
                                   "--port", str(port)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        try:
            while "fingerprint" not in (server.stdout.readline() or "fingerprint"):
                pass
            b = Browser(port)
            pw = "Bench-Password-2026"
            b.request("POST", "/setup", {"csrf_token": b.csrf("/setup"), "username": "admin", "password": pw,
                                         "password2": pw, "key_protection": "passphrase",
                                         "passphrase": pw + "!", "passphrase2": pw + "!"})
            _, _, headers = b.request("POST", "/scan", {"csrf_token": b.csrf("/scan"), "kind": "demo"})
            demo_scan = headers["Location"].rsplit("/", 1)[1]
            time.sleep(2)
            paths = [*PAGES, f"/results/{demo_scan}"]
            measure(b, paths, 2)  # warm up
            idle = measure(b, paths, args.requests)
            idle_static = measure(b, ["/static/app.css"], args.requests * 3)["/static/app.css"]

            scans = []
            for _ in range(args.scans):
                _, _, headers = b.request("POST", "/scan", {"csrf_token": b.csrf("/scan"), "kind": "directory",
                                                            "directory": str(media)})
                scans.append(headers["Location"].rsplit("/", 1)[1])
            time.sleep(1.0)  # let the scans get going
            load0 = os.getloadavg()[0]
            t0 = time.perf_counter()
            loaded: dict[str, list[float]] = {p: [] for p in paths}
            loaded_static: list[float] = []
            rounds = 0
            while True:  # only samples taken while a scan is still running count as "under load"
                one = measure(b, paths, 1)
                static = measure(b, ["/static/app.css"], 3)["/static/app.css"]
                running = any('"status": "running"' in b.request("GET", f"/scans/{sid}/progress.json")[1]
                              for sid in scans)
                if not running:
                    break
                rounds += 1
                for p in paths:
                    loaded[p] += one[p]
                loaded_static += static
            busy_s = time.perf_counter() - t0
            load1 = os.getloadavg()[0]
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(10)

    print(f"gapscan web latency: {os.cpu_count()} CPUs, {args.requests} rounds over {len(paths)} pages, "
          f"{args.scans} concurrent scans of {args.files}x{args.file_mb} MB under load")
    print(f"{'':34}{'idle p50':>10}{'idle p95':>10}{'load p50':>10}{'load p95':>10}")
    for p in paths:
        print(f"{p:34}{statistics.median(idle[p]):>9.1f} {p95(idle[p]):>9.1f} "
              f"{statistics.median(loaded[p]):>9.1f} {p95(loaded[p]):>9.1f}")
    all_idle = [x for v in idle.values() for x in v]
    all_loaded = [x for v in loaded.values() for x in v]
    print(f"{'ALL PAGES (gapscan)':34}{statistics.median(all_idle):>9.1f} {p95(all_idle):>9.1f} "
          f"{statistics.median(all_loaded):>9.1f} {p95(all_loaded):>9.1f}")
    print(f"{'peer: static file, same server':34}{statistics.median(idle_static):>9.1f} {p95(idle_static):>9.1f} "
          f"{statistics.median(loaded_static):>9.1f} {p95(loaded_static):>9.1f}")
    print(f"(ms; load phase {busy_s:.1f} s, 1-min load average at its start {load0:.1f}, "
          f"1-min load average at its end {load1:.1f}, {rounds} rounds under load; target p95 < 300 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
