"""Heartbeats of the daemon's threads; the watchdog is petted only while every one of them is fresh."""

from __future__ import annotations

import threading
import time


class Heartbeats:
    def __init__(self, hang_timeout: float) -> None:
        self.hang_timeout = hang_timeout
        self._beats: dict[str, float] = {}
        self._lock = threading.Lock()

    def beat(self, name: str) -> None:
        with self._lock:
            self._beats[name] = time.monotonic()

    def forget(self, name: str) -> None:
        """The thread is idle by design (waiting for work), not hung."""
        with self._lock:
            self._beats.pop(name, None)

    def check(self) -> tuple[bool, str]:
        now = time.monotonic()
        with self._lock:
            stale = sorted((name, now - t) for name, t in self._beats.items() if now - t > self.hang_timeout)
        if stale:
            return False, "; ".join(f"{name} silent for {age:.0f} s" for name, age in stale)
        return True, "ok"
