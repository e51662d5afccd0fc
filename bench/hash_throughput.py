#!/usr/bin/env python3
"""Throughput and memory of ``gapscan scan`` beside hashdeep, on the same trees in the same run.

Builds, in a temporary directory:
- a tree of large files (``--large-mb`` in total, default 1024, over ``--large-files`` files);
- a tree of ``--small`` small files of 1-10 KB (default 20,000);
- for the memory run, a tree of ``--files`` empty files (default 1,000,000; 1,000 per directory).
Then times ``gapscan scan --hash-all`` (MD5+SHA-1+SHA-256 in one pass) and ``hashdeep -r -c md5,sha1,sha256``
on each tree (page cache warmed first; best of ``--repeat`` runs each), and prints MB/s, files/s, the ratio
gapscan/hashdeep, the single-pass limit (hashlib MD5+SHA-1+SHA-256 on every core at once; measured again just
before each large-file gapscan run, since on a shared machine it moves with the load) and peak RSS (the scan
process and its hashing workers, summed, sampled every 20 ms). gapscan's start-up (a scan of an empty tree) is
printed on its own line: the large-file percentage is given end to end and for gapscan's own scan time.

Targets (issue 2, 2-core machine): large files >= 2.5x hashdeep and >= 90% of the single-pass limit; small files
>= 1.0x hashdeep files/s; peak RSS <= 250 MB on a 1,000,000-file tree.

    .venv/bin/python bench/hash_throughput.py                      # full size
    .venv/bin/python bench/hash_throughput.py --large-mb 256 --small 5000 --files 50000   # quick look
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float = 0.0  # user+sys of the tool and every process it waited for (load-independent)
    scan_seconds: float | None = None
    limit: float | None = None  # single-pass limit (MB/s) measured just before this run, under the same load


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def build_large(root: Path, total_mb: int, files: int) -> int:
    root.mkdir(parents=True)
    block = os.urandom(8 << 20)
    per_file = (total_mb << 20) // files
    for i in range(files):
        with open(root / f"large-{i:03d}.bin", "wb") as fh:
            left = per_file
            n = 0
            while left > 0:
                chunk = block[: min(left, len(block))]
                fh.write(i.to_bytes(4, "little") + n.to_bytes(4, "little") + chunk[8:])
                left -= len(chunk)
                n += 1
    return per_file * files


def build_small(root: Path, count: int, *, min_size: int = 1024, max_size: int = 10240) -> int:
    rng = random.Random(1)
    pool = os.urandom(max_size + 4096)
    total = 0
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        d = root / f"d{i // 1000:04d}"
        if i % 1000 == 0:
            d.mkdir(parents=True)
        size = rng.randint(min_size, max_size) if max_size else 0
        off = rng.randrange(4096)
        with open(d / f"f{i:07d}", "wb") as fh:
            if size:
                fh.write(i.to_bytes(8, "little") + pool[off : off + size - 8])
        total += size
    return total


def warm(root: Path) -> None:
    for dirpath, _, names in os.walk(root):
        for n in names:
            with open(os.path.join(dirpath, n), "rb") as fh:
                while fh.read(1 << 20):
                    pass


def _tree_rss_kb(pid: int) -> int:
    """RSS of ``pid`` and all its descendants, from /proc."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(x) for x in fh.read().split())
        except (OSError, ValueError):
            continue
    return total


def timed(argv: list[str], **kw: object) -> tuple[Run, str]:
    peak = 0
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)  # type: ignore[call-overload]
    out_chunks: list[str] = []
    reader = threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    while proc.poll() is None:
        peak = max(peak, _tree_rss_kb(proc.pid))
        time.sleep(0.02)
    seconds = time.perf_counter() - t0
    reader.join()
    err = proc.stderr.read()  # type: ignore[union-attr]
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {err}")
    return Run(seconds, peak / 1024, _children_cpu() - cpu0), "".join(out_chunks)


def run_gapscan(tree: Path, state: Path, hashlist: Path, workers: int | None) -> Run:
    shutil.rmtree(state, ignore_errors=True)
    argv = [sys.executable, "-m", "appliance", "--state-dir", str(state), "scan", str(tree), "--hashlist",
            str(hashlist), "--hash-all", "--json", "--no-progress"]
    if workers:
        argv += ["--workers", str(workers)]
    run, out = timed(argv, cwd=REPO)
    summary = json.loads(out.splitlines()[-1])["summary"]
    run.scan_seconds = summary["seconds"]
    return run


def run_hashdeep(tree: Path) -> Run:
    run, _ = timed(["hashdeep", "-r", "-c", "md5,sha1,sha256", str(tree)])
    return run


def best(runs: list[Run]) -> Run:
    return min(runs, key=lambda r: r.seconds)


