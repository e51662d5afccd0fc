#!/usr/bin/env python3
"""Hash-list store benchmark: import, encrypted size, unlock+load, memory, batch lookups, end-to-end scan,
side by side with ClamAV (``clamscan`` with the same entries as ``.hdb``) and ``hashdeep -m -k``.

    .venv/bin/python bench/hashlist_index.py                     # 10^7 entries (md5 + sha1 + size each)
    .venv/bin/python bench/hashlist_index.py --entries 100000000 --peer-memory-limit 6  # 10^8

At 10^8 gapscan needs ~4 GB of memory per phase and ~16 GB of disk for the generated lists (removed afterwards
unless --workdir); the peers need far more memory (``hashdeep -k`` held 8.4 GB for 10^7 entries), hence
--peer-memory-limit on a shared machine.

Each entry is one known file: random MD5, SHA-1 and size; the gapscan list therefore holds N MD5 and N SHA-1
digests (36·N raw digest bytes). A 1,000-file tree is scanned with 10 files whose digests are planted in the
list. Each gapscan phase runs in its own process so its peak RSS is its own; the peak is reset after the unlock
(the key derivation's memory is freed before the import or load starts) and read from VmHWM. Prints a table;
--json for JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PASSPHRASE = "bench passphrase"
TREE_FILES = 1000
PLANTED = 10
BATCH = 1 << 20
LOOKUP_REPEAT = 3


def rss_peak_bytes() -> int:
    """Peak RSS of this process's memory (VmHWM: unlike ru_maxrss, it is not raised by exited threads and
    :func:`reset_peak` resets it)."""
    hwm = _vm_hwm(os.getpid())
    return hwm or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak() -> None:
    """Reset this process's peak RSS (Linux >= 4.0: ``clear_refs`` 5), so a later phase is measured alone."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def rss_now_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# -- data ------------------------------------------------------------------------------------------------
