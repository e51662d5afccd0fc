"""The unlock token: the KEK kept for this boot in a runtime directory, so later commands need no passphrase.

Where: ``$GAPSCAN_RUNTIME_DIR``, else ``/run/gapscan`` when ``/run`` is writable, else
``$XDG_RUNTIME_DIR/gapscan``: memory-backed (tmpfs) directories that vanish at power-off; mode 0700, file 0600,
never under the state directory. The token names the store and the boot (``/proc/sys/kernel/random/boot_id``):
a token left over from another boot or for another store is ignored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from firmware.atomic import write_atomic
from firmware.keystore.errors import KeystoreError

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str:
    try:
        return BOOT_ID.read_text(encoding="ascii").strip()
    except OSError:
        return "unknown-boot"


def runtime_dir() -> Path | None:
    env = os.environ.get("GAPSCAN_RUNTIME_DIR")
    if env:
        return Path(env)
    run = Path("/run")
    if os.access(run, os.W_OK) or ((run / "gapscan").is_dir() and os.access(run / "gapscan", os.W_OK)):
        return run / "gapscan"
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    return Path(xdg) / "gapscan" if xdg else None


class RuntimeToken:
    def __init__(self, store_id: str, state_dir: Path, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None else runtime_dir()
        self.store_id = store_id
        if self.directory is not None:
            d, s = self.directory.resolve(), state_dir.resolve()
            if d == s or s in d.parents:
                raise KeystoreError(f"the runtime directory {self.directory} is inside the state directory; "
                                    "the unlock token must live in memory-backed runtime storage")

    @property
    def path(self) -> Path | None:
        return self.directory / f"unlock-{self.store_id}.json" if self.directory is not None else None

    def write(self, kek: bytes) -> Path:
        if self.directory is None or self.path is None:
            raise KeystoreError("no runtime directory for the unlock token: set GAPSCAN_RUNTIME_DIR or "
                                "XDG_RUNTIME_DIR")
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        write_atomic(self.path, json.dumps({"boot_id": boot_id(), "kek": kek.hex()}).encode(), mode=0o600)
        return self.path

    def read(self) -> bytes | None:
        if self.path is None or not self.path.is_file():
            return None
        try:
            body = json.loads(self.path.read_text(encoding="ascii"))
            if body.get("boot_id") != boot_id():
                return None
            kek = bytes.fromhex(body["kek"])
        except (OSError, ValueError, KeyError):
            return None
        return kek if len(kek) == 32 else None

    def clear(self) -> bool:
        if self.path is not None and self.path.exists():
            self.path.unlink()
            return True
        return False