def single_pass_limit(mb: int = 128) -> tuple[dict[str, float], float]:
    """MB/s of each digest on one core, and of MD5+SHA-1+SHA-256 in one pass on every core at once."""
    buf = os.urandom(mb << 20)
    per_alg = {}
    for alg in ("md5", "sha1", "sha256"):
        h = hashlib.new(alg)
        t = time.perf_counter()
        h.update(buf)
        per_alg[alg] = mb / (time.perf_counter() - t) * 1.048576

    def one_pass() -> None:
        for alg in ("md5", "sha1", "sha256"):
            hashlib.new(alg).update(buf)

    n = cores()
    threads = [threading.Thread(target=one_pass) for _ in range(n)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return per_alg, n * mb * 1.048576 / (time.perf_counter() - t)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--large-mb", type=int, default=1024, help="total size of the large-file tree (MB)")
    ap.add_argument("--large-files", type=int, default=8)
    ap.add_argument("--small", type=int, default=20_000, help="number of 1-10 KB files")
    ap.add_argument("--files", type=int, default=1_000_000, help="files in the memory (RSS) run; 0 skips it")
    ap.add_argument("--repeat", type=int, default=2, help="runs per tool and tree; the best counts")
    ap.add_argument("--workers", type=int, default=None, help="gapscan --workers (default: its own)")
    ap.add_argument("--rss-only", action="store_true", help="only the many-files memory run")
    ap.add_argument("--dir", default=None, help="work here instead of a new temporary directory")
    args = ap.parse_args()
    if not shutil.which("hashdeep"):
        raise SystemExit("hashdeep is not installed (Debian package hashdeep)")

    base = Path(tempfile.mkdtemp(prefix="gapscan-bench-", dir=args.dir))
    try:
        hashlist = base / "list.txt"
        hashlist.write_text(hashlib.sha256(b"nothing in these trees").hexdigest() + " bench\n")
        state = base / "state"
        print(f"machine: {cores()} cores; gapscan workers: {args.workers or 'default'}; work dir {base}")
        per_alg, limit = single_pass_limit()
        print("hashlib, one core: " + ", ".join(f"{a} {v:.0f} MB/s" for a, v in per_alg.items()))
        ideal = cores() / sum(1 / v for v in per_alg.values())
        print(f"single-pass limit (md5+sha1+sha256 on all {cores()} cores): {limit:.0f} MB/s measured at once, "
              f"{ideal:.0f} MB/s from the one-core figures x {cores()}")

        if args.rss_only:
            args.large_mb = args.small = 0
        print(f"\nbuilding {args.large_mb} MB in {args.large_files} large files, {args.small} small files ...")
        large_bytes = build_large(base / "large", args.large_mb, args.large_files)
        small_bytes = build_small(base / "small", args.small)
        warm(base / "large")
        warm(base / "small")

        startup = None
        if args.large_mb or args.small:
            (base / "empty").mkdir()
            startup = best([run_gapscan(base / "empty", state, hashlist, args.workers)
                            for _ in range(args.repeat)]).seconds
            cache = "OFF (PYTHONDONTWRITEBYTECODE: every module is compiled on each run)" \
                if os.environ.get("PYTHONDONTWRITEBYTECODE") else "on"
            print(f"gapscan start-up (a scan of an empty tree, best of {args.repeat}): {startup:.2f} s; "
                  f"Python bytecode cache {cache}")

        rows = []
        for name, tree, nbytes, nfiles in (("large", base / "large", large_bytes, args.large_files),
                                           ("small", base / "small", small_bytes, args.small)):
            if not nbytes:
                continue
            g_runs, h_runs = [], []
            for _ in range(args.repeat):  # alternate, so both tools see the same machine load
                now_limit = single_pass_limit(64)[1] if name == "large" else None
                g_runs.append(run_gapscan(tree, state, hashlist, args.workers))
                g_runs[-1].limit = now_limit
                h_runs.append(run_hashdeep(tree))
            g, h = best(g_runs), best(h_runs)
            rows.append((name, nbytes, nfiles, g, h))

        print(f"\n{'tree':<6} {'tool':<9} {'seconds':>8} {'MB/s':>8} {'files/s':>9} {'CPU s':>7} "
              f"{'peak RSS MB':>12}")
        for name, nbytes, nfiles, g, h in rows:
            for tool, r in (("gapscan", g), ("hashdeep", h)):
                print(f"{name:<6} {tool:<9} {r.seconds:>8.2f} {nbytes / 1e6 / r.seconds:>8.1f} "
                      f"{nfiles / r.seconds:>9.0f} {r.cpu_seconds:>7.2f} {r.peak_rss_mb:>12.1f}")
            extra = ""
            if name == "large":
                assert g.scan_seconds is not None and g.limit is not None
                extra = (f"; {nbytes / 1e6 / g.seconds / g.limit * 100:.0f}% of the single-pass limit end to end, "
                         f"{nbytes / 1e6 / g.scan_seconds / g.limit * 100:.0f}% in gapscan's own scan time (limit "
                         f"{g.limit:.0f} MB/s measured just before that run; a shared machine moves it)")
            print(f"{name:<6} ratio gapscan/hashdeep: {h.seconds / g.seconds:.2f}x wall (incl. start-up; "
                  f"gapscan's own scan time {g.scan_seconds:.2f} s), {h.cpu_seconds / g.cpu_seconds:.2f}x in CPU "
                  f"time{extra}")

        if args.files:
            shutil.rmtree(base / "large", ignore_errors=True)
            print(f"\nbuilding {args.files} empty files for the memory run ...")
            build_small(base / "many", args.files, min_size=0, max_size=0)
            g = run_gapscan(base / "many", state, hashlist, args.workers)
            print(f"many   gapscan   {g.seconds:>8.2f} s  {args.files / g.seconds:>9.0f} files/s  "
                  f"peak RSS {g.peak_rss_mb:.1f} MB (scan process + workers)")
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
