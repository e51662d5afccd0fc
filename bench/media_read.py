"""Read throughput of the userland filesystem reader (pytsk3) beside a kernel-mounted ext4 and a raw SHA-256
of the same image, in the same run.

    .venv/bin/python bench/media_read.py [--mib 128] [--files 64]

Builds an ext4 image with ``mkfs.ext4 -d`` holding --files random files totalling --mib MiB, then times:
  raw     SHA-256 of the whole image file (sequential read: the ceiling),
  pytsk3  walk + read + SHA-256 of every file through firmware.media.tsk.TskSource (what a scan does),
  kernel  the same through a read-only loop mount (firmware.media.mount.MountedSource; root only).
and then the full scan pipeline (ScanJob: MD5+SHA-1+SHA-256 of every file, thread pool, results store) over
the image (pytsk3) and over the kernel mount. The image was just written, so everything reads from the page
cache: this measures parser/CPU overhead, not the USB stick. Prints MiB/s side by side.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmware.media.source import EntryKind
from firmware.media.tsk import TskSource


def build(tmp: Path, mib: int, files: int) -> tuple[Path, int]:
    src = tmp / "tree"
    src.mkdir()
    each = mib * (1 << 20) // files
    for i in range(files):
        (src / f"d{i % 8}").mkdir(exist_ok=True)
        (src / f"d{i % 8}" / f"f{i:05}.bin").write_bytes(os.urandom(each))
    image = tmp / "bench.img"
    with open(image, "wb") as fh:
        fh.truncate(int(mib * 1.3 + 32) << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(src), str(image)], check=True)
    shutil.rmtree(src)
    return image, each * files


def read_all(source) -> int:
    total = 0
    for e in source.walk():
        if e.kind is EntryKind.FILE and e.error is None:
            h = hashlib.sha256()
            with source.open(e) as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
                    total += len(chunk)
    return total


def scan_pipeline(source, state_dir: Path) -> int:
    from appliance.hashlist.index import Matcher
    from appliance.results.store import ResultStore
    from appliance.scan.job import ScanJob, ScanOptions

    state_dir.mkdir(exist_ok=True)
    with ResultStore.in_state_dir(state_dir) as store:
        counts = ScanJob(source, Matcher([]), store, ScanOptions(hash_all=True)).start({})
    return counts.bytes


def timed(fn):
    t0 = time.perf_counter()
    n = fn()
    return n, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=128)
    ap.add_argument("--files", type=int, default=64)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gapscan-bench-") as d:
        image, payload = build(Path(d), args.mib, args.files)

        def raw() -> int:
            h = hashlib.sha256()
            n = 0
            with open(image, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
                    n += len(chunk)
            return n

        rows = [("raw sha256 of image", *timed(raw))]
        rows.append(("pytsk3 (userland)", *timed(lambda: read_all(TskSource(str(image))))))
        if os.geteuid() == 0:
            from firmware.media.mount import MountedSource
            from firmware.media.source import SourceError

            try:
                src = MountedSource(str(image))
                try:
                    rows.append(("kernel ext4 ro mount", *timed(lambda: read_all(src))))
                    rows.append(("scan job, pytsk3", *timed(lambda: scan_pipeline(TskSource(str(image)),
                                                                                  Path(d) / "s1"))))
                    rows.append(("scan job, kernel mount", *timed(lambda: scan_pipeline(src, Path(d) / "s2"))))
                finally:
                    src.close()
            except SourceError as exc:
                print(f"kernel mount not possible here: {exc}")
        else:
            print("kernel mount skipped: needs root")
            rows.append(("scan job, pytsk3", *timed(lambda: scan_pipeline(TskSource(str(image)), Path(d) / "s1"))))
        print(f"ext4 image {image.stat().st_size >> 20} MiB, {args.files} files, {payload >> 20} MiB of file data "
              f"(warm page cache)")
        print(f"{'reader':<24}{'MiB read':>10}{'seconds':>10}{'MiB/s':>10}")
        for name, n, secs in rows:
            print(f"{name:<24}{n / (1 << 20):>10.1f}{secs:>10.3f}{n / (1 << 20) / secs:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
