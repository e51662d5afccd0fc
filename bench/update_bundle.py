"""Bundle verify/apply throughput beside `sha256sum` (the floor: one SHA-256 pass over the same bytes).

    .venv/bin/python bench/update_bundle.py [--mb 64]

Prints: build, verify (one read + SHA-256 + Ed25519), apply (copy + verify + install into an A/B slot
with fsyncs), and `sha256sum` of the bundle, in seconds and MB/s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from appliance.update import apply_bundle, provision_root, verify_bundle
from appliance.update.build import build_bundle
from appliance.update.keys import SigningKey
from appliance.update.trust import ROLES, build_root


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=64)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gapscan-bench-") as tmp:
        t = Path(tmp)
        keys = {r: SigningKey.generate(r) for r in ROLES}
        state = t / "state"
        state.mkdir()
        provision_root(state, build_root("gapscan", 1, keys).to_bytes(), production=True)  # type: ignore[arg-type]
        src = t / "release"
        src.mkdir()
        for i in range(8):
            (src / f"blob{i}").write_bytes(os.urandom(args.mb * 1024 * 1024 // 8))
        out = t / "sw.gsb"
        rows = []
        start = time.perf_counter()
        build_bundle(out, kind="software", version=2, keys=[keys["software"]], payloads=[src])
        rows.append(("build (vendor)", time.perf_counter() - start))
        start = time.perf_counter()
        verify_bundle(out, state_dir=state)
        rows.append(("gapscan bundle verify", time.perf_counter() - start))
        start = time.perf_counter()
        apply_bundle(out, state_dir=state, actor="bench")
        rows.append(("gapscan bundle apply", time.perf_counter() - start))
        start = time.perf_counter()
        subprocess.run(["sha256sum", str(out)], check=True, capture_output=True)
        rows.append(("sha256sum (peer)", time.perf_counter() - start))
        size = out.stat().st_size / 1e6
        print(f"bundle: {size:.1f} MB, 8 members")
        for name, secs in rows:
            print(f"{name:24s} {secs:7.3f} s  {size / secs:8.1f} MB/s")


if __name__ == "__main__":
    main()