def make_tree(root: Path, seed: int) -> list[tuple[bytes, bytes, int]]:
    """1,000 files (1 KiB..64 KiB); returns (md5, sha1, size) of the 10 planted ones."""
    import numpy as np

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    planted = []
    for i in range(TREE_FILES):
        d = root / f"d{i % 20:02d}"
        d.mkdir(exist_ok=True)
        data = rng.bytes(int(rng.integers(1024, 65536)))
        (d / f"f{i:04d}.bin").write_bytes(data)
        if i % (TREE_FILES // PLANTED) == 0:
            planted.append((hashlib.md5(data).digest(), hashlib.sha1(data).digest(), len(data)))
    return planted


_HEX_PAIRS = None


def _hex(raw: bytes, width: int):
    """``n × width`` bytes as ``n × 2·width`` lowercase hex characters (uint8), vectorised."""
    import numpy as np

    global _HEX_PAIRS
    if _HEX_PAIRS is None:
        _HEX_PAIRS = np.frombuffer("".join(f"{i:02x}" for i in range(256)).encode(), dtype=np.uint8).reshape(256, 2)
    return _HEX_PAIRS[np.frombuffer(raw, dtype=np.uint8).reshape(-1, width)].reshape(-1, 2 * width)


def _decimal(values, digits: int):
    """Non-negative ints as right-aligned ASCII digits (``n × digits`` uint8, leading zeros as 0) and their
    lengths."""
    import numpy as np

    v = np.asarray(values, dtype=np.int64)
    out = np.empty((len(v), digits), dtype=np.uint8)
    rest = v.copy()
    for j in range(digits - 1, -1, -1):
        out[:, j] = 48 + rest % 10
        rest //= 10
    lengths = np.maximum(1, np.floor(np.log10(np.maximum(v, 1))).astype(np.int64) + 1)
    return out, lengths


def _join(fields: list[tuple]):
    """Rows of variable-width fields -> one bytes blob. Each field is ``(n × w uint8, lengths or None)``, right
    aligned when lengths are given (the leading pad is dropped)."""
    import numpy as np

    n = len(fields[0][0])
    width = sum(f[0].shape[1] for f in fields)
    buf = np.empty((n, width), dtype=np.uint8)
    keep = np.ones((n, width), dtype=bool)
    at = 0
    for arr, lengths in fields:
        w = arr.shape[1]
        buf[:, at:at + w] = arr
        if lengths is not None:
            keep[:, at:at + w] = np.arange(w) >= (w - lengths)[:, None]
        at += w
    return buf[keep].tobytes()


def _const(text: str, n: int):
    import numpy as np

    return np.broadcast_to(np.frombuffer(text.encode(), dtype=np.uint8), (n, len(text))), None


def make_lists(n: int, work: Path, planted: list[tuple[bytes, bytes, int]], seed: int) -> tuple[Path, Path]:
    """The same N entries as a hashdeep known-file list (gapscan and hashdeep) and a ClamAV .hdb; written
    vectorised (NumPy formats a million lines at a time)."""
    import numpy as np

    rng = np.random.default_rng(seed + 1)
    hd, hdb = work / "known.hashdeep", work / "known.hdb"
    with open(hd, "wb") as fh_hd, open(hdb, "wb") as fh_hdb:
        fh_hd.write(b"%%%% HASHDEEP-1.0\n%%%% size,md5,sha1,filename\n## bench\n")
        done = 0
        while done < n:
            k = min(BATCH, n - done)
            md5 = bytearray(rng.bytes(16 * k))
            sha1 = bytearray(rng.bytes(20 * k))
            sizes = rng.integers(1, 1 << 24, k)
            if done == 0:
                for j, (m, s, z) in enumerate(planted[:k]):
                    md5[16 * j:16 * j + 16], sha1[20 * j:20 * j + 20], sizes[j] = m, s, z
            ids = np.arange(done, done + k)
            size_txt = _decimal(sizes, 10)
            id_txt = _decimal(ids, 12)
            m_hex = (_hex(bytes(md5), 16), None)
            fh_hd.write(_join([size_txt, _const(",", k), m_hex, _const(",", k), (_hex(bytes(sha1), 20), None),
                               _const(",/known/", k), id_txt, _const("\n", k)]))
            fh_hdb.write(_join([m_hex, _const(":", k), size_txt, _const(":Bench.Known-", k), id_txt,
                                _const("\n", k)]))
            done += k
    return hd, hdb


# -- gapscan phases (each in its own process) -------------------------------------------------------------
def phase_import(state: Path, list_file: Path) -> dict:
    from appliance.hashlist.store import HashListStore

    t0 = time.perf_counter()
    store = HashListStore.open(state, passphrase=PASSPHRASE)
    t1 = time.perf_counter()
    kdf_peak = rss_peak_bytes()
    reset_peak()  # the key derivation's memory is freed before the import starts: measure the import alone
    base = rss_now_bytes()
    meta = store.import_file(list_file, fmt="hashdeep", name="bench")
    t2 = time.perf_counter()
    store.remember_for_boot()
    return {"kdf_s": t1 - t0, "import_s": t2 - t1, "encrypted_bytes": meta.stored_bytes, "counts": meta.counts,
            "peak_rss": rss_peak_bytes(), "kdf_peak_rss": kdf_peak, "rss_before_import": base}


def phase_load(state: Path, queries: int) -> dict:
    import numpy as np

    from appliance.hashlist.store import HashListStore

    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    base_rss = rss_now_bytes()
    t0 = time.perf_counter()
    store = HashListStore.open(state, passphrase=PASSPHRASE)
    t1 = time.perf_counter()
    kdf_peak = rss_peak_bytes()
    reset_peak()
    lists, errors = store.load_active()
    t2 = time.perf_counter()
    assert not errors, errors
    lst = lists[0]
    loaded_rss = rss_now_bytes() - base_rss
    index_bytes = sum(ix.nbytes for ix in lst.indexes.values())
    raw_digest_bytes = sum(len(ix) * ix.width for ix in lst.indexes.values())
    out = {"kdf_s": t1 - t0, "load_s": t2 - t1, "index_bytes": index_bytes, "raw_digest_bytes": raw_digest_bytes,
           "rss_after_load": loaded_rss, "peak_rss": rss_peak_bytes(), "kdf_peak_rss": kdf_peak}
    rng = np.random.default_rng(7)
    for alg, ix in lst.indexes.items():
        prefix, rest, _ = ix.arrays()
        half = queries // 2
        pick = rng.integers(0, len(ix), half)
        present = np.empty((half, ix.width), dtype=np.uint8)
        present[:, :8] = prefix[pick].astype(">u8").view(np.uint8).reshape(-1, 8)
        present[:, 8:] = rest[pick].view(np.uint8).reshape(-1, ix.width - 8)
        absent = np.frombuffer(rng.bytes(ix.width * (queries - half)), dtype=np.uint8).reshape(-1, ix.width)
        q = np.concatenate([present, absent])[rng.permutation(queries)].view(f"S{ix.width}").ravel()
        dt = float("inf")
        for _ in range(LOOKUP_REPEAT):  # best of a few, as --lookup-only does: one run is at the machine's mercy
            t = time.perf_counter()
            found = ix.lookup(q)
            dt = min(dt, time.perf_counter() - t)
        singles = q[:20000]
        t = time.perf_counter()
        for d in singles:
            ix.contains(bytes(d))
        single_dt = time.perf_counter() - t
        out[f"{alg}_lookups_per_s"] = queries / dt
        out[f"{alg}_found"] = int((found >= 0).sum())
        out[f"{alg}_single_lookups_per_s"] = len(singles) / single_dt
    return out


def lookup_only(entries: int, queries: int, algorithm: str, repeat: int) -> dict:
    """Focused micro-benchmark: an in-memory ExactIndex of ``entries`` random digests (no store, no import),
    ``queries`` batch lookups (half present, shuffled), on one core; the current lookup against the previous
    sort+searchsorted one, best of ``repeat``; both answers are checked to agree."""
    import numpy as np

    from appliance.hashing.digests import DIGEST_KINDS
    from appliance.hashlist.index import ExactIndex

    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    width = DIGEST_KINDS[algorithm].size
    rng = np.random.default_rng(11)
    raw = rng.bytes(width * entries)
    labels = rng.integers(0, 200, entries, dtype=np.uint32)
    t = time.perf_counter()
    ix = ExactIndex.build(algorithm, raw, labels, 200)
    build_s = time.perf_counter() - t
    keys = np.frombuffer(raw, dtype=f"S{width}")
    half = queries // 2
    present = keys[rng.integers(0, entries, half)]
    absent = np.frombuffer(rng.bytes(width * (queries - half)), dtype=f"S{width}")
    q = np.concatenate([present, absent])[rng.permutation(queries)]
    out: dict = {"entries": entries, "queries": queries, "algorithm": algorithm, "build_s": build_s,
                 "index_bytes": ix.nbytes, "raw_digest_bytes": len(ix) * width,
                 "memory_ratio": ix.nbytes / (len(ix) * width)}
    results = {}
    for name, fn in (("searchsorted", ix.lookup_searchsorted), ("radix", ix.lookup)):
        best = best_cpu = float("inf")
        for _ in range(repeat):
            t, c = time.perf_counter(), time.process_time()
            results[name] = fn(q)
            best, best_cpu = min(best, time.perf_counter() - t), min(best_cpu, time.process_time() - c)
        out[f"{name}_lookups_per_s"] = queries / best
        out[f"{name}_lookups_per_cpu_s"] = queries / best_cpu  # shared machine: time on the core only
    assert np.array_equal(results["radix"], results["searchsorted"]), "lookup paths disagree"
    out["found"] = int((results["radix"] >= 0).sum())
    return out


def _vm_hwm(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


OUTPUT_LIMIT = 64 << 20  # a peer that floods its output (clamscan's allocation errors) is stopped


def _tail(fh, limit: int = 4096) -> str:
    size = fh.seek(0, os.SEEK_END)
    fh.seek(max(0, size - limit))
    return fh.read().decode("utf-8", "replace")


PEER_MEMORY_LIMIT: int | None = None  # bytes of address space per peer process (--peer-memory-limit)


def _limit_memory() -> None:
    if PEER_MEMORY_LIMIT:
        resource.setrlimit(resource.RLIMIT_AS, (PEER_MEMORY_LIMIT, PEER_MEMORY_LIMIT))


def timed(cmd: list[str], env: dict | None = None,
          timeout: float = 1800) -> tuple[float, subprocess.CompletedProcess[str], int]:
    """Run, returning wall seconds, the result (last 4 KiB of each output) and the child's peak RSS (VmHWM
    after exec, polled; bytes). Stopped after ``timeout`` s or ``OUTPUT_LIMIT`` bytes of output (rc -9)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        limit = _limit_memory if cmd[0] != sys.executable else None  # peers only
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, preexec_fn=limit)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _vm_hwm(proc.pid))
            flooding = os.fstat(err.fileno()).st_size + os.fstat(out.fileno()).st_size > OUTPUT_LIMIT
            if flooding or time.perf_counter() - t > timeout:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.02)
        dt = time.perf_counter() - t
        result = subprocess.CompletedProcess(cmd, proc.returncode, _tail(out, 1 << 20), _tail(err))
    return dt, result, peak


def run_clamscan(db: Path, tree: Path) -> dict:
    dt, proc, rss = timed(["clamscan", "--no-summary", "-i", "-r", "-d", str(db), str(tree)])
    found = sum(1 for ln in proc.stdout.splitlines() if ln.endswith("FOUND"))
    out = {"seconds": dt, "hits": found, "peak_rss": rss, "rc": proc.returncode}
    if proc.returncode not in (0, 1):
        out["error"] = (proc.stderr.strip().splitlines() or ["killed"])[-1][:200]
    return out


def child(phase: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--phase", phase, *args], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(f"phase {phase} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=10_000_000)
    ap.add_argument("--queries", type=int, default=1_000_000)
    ap.add_argument("--workdir", type=Path, help="keep files here (default: a temp dir, removed)")
    ap.add_argument("--no-peers", action="store_true", help="skip clamscan and hashdeep")
    ap.add_argument("--clamav-fallback", type=int, default=1_000_000,
                    help="if clamscan fails on the full list, also run it on this many entries")
    ap.add_argument("--peer-memory-limit", type=float, metavar="GB",
                    help="cap each peer's address space (a shared machine: a peer that cannot load the list "
                         "fails instead of pushing others out of memory)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--lookup-only", action="store_true",
                    help="only time batch lookups on an in-memory index of --entries random digests (one core)")
    ap.add_argument("--algorithm", default="md5", help="with --lookup-only: md5 or sha1 (default md5)")
    ap.add_argument("--repeat", type=int, default=3, help="with --lookup-only: best of this many runs")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--list-file", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.lookup_only:
        r = lookup_only(args.entries, args.queries, args.algorithm, args.repeat)
        if args.json:
            print(json.dumps(r, indent=1))
        else:
            print(f"lookup-only: {r['entries']:,} {r['algorithm']} entries, {r['queries']:,} queries (half present, "
                  f"found {r['found']:,}), 1 core; load average {os.getloadavg()[0]:.1f}")
            print(f"  index memory {r['index_bytes'] / 1e6:.1f} MB = {r['memory_ratio']:.3f} x raw digest bytes "
                  f"(built in {r['build_s']:.1f} s)")
            for name in ("searchsorted", "radix"):
                print(f"  {name:<12} {r[f'{name}_lookups_per_s'] / 1e6:8.2f} M lookups/s wall, "
                      f"{r[f'{name}_lookups_per_cpu_s'] / 1e6:.2f} M per CPU-second")
        return
    if args.phase == "import":
        print(json.dumps(phase_import(args.state, args.list_file)))
        return
    if args.phase == "load":
        print(json.dumps(phase_load(args.state, args.queries)))
        return

    global PEER_MEMORY_LIMIT
    PEER_MEMORY_LIMIT = int(args.peer_memory_limit * 1e9) if args.peer_memory_limit else None
    work = args.workdir or Path(tempfile.mkdtemp(prefix="gapscan-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    runtime = work / "runtime"
    env = {**os.environ, "GAPSCAN_RUNTIME_DIR": str(runtime), "GAPSCAN_TPM_TCTI": "none"}
    os.environ.update(env)
    try:
        tree = work / "tree"
        t = time.perf_counter()
        shutil.rmtree(tree, ignore_errors=True)
        planted = make_tree(tree, seed=1)
        hd, hdb = make_lists(args.entries, work, planted, seed=1)
        gen_s = time.perf_counter() - t
        state = work / "state"
        shutil.rmtree(state, ignore_errors=True)
        state.mkdir()
        r: dict = {"entries": args.entries, "queries": args.queries, "generate_s": gen_s,
                   "list_file_bytes": hd.stat().st_size}
        r["import"] = child("import", "--state", str(state), "--list-file", str(hd))
        r["load"] = child("load", "--state", str(state), "--queries", str(args.queries))
        scan_cmd = [sys.executable, "-m", "appliance", "--state-dir", str(state), "scan", str(tree), "--json",
                    "--no-progress", "--algorithms", "md5,sha1"]
        dt, proc, rss = timed(scan_cmd, env={**env, "PYTHONPATH": str(REPO)})
        hits = json.loads(proc.stdout.splitlines()[-1])["summary"]["hits"] if proc.stdout else None
        r["gapscan_scan"] = {"seconds": dt, "hits": hits, "peak_rss": rss, "rc": proc.returncode}
        if not args.no_peers:
            if shutil.which("clamscan"):
                r["clamscan"] = run_clamscan(hdb, tree)
                if r["clamscan"]["rc"] not in (0, 1) and args.entries > args.clamav_fallback:
                    small = work / f"known-{args.clamav_fallback}.hdb"
                    with open(hdb) as src, open(small, "w") as dst:
                        for _ in range(args.clamav_fallback):
                            dst.write(src.readline())
                    r["clamscan_fallback"] = {**run_clamscan(small, tree), "entries": args.clamav_fallback}
            if shutil.which("hashdeep"):
                dt, proc, rss = timed(["hashdeep", "-c", "md5,sha1", "-m", "-r", "-k", str(hd), str(tree)])
                r["hashdeep"] = {"seconds": dt, "hits": len(proc.stdout.splitlines()), "peak_rss": rss,
                                 "rc": proc.returncode}
        (work / "result.json").write_text(json.dumps(r, indent=1))
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(r, indent=1))
        return
    report(r)


def report(r: dict) -> None:
    imp, load = r["import"], r["load"]
    mb = 1e6
    enc = imp["encrypted_bytes"]
    print(f"gapscan hash-list bench: {r['entries']:,} entries (md5 + sha1 + size each); machine: "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (shared)")
    print(f"  list file (hashdeep text)     {r['list_file_bytes'] / mb:10.1f} MB  "
          f"(generated in {r['generate_s']:.1f} s)")
    print(f"  import (stream+index+encrypt) {imp['import_s']:10.1f} s   "
          f"({r['entries'] / imp['import_s']:,.0f} rows/s), peak RSS {imp['peak_rss'] / mb:.0f} MB "
          f"({imp['peak_rss'] / load['raw_digest_bytes']:.2f} x raw digest bytes; "
          f"{(imp['peak_rss'] - imp.get('rss_before_import', 0)) / load['raw_digest_bytes']:.2f} x above the "
          f"{imp.get('rss_before_import', 0) / mb:.0f} MB before it; the unlock's key derivation peaked at "
          f"{imp.get('kdf_peak_rss', 0) / mb:.0f} MB before)")
    print(f"  encrypted size                {enc / mb:10.1f} MB  (raw digests {load['raw_digest_bytes'] / mb:.1f} MB)")
    print(f"  unlock (Argon2id)             {load['kdf_s']:10.2f} s")
    print(f"  decrypt + load                {load['load_s']:10.2f} s   ({enc / mb / load['load_s']:.0f} MB/s of "
          "encrypted list)")
    print(f"  index memory                  {load['index_bytes'] / mb:10.1f} MB  "
          f"({load['index_bytes'] / load['raw_digest_bytes']:.3f} x raw digest bytes)")
    print(f"  RSS added by load             {load['rss_after_load'] / mb:10.1f} MB  "
          f"({load['rss_after_load'] / load['raw_digest_bytes']:.3f} x raw); peak RSS of the load "
          f"{load['peak_rss'] / mb:.0f} MB (key derivation before it: {load.get('kdf_peak_rss', 0) / mb:.0f} MB)")
    for alg in ("md5", "sha1"):
        if f"{alg}_lookups_per_s" in load:
            rate = load[f"{alg}_lookups_per_s"] / 1e6
            print(f"  {alg} batch lookups (1 core, best of {LOOKUP_REPEAT}){rate:10.2f} M/s "
                  f"(found {load[f'{alg}_found']:,} of {r['queries']:,} queries, half present); "
                  f"single {load[f'{alg}_single_lookups_per_s'] / 1e3:.0f} k/s")
    print("  end to end: load + scan of 1,000 files with 10 planted hits")
    for name in ("gapscan_scan", "clamscan", "clamscan_fallback", "hashdeep"):
        if name in r:
            x = r[name]
            extra = f"  ({x['entries']:,} entries)" if "entries" in x else ""
            extra += f"  error: {x['error']}" if "error" in x else ""
            print(f"    {name:<17} {x['seconds']:8.1f} s  hits {x['hits']}  peak RSS {x['peak_rss'] / mb:.0f} MB"
                  f"  rc {x['rc']}{extra}")


if __name__ == "__main__":
    main()
