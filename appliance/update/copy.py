"""Copy a bundle off the USB drive into a private temp dir under the state dir, in one read.

Everything after this works on the copy: the drive is never read again, so a file swapped or a drive
pulled after verification cannot change what gets installed (RAUC CVE-2020-25860).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from appliance.update.durable import step
from appliance.update.errors import BundleRefused
from appliance.update.state import update_dir
from appliance.update.verify import MAX_BUNDLE_BYTES, open_bundle_file

_CHUNK = 1024 * 1024
Opener = Callable[[Path], BinaryIO]


def work_dir(state_dir: Path) -> Path:
    """A fresh private (0700) directory for one apply; stale ones from a power cut are removed first."""
    base = update_dir(state_dir)
    for stale in base.glob("work-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix="work-", dir=base))


def copy_bundle(src: Path, dest_dir: Path, *, opener: Opener = open_bundle_file,
                max_bytes: int = MAX_BUNDLE_BYTES) -> Path:
    """Copy ``src`` to ``dest_dir/bundle.gsb`` (fsynced); refuses non-regular files, oversize, read errors."""
    dest = dest_dir / "bundle.gsb"
    copied = 0
    with opener(Path(src)) as fh, open(dest, "xb") as out:
        while True:
            try:
                chunk = fh.read(_CHUNK)
            except OSError as exc:
                raise BundleRefused("read-error", f"copying {src} failed after {copied} bytes: "
                                                  f"{exc.strerror or exc} (was the drive removed?)") from None
            if not chunk:
                break
            copied += len(chunk)
            if copied > max_bytes:
                raise BundleRefused("too-large", f"{src} grew beyond {max_bytes} bytes while being copied")
            out.write(chunk)
        step("write bundle copy")
        out.flush()
        os.fsync(out.fileno())
    os.chmod(dest, 0o400)
    step("fsync bundle copy")
    return dest
