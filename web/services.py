"""The web UI's view of the other areas: scans, hash lists, media and updates.

Each is looked up once; where a part is not installed (yet) the page says so instead of failing, and names
what is missing. The web process never runs a scan itself: scans run as subprocesses of the controller.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.scan.control import ScanController


@dataclass(frozen=True)
class Unavailable:
    """Why a feature cannot be offered on this build; shown on the page."""

    what: str
    reason: str

    def __str__(self) -> str:
        return f"{self.what} not available: {self.reason}"


def optional(module: str, *names: str) -> tuple[Any, ...] | Unavailable:
    """Import ``names`` from ``module`` or say why not (module missing or older than the contract)."""
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # missing, or broken at import (a missing dependency of that area)
        return Unavailable(module, f"{exc}")
    missing = [n for n in names if not hasattr(mod, n)]
    if missing:
        return Unavailable(module, f"{module} lacks {', '.join(missing)}")
    return tuple(getattr(mod, n) for n in names)


class Services:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self._lock = threading.Lock()
        self._controller: Any = None
        self.key_setup_error: str | None = None

    # -- scans -----------------------------------------------------------------------------------
    @property
    def scans(self) -> Any:
        """The daemon's client when gapscand answers, else a controller owned by this process."""
        with self._lock:
            if self._controller is None:
                connect = optional("appliance.scan.control", "connect")
                if isinstance(connect, Unavailable):
                    self._controller = ScanController(self.state_dir)
                else:
                    try:
                        self._controller = connect[0](self.state_dir)
                    except Exception:  # daemon socket broken: fall back to running scans ourselves
                        self._controller = ScanController(self.state_dir)
            return self._controller

    # -- hash lists ------------------------------------------------------------------------------
    def hashlist_store(self) -> Any:
        found = optional("appliance.hashlist.store", "HashListStore")
        if isinstance(found, Unavailable):
            return Unavailable("hash-list store", found.reason)
        return found[0](self.state_dir)

    def list_metadata(self) -> list[Any] | Unavailable:
        store = self.hashlist_store()
        if isinstance(store, Unavailable):
            return store
        try:
            return list(store.metadata())
        except Exception as exc:
            return Unavailable("hash-list store", str(exc))

    def store_lock_state(self) -> str | None:
        """"unlocked for this boot", "locked", "locked (no key yet)", or None where the store cannot say."""
        store = self.hashlist_store()
        if isinstance(store, Unavailable) or not hasattr(store, "token"):
            return None
        try:
            return "unlocked for this boot" if store.token().read() is not None else "locked"
        except Exception:
            return "locked (no key yet)"

    # -- media -----------------------------------------------------------------------------------
    def attached_media(self) -> list[Any] | Unavailable:
        found = optional("appliance.media", "attached_media")
        if isinstance(found, Unavailable):
            return Unavailable("media layer", found.reason)
        try:
            return list(found[0]())
        except Exception as exc:
            return Unavailable("media layer", f"{type(exc).__name__}: {exc}")

    # -- updates ---------------------------------------------------------------------------------
    def update_engine(self) -> tuple[Any, Any] | Unavailable:
        found = optional("appliance.update", "verify_bundle", "apply_bundle")
        if isinstance(found, Unavailable):
            return Unavailable("update engine", found.reason)
        return found[0], found[1]
