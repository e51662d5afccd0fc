"""One worker thread per device: its scans run one after another, never two at once on one drive.

Before each scan the self-test runs; a failure blocks the scan. The scan itself is a ``gapscan scan``
subprocess started through ScanController; the worker follows it (progress from the results store) and turns
a cancel request (drive removed, EJECT, daemon stopping) into the scan's own SIGTERM, which checkpoints it and
ends it ``interrupted``, resumable.
"""

from __future__ import annotations

import queue
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.daemon.events import VolumeInfo
from appliance.daemon.health import Heartbeats
from appliance.errors import GapscanError
from appliance.results.store import ResultStore
from appliance.scan.control import ScanController, ScanStatus
from appliance.selftest import SelfTestReport, run_selftest


@dataclass(eq=False)  # jobs are compared by identity: two scans of the same spec are two jobs
class Job:
    spec: str
    origin: str  # auto | panel | ui
    extra_args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    volume: VolumeInfo | None = None
    future: Future[str] = field(default_factory=Future)
    cancel: threading.Event = field(default_factory=threading.Event)
    cancel_reason: str | None = None
    scan_id: str | None = None


class Observer:
    """What the daemon hears from its workers (all calls come from the worker's thread)."""

    def selftest_done(self, key: str, job: Job, report: SelfTestReport) -> None: ...
    def scan_not_started(self, key: str, job: Job, reason: str, message: str) -> None: ...
    def scan_started(self, key: str, job: Job, scan_id: str) -> None: ...
    def scan_progress(self, key: str, job: Job, status: ScanStatus) -> None: ...
    def scan_ended(self, key: str, job: Job, status: ScanStatus | None, exit_code: int | None) -> None: ...


class DeviceWorker:
    def __init__(self, key: str, *, state_dir: Path, controller: ScanController, health: Heartbeats,
                 observer: Observer, scan_args: Sequence[str] = (), poll: float = 0.5,
                 selftest: Callable[[Path], SelfTestReport] = run_selftest) -> None:
        self.key = key
        self.state_dir = state_dir
        self.controller = controller
        self.health = health
        self.observer = observer
        self.scan_args = list(scan_args)
        self.poll = poll
        self.selftest = selftest
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._pending: list[Job] = []
        self.current: Job | None = None
        self._thread = threading.Thread(target=self._run, name=f"worker {key}", daemon=True)
        self._thread.start()

    @property
    def beat_name(self) -> str:
        return f"worker {self.key}"

    def busy(self) -> bool:
        with self._lock:
            return self.current is not None or bool(self._pending)

    def pending(self) -> int:
        """Jobs waiting behind the current one."""
        with self._lock:
            return len(self._pending)

    def submit(self, job: Job) -> None:
        with self._lock:
            self._pending.append(job)
        self._queue.put(job)

    def cancel_all(self, reason: str) -> list[str]:
        """Drop queued jobs and stop the running scan. Returns the id of the scan being interrupted, if any."""
        with self._lock:
            pending, self._pending = self._pending, []
            current = self.current
        for job in pending:
            job.cancel_reason = reason
            job.cancel.set()
            if not job.future.done():
                job.future.set_exception(GapscanError(f"scan of {job.spec!r} not started: {reason}"))
        if current is not None:
            current.cancel_reason = reason
            current.cancel.set()
            if current.scan_id:
                self.controller.cancel(current.scan_id)  # now, not at the worker's next poll
                return [current.scan_id]
        return []

    def cancel_scan(self, scan_id: str) -> bool:
        with self._lock:
            current = self.current
        if current is not None and current.scan_id == scan_id:
            current.cancel_reason = "cancelled"
            current.cancel.set()
            self.controller.cancel(scan_id)
            return True
        return False

    def stop(self, reason: str) -> None:
        self.cancel_all(reason)
        self._queue.put(None)

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- the thread ----------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                self.health.forget(self.beat_name)
                return
            with self._lock:
                if job not in self._pending:
                    continue  # cancelled while queued
                self._pending.remove(job)
                self.current = job
            try:
                self._execute(job)
            except Exception as exc:  # the worker survives anything one scan does
                if not job.future.done():
                    job.future.set_exception(GapscanError(f"scan of {job.spec!r} failed: {exc}"))
                self.observer.scan_not_started(self.key, job, "internal", f"{type(exc).__name__}: {exc}")
            finally:
                with self._lock:
                    self.current = None
                self.health.forget(self.beat_name)

    def _execute(self, job: Job) -> None:
        self.health.beat(self.beat_name)
        report = self.selftest(self.state_dir)
        self.health.beat(self.beat_name)
        self.observer.selftest_done(self.key, job, report)
        if not report.passed:
            message = f"{report.summary()}; scanning is blocked until `gapscan selftest` passes"
            job.future.set_exception(GapscanError(message))
            self.observer.scan_not_started(self.key, job, "selftest", message)
            return
        if job.cancel.is_set():
            job.future.set_exception(GapscanError(f"scan of {job.spec!r} not started: {job.cancel_reason}"))
            return
        try:
            scan_id = self.controller.start(job.spec, extra_args=[*self.scan_args, *job.extra_args], env=job.env)
        except GapscanError as exc:
            job.future.set_exception(exc)
            self.observer.scan_not_started(self.key, job, "start", str(exc))
            return
        job.scan_id = scan_id
        with ResultStore.in_state_dir(self.state_dir) as store:
            store.update_extra(scan_id, selftest=report.to_json(), started_by=job.origin, drive=self.key)
        job.future.set_result(scan_id)
        self.observer.scan_started(self.key, job, scan_id)
        cancel_sent = False
        exit_code: int | None = None
        while True:
            self.health.beat(self.beat_name)
            if job.cancel.is_set() and not cancel_sent:
                cancel_sent = True
                self.controller.cancel(scan_id)
            try:
                exit_code = self.controller.wait(scan_id, timeout=self.poll)
                break
            except subprocess.TimeoutExpired:
                pass
            status = self.controller.status(scan_id)
            if status is not None:
                self.observer.scan_progress(self.key, job, status)
        self.observer.scan_ended(self.key, job, self.controller.status(scan_id), exit_code)


def status_json(status: ScanStatus | None) -> dict[str, Any] | None:
    if status is None:
        return None
    from dataclasses import asdict

    return asdict(status)
