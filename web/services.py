"""The web UI's view of the other areas: scans, hash lists and media.

Where an area cannot answer at run time (udev not running, the store's metadata unreadable) the page says so
instead of failing, and names why. The web process never runs a scan itself: scans run as subprocesses of the
controller.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.hashlist.store import HashListStore
from appliance.media import attached_media as attached_drives
from appliance.scan.control import connect


@dataclass(frozen=True)
class Unavailable:
    """Why a feature cannot be offered right now; shown on the page."""

    what: str
    reason: str

    def __str__(self) -> str:
        return f"{self.what} not available: {self.reason}"


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
                self._controller = connect(self.state_dir)
            return self._controller

    # -- hash lists ------------------------------------------------------------------------------
    def hashlist_store(self) -> HashListStore:
        return HashListStore(self.state_dir)

    def list_metadata(self) -> list[Any] | Unavailable:
        try:
            return list(self.hashlist_store().metadata())
        except Exception as exc:
            return Unavailable("hash-list store", str(exc))

    def store_lock_state(self) -> str:
        """"unlocked for this boot", "locked" or "locked (no key yet)"."""
        try:
            return "unlocked for this boot" if self.hashlist_store().token().read() is not None else "locked"
        except Exception:
            return "locked (no key yet)"

    # -- media -----------------------------------------------------------------------------------
    def attached_media(self) -> list[Any] | Unavailable:
        try:
            return attached_drives()
        except Exception as exc:
            return Unavailable("media layer", f"{type(exc).__name__}: {exc}")
