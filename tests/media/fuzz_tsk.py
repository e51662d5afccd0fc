"""Mutate an image at random (seeded) and walk + read it with TskSource; print one line per unexpected error.

Run as a subprocess by test_hostile_images.py, so a crash inside the C library shows as a failed exit status
instead of killing the test run. Usage: python -m tests.media.fuzz_tsk IMAGE SEEDS SPAN_BYTES WORKDIR
"""

from __future__ import annotations

import random
import sys
import traceback
from pathlib import Path

from firmware.media.source import SourceError
from firmware.media.tsk import TskSource

MAX_ENTRIES = 20_000


def main() -> int:
    image, seeds, span, workdir = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    original = image.read_bytes()
    target = workdir / "mutated.img"
    unexpected = 0
    for seed in range(seeds):
        rng = random.Random(seed)
        data = bytearray(original)
        for _ in range(rng.randint(1, 200)):
            data[rng.randrange(0, min(len(data), span))] = rng.randrange(256)
        target.write_bytes(data)
        try:
            source = TskSource(str(target))
        except SourceError:
            continue  # a clear refusal is a correct answer
        try:
            for n, entry in enumerate(source.walk()):
                if n > MAX_ENTRIES:
                    break
                if entry.kind == "file" and entry.error is None:
                    try:
                        with source.open(entry) as fh:
                            while fh.read(1 << 20):
                                pass
                    except OSError:
                        pass  # a clear per-file error is a correct answer
        except Exception:
            unexpected += 1
            print(f"seed {seed}: {traceback.format_exc(limit=2)}")
    print(f"unexpected={unexpected}")
    return 1 if unexpected else 0


if __name__ == "__main__":
    raise SystemExit(main())
