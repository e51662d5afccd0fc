"""gapscand's main loop: media events in, scans queued per device, the panel and the watchdog kept current.

Threads: the main loop (media and button events, panel screen, heartbeat), one worker per device
(``worker.py``), the command socket (``server.py``), the media source, the panel link and the watchdog petter.
Everything shared is guarded by ``Daemon.lock``.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance import __version__
from appliance.config import resolve_state_dir
from appliance.daemon import display
from appliance.daemon.args import add_arguments
from appliance.daemon.client import socket_path
from appliance.daemon.events import DriveInfo, MediaEvent, recorded_events, udev_events
from appliance.daemon.health import Heartbeats
from appliance.daemon.logs import JsonLog
from appliance.daemon.server import CommandServer, DaemonAlreadyRunning
from appliance.daemon.worker import DeviceWorker, Job, Observer, status_json
from appliance.errors import GapscanError
from appliance.scan.control import ScanController, ScanStatus
from appliance.selftest import SelfTestReport, run_selftest
from appliance.update import load_slots, mark_good
from firmware.systemd_notify import SystemdNotifier

#: How long a manual ``start`` waits for its self-test and for the scan to be recorded.
START_WAIT = 180.0
#: Environment a client may hand to a scan (secrets that must not go on a command line).
SCAN_ENV_ALLOWED = frozenset({"GAPSCAN_SMB_PASSWORD", "GAPSCAN_PASSPHRASE"})


@dataclass
class DriveState:
    drive: DriveInfo
    state: str = "announced"  # announced | queued | scanning | done | error
    scans: list[dict[str, Any]] = field(default_factory=list)
    percent: int | None = None
    files: int = 0
    hits: int = 0
    errors: int = 0
    reason: str | None = None  # fixed words for the panel when state == error
    complete: bool = True  # every volume's scan finished (False: stopped by EJECT or removal)
    checked: bool = True  # every scan matched against at least one hash list (else "clean" means nothing)
    inserted_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {**self.drive.to_json(), "state": self.state, "scans": self.scans, "percent": self.percent,
                "files": self.files, "hits": self.hits, "errors": self.errors, "reason": self.reason,
                "inserted_at": self.inserted_at}


class Daemon(Observer):
    def __init__(self, state_dir: Path, *, media_events: str | None = None, panel_port: str | None = None,
                 watchdog_path: str | None = None, auto_scan: str = "settings", scan_args: Sequence[str] = (),
                 web_url: str | None = None, hang_timeout: float = 120.0, watchdog_interval: float = 5.0,
                 page_seconds: float = 3.0, log: JsonLog | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.media_events = media_events
        self.panel_port = panel_port
        self.watchdog_path = watchdog_path
        self.auto_scan_mode = auto_scan
        self.scan_args = list(scan_args)
        self.web_url = web_url
        self.page_seconds = page_seconds
        self.log = log or JsonLog()
        self.health = Heartbeats(hang_timeout)
        self.watchdog_interval = watchdog_interval
        self.controller = ScanController(self.state_dir)
        self.lock = threading.RLock()
        self.drives: dict[str, DriveState] = {}
        self.workers: dict[str, DeviceWorker] = {}
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.stopping = threading.Event()
        self.last_selftest: SelfTestReport | None = None
        self.panel: Any = None
        self.petter: Any = None
        self.systemd = SystemdNotifier()
        self.systemd_petter: Any = None
        self._idle_info: tuple[float, list[tuple[str, int]], str | None, str | None] | None = None
        self._beeped: set[str] = set()
        self._panel_seen: tuple[bool, str | None] | None = None
        self._warned: set[str] = set()

    # -- lifecycle -----------------------------------------------------------------------------------
    def run(self) -> int:
        try:
            server = CommandServer(socket_path(self.state_dir), self.handle_command).start()
        except DaemonAlreadyRunning as exc:
            self.log("daemon.refused", level="error", message=str(exc))
            return 2
        except OSError as exc:
            self.log("daemon.refused", level="error",
                     message=f"cannot listen on {socket_path(self.state_dir)}: {exc.strerror or exc}")
            return 2
        self.log("daemon.started", version=__version__, pid=os.getpid(), state_dir=str(self.state_dir),
                 socket=str(socket_path(self.state_dir)), auto_scan=self.auto_scan_mode)
        self._start_panel()
        self._start_watchdog()
        source_stop = threading.Event()
        self._start_media_source(source_stop)
        self.systemd.notify("READY=1", "STATUS=serving")
        threading.Thread(target=self._confirm_release, name="confirm-release", daemon=True).start()
        try:
            self._main_loop()
        finally:
            self._shutdown(server, source_stop)
        return 0

    def _confirm_release(self) -> None:
        """A software release on trial (A/B update) is confirmed only once this daemon serves and every hash
        path passes the self-test; until then the boot counter lets ``gapscan bundle boot`` fall back."""
        try:
            if not load_slots(self.state_dir).get("pending"):
                return
            report = run_selftest(self.state_dir, check_store=False)  # the store may still be locked at boot
            if report.passed:
                mark_good(self.state_dir)
                self.log("software.confirmed", message="release on trial passed the self-test: marked good")
            else:
                self.log("software.unconfirmed", level="error", failed=[c.name for c in report.failures],
                         message="release on trial failed the self-test: not marked good; it falls back")
        except Exception as exc:  # confirming is best effort: an unconfirmed release falls back by design
            self.log("software.unconfirmed", level="error", error=f"{type(exc).__name__}: {exc}")

    def request_stop(self, signum: int | None = None) -> None:
        self.stopping.set()
        self.events.put(("stop", signum))

    def _main_loop(self) -> None:
        while not self.stopping.is_set():
            self.health.beat("main loop")
            try:
                kind, value = self.events.get(timeout=0.25)
            except queue.Empty:
                kind, value = "tick", None
            try:
                if kind == "media":
                    self.on_media(value)
                elif kind == "button":
                    self.on_button(value)
                self._update_panel()
            except Exception as exc:  # one bad event must not stop the service; the log says what happened
                self.log("daemon.error", level="error", while_handling=kind, error=f"{type(exc).__name__}: {exc}",
                         where=_where(exc))

    def _shutdown(self, server: CommandServer, source_stop: threading.Event) -> None:
        self.log("daemon.stopping")
        self.systemd.notify("STOPPING=1", "STATUS=checkpointing scans")
        source_stop.set()
        server.close()
        with self.lock:
            workers = list(self.workers.values())
        interrupted = [sid for w in workers for sid in w.cancel_all("daemon stopping")]
        for w in workers:
            w.stop("daemon stopping")
        deadline = time.monotonic() + 60
        for w in workers:
            w.join(max(0.1, deadline - time.monotonic()))
        for sid in interrupted:
            self.log("scan.checkpointed", scan_id=sid, resume=f"gapscan scan --resume {sid}")
        if self.panel is not None:
            self.panel.show("GAPSCAN", "STOPPED")
            self.panel.set_leds(set())
            time.sleep(0.3)
            self.panel.close()
        for petter in (self.petter, self.systemd_petter):
            if petter is not None:
                petter.stop(magic=True)
        self.log("daemon.stopped")

    # -- parts ---------------------------------------------------------------------------------------
    def _start_panel(self) -> None:
        if self.panel_port in (None, "none", ""):
            self.log("panel.disabled")
            return
        from firmware.panel.host import PanelHost

        self.panel = PanelHost(self.panel_port, on_button=lambda name: self.events.put(("button", name))).start()

    def _start_watchdog(self) -> None:
        from firmware.watchdog import Petter, Watchdog

        if self.systemd.watchdog_interval is not None:  # systemd's WatchdogSec: same health gate as the device
            self.systemd_petter = Petter(self.systemd, self._healthy,
                                         min(self.watchdog_interval, self.systemd.watchdog_interval)).start()
        if self.watchdog_path in (None, "none", ""):
            self.log("watchdog.disabled")
            return
        dog = Watchdog(self.watchdog_path)
        if not dog.open():
            self.log("watchdog.unavailable", level="warning", message=dog.problem)
            return
        self.petter = Petter(dog, self._healthy, self.watchdog_interval).start()
        self.log("watchdog.armed", device=self.watchdog_path, interval=self.watchdog_interval,
                 hang_timeout=self.health.hang_timeout)

    def _healthy(self) -> tuple[bool, str]:
        ok, why = self.health.check()
        if not ok and "watchdog" not in self._warned:
            self._warned.add("watchdog")
            self.log("watchdog.withheld", level="error", message=f"not petting the watchdog: {why}")
        elif ok:
            self._warned.discard("watchdog")
        return ok, why

    def _start_media_source(self, stop: threading.Event) -> None:
        def sink(event: MediaEvent) -> None:
            self.events.put(("media", event))

        def problem(message: str) -> None:
            self.log("media.problem", level="warning", message=message)

        if self.media_events:
            target, args = recorded_events, (self.media_events, sink, problem, stop)
        else:
            target, args = udev_events, (sink, problem, stop)  # type: ignore[assignment]
        threading.Thread(target=target, args=args, name="media", daemon=True).start()

    # -- media and buttons -----------------------------------------------------------------------------
    def auto_scan(self) -> bool:
        if self.auto_scan_mode in ("on", "off"):
            return self.auto_scan_mode == "on"
        try:
            from appliance.settings import load_settings  # type: ignore[import-not-found]
        except ImportError:
            self._warn_once("settings", "settings module unavailable: auto-scan is off")
            return False
        try:
            return bool(load_settings(self.state_dir).auto_scan)
        except Exception as exc:
            self.log("settings.unreadable", level="warning", message=f"{exc}; auto-scan is off")
            return False

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.log("daemon.warning", level="warning", message=message)

    def on_media(self, event: MediaEvent) -> None:
        drive = event.drive
        if event.action == "add":
            readable = [v for v in drive.volumes if v.readable]
            with self.lock:
                self.drives[drive.key] = DriveState(drive)
            self.log("media.added", drive=drive.key, vendor=drive.vendor, model=drive.model, serial=drive.serial,
                     volumes=len(drive.volumes), readable=len(readable), at_boot=event.boot)
            for v in drive.volumes:
                if not v.readable:
                    self.log("media.volume_skipped", drive=drive.key, volume=v.spec, reason=v.why_not)
            if not event.boot and self.auto_scan():
                try:
                    self.queue_drive(drive.key, "auto")
                except GapscanError as exc:  # e.g. re-plugged while its previous scan is still stopping
                    self.log("scan.refused", level="warning", drive=drive.key, message=str(exc))
            else:
                self.log("media.announced", drive=drive.key, message="waiting for SCAN on the panel or the web UI")
                if self.panel is not None:
                    self.panel.beep(1, 80, 0)
        else:
            with self.lock:
                state = self.drives.pop(drive.key, None)
                worker = self.workers.get(drive.key)
            interrupted = worker.cancel_all("drive removed") if worker else []
            self.log("media.removed", drive=drive.key, known=state is not None, interrupted=interrupted)

    def queue_drive(self, key: str, origin: str) -> int:
        with self.lock:
            state = self.drives.get(key)
            if state is None:
                raise GapscanError(f"no drive {key!r} is attached")
            volumes = [v for v in state.drive.volumes if v.readable]
            if not volumes:
                state.state, state.reason = "error", "nothing readable"
                self.log("media.nothing_readable", drive=key)
                return 0
            worker = self._worker(key)
            if worker.busy():
                raise GapscanError(f"drive {key} is already being scanned")
            state.state, state.scans, state.files, state.hits, state.errors = "queued", [], 0, 0, 0
            state.percent, state.reason, state.complete, state.checked = None, None, True, True
        for v in volumes:
            worker.submit(Job(v.spec, origin, volume=v))
        self.log("scan.queued", drive=key, volumes=len(volumes), origin=origin)
        return len(volumes)

    def eject(self, key: str) -> list[str]:
        with self.lock:
            state = self.drives.get(key)
            worker = self.workers.get(key)
        if state is None:
            raise GapscanError(f"no drive {key!r} is attached")
        interrupted = worker.cancel_all("ejected") if worker else []
        with self.lock:
            if state.state in ("announced", "queued", "error") or (state.state == "scanning" and not interrupted):
                state.state, state.complete = "done", False
        self.log("media.ejected", drive=key, interrupted=interrupted)
        return interrupted

    def on_button(self, name: str) -> None:
        with self.lock:
            newest = max(self.drives.values(), key=lambda s: s.inserted_at, default=None)
        self.log("panel.button", button=name, drive=newest.drive.key if newest else None)
        if newest is None:
            return
        try:
            if name == "SCAN" and newest.state in ("announced", "done", "error"):
                self.queue_drive(newest.drive.key, "panel")
            elif name == "EJECT":
                self.eject(newest.drive.key)
        except GapscanError as exc:
            self.log("panel.button_refused", level="warning", button=name, message=str(exc))

    def _worker(self, key: str) -> DeviceWorker:
        with self.lock:
            worker = self.workers.get(key)
            if worker is None:
                worker = self.workers[key] = DeviceWorker(key, state_dir=self.state_dir, controller=self.controller,
                                                          health=self.health, observer=self,
                                                          scan_args=self.scan_args)
            return worker

    def key_for_source(self, source: str) -> str:
        """The device a manual scan occupies: the drive owning that volume, else ``device_key(source)``."""
        with self.lock:
            for key, state in self.drives.items():
                if source == key or any(v.spec == source for v in state.drive.volumes):
                    return key
        return device_key(source)

    # -- worker callbacks (Observer) -----------------------------------------------------------------
    def selftest_done(self, key: str, job: Job, report: SelfTestReport) -> None:
        self.last_selftest = report
        self.log("selftest.done", drive=key, passed=report.passed, backend=report.backend,
                 failed=[c.name for c in report.failures], seconds=round(report.seconds, 3))
        if not report.passed:
            from appliance.audit import AuditLog

            with AuditLog.in_state_dir(self.state_dir) as audit:
                audit.record("selftest", actor="gapscand", outcome="failed", failed=[c.name for c in report.failures])

    def scan_not_started(self, key: str, job: Job, reason: str, message: str) -> None:
        self.log("scan.not_started", level="error", drive=key, volume=job.spec, reason=reason, message=message)
        with self.lock:
            state = self.drives.get(key)
            if state is not None:
                state.state = "error"
                state.reason = "self-test failed" if reason == "selftest" else "scan failed"
        self._signal(key, "error")

    def scan_started(self, key: str, job: Job, scan_id: str) -> None:
        self.log("scan.started", drive=key, volume=job.spec, scan_id=scan_id, origin=job.origin)
        with self.lock:
            state = self.drives.get(key)
            if state is not None:
                state.state = "scanning"
                state.percent = 0 if job.volume and job.volume.used else None
                state.scans.append({"scan_id": scan_id, "volume": job.spec, "status": "running"})
                self._beeped.discard(key)

    def scan_progress(self, key: str, job: Job, status: ScanStatus) -> None:
        with self.lock:
            state = self.drives.get(key)
            if state is None:
                return
            done = sum(s.get("files", 0) for s in state.scans if s["scan_id"] != status.scan_id)
            state.files = done + status.files
            used = job.volume.used if job.volume else None
            state.percent = int(100 * status.bytes / used) if used else None

    def scan_ended(self, key: str, job: Job, status: ScanStatus | None, exit_code: int | None) -> None:
        st = status_json(status) or {}
        lists_used = self._lists_used(job.scan_id)
        self.log("scan.ended", drive=key, scan_id=job.scan_id, status=st.get("status"), files=st.get("files"),
                 hits=st.get("hits"), errors=st.get("errors"), exit_code=exit_code,
                 reason=job.cancel_reason, resume=(f"gapscan scan --resume {job.scan_id}"
                                                   if st.get("status") == "interrupted" else None))
        with self.lock:
            state = self.drives.get(key)
            worker = self.workers.get(key)
            if state is None:
                return
            for s in state.scans:
                if s["scan_id"] == job.scan_id:
                    s.update(status=st.get("status"), files=st.get("files", 0), hits=st.get("hits", 0),
                             errors=st.get("errors", 0), lists=lists_used)
            state.files = sum(s.get("files", 0) for s in state.scans)
            state.hits = sum(s.get("hits", 0) for s in state.scans)
            state.errors = sum(s.get("errors", 0) for s in state.scans)
            if worker is not None and worker.pending():
                return  # more volumes of this drive to go
            if state.state == "error":
                return
            state.percent = None
            state.complete = all(s.get("status") == "finished" for s in state.scans)
            state.checked = all(s.get("lists", 0) > 0 for s in state.scans)
            failed = any(s.get("status") == "failed" for s in state.scans)
            if failed and not state.hits:
                state.state, state.reason = "error", "scan failed"
                outcome = "error"
            else:
                state.state = "done"
                outcome = "hits" if state.hits else ("clean" if state.complete and state.checked else "stopped")
        self._signal(key, outcome)

    def _lists_used(self, scan_id: str | None) -> int:
        if scan_id is None:
            return 0
        from appliance.results.store import ResultStore

        with ResultStore.in_state_dir(self.state_dir) as store:
            scan = store.get_scan(scan_id)
        return len(scan.lists) if scan is not None else 0

    def _signal(self, key: str, outcome: str) -> None:
        """The end-of-scan sound: once per drive and outcome."""
        if self.panel is None or f"{key}:{outcome}" in self._beeped:
            return
        self._beeped.add(f"{key}:{outcome}")
        pattern = {"hits": (3, 400, 200), "error": (2, 100, 100), "clean": (1, 150, 0),
                   "stopped": (1, 80, 0)}[outcome]
        self.panel.beep(*pattern)

    # -- the panel -----------------------------------------------------------------------------------
    def _screen(self) -> tuple[list[display.Screen], display.Lights]:
        with self.lock:
            states = sorted(self.drives.values(), key=lambda s: s.inserted_at)
            scanning = [s for s in states if s.state == "scanning"]
            if scanning:
                s = scanning[0]
                return [display.scanning(s.percent, s.files)], display.lights_for("scanning")
            if any(s.state == "queued" for s in states):
                return [("SELF-TEST", "please wait")], display.lights_for("scanning")
            newest = states[-1] if states else None
        if newest is not None:
            if newest.state == "error":
                return [display.error(newest.reason or "see web UI")], display.lights_for("error")
            if newest.state == "done":
                lights = "hits" if newest.hits else ("clean" if newest.complete and newest.checked else "stopped")
                return (display.result(newest.hits, newest.files, newest.errors, complete=newest.complete,
                                       checked=newest.checked),
                        display.lights_for(lights))
            readable = sum(1 for v in newest.drive.volumes if v.readable)
            return [display.announced(readable)], display.lights_for("announced")
        lists, url, fingerprint = self._idle_facts()
        return display.idle_pages(lists, url, fingerprint), display.lights_for("idle")

    def _update_panel(self) -> None:
        if self.panel is None:
            return
        state = self.panel.state()
        seen = (state.connected, state.problem)
        if seen != self._panel_seen:  # the journal says when the panel comes and goes, and why
            self._panel_seen = seen
            if state.connected:
                self.log("panel.connected", device=state.device, firmware=state.firmware,
                         reconnects=state.reconnects)
            elif state.problem != "not started":
                self.log("panel.unavailable", level="warning", message=state.problem)
        pages, lights = self._screen()
        page = pages[int(time.monotonic() / self.page_seconds) % len(pages)] if len(pages) > 1 else pages[0]
        self.panel.show(*page)
        self.panel.set_leds(lights.on, lights.blink)

    def _idle_facts(self) -> tuple[list[tuple[str, int]], str | None, str | None]:
        now = time.monotonic()
        if self._idle_info is not None and now - self._idle_info[0] < 30:
            return self._idle_info[1], self._idle_info[2], self._idle_info[3]
        lists: list[tuple[str, int]] = []
        try:
            from appliance.hashlist.store import HashListStore  # type: ignore[import-not-found]

            lists = [(m.name, int(m.version)) for m in HashListStore(self.state_dir).metadata()]
        except ImportError:
            pass
        except Exception as exc:
            self._warn_once("lists", f"cannot read hash-list metadata: {exc}")
        fingerprint = None
        if (self.state_dir / "tls").is_dir():
            try:
                from appliance.tls import ensure_certificate  # type: ignore[import-not-found]

                fingerprint = ensure_certificate(self.state_dir)[2]
            except Exception as exc:
                self._warn_once("tls", f"cannot read the web UI certificate: {exc}")
        url = self.web_url or _guess_web_url()
        self._idle_info = (now, lists, url, fingerprint)
        return lists, url, fingerprint

    # -- command channel -----------------------------------------------------------------------------
    def handle_command(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        try:
            if op == "ping":
                return {"ok": True, "version": __version__, "pid": os.getpid(), "auto_scan": self.auto_scan(),
                        "panel": self.panel.state().__dict__ if self.panel else None,
                        "watchdog": bool(self.petter), "health": self.health.check()[1]}
            if op == "start":
                return {"ok": True, "scan_id": self._start(req)}
            if op == "enqueue":
                return {"ok": True, "ahead": self._enqueue(req)}
            if op == "cancel":
                return {"ok": True, "cancelled": self._cancel(str(req.get("scan_id")))}
            if op == "running":
                return {"ok": True, "scans": self.controller.running()}
            if op == "status":
                return {"ok": True, "status": status_json(self.controller.status(str(req.get("scan_id"))))}
            if op == "media":
                with self.lock:
                    return {"ok": True, "drives": [s.to_json() for s in self.drives.values()]}
            if op == "scan_drive":
                return {"ok": True, "queued": self.queue_drive(str(req.get("drive")), "ui")}
            if op == "eject":
                return {"ok": True, "interrupted": self.eject(str(req.get("drive")))}
        except GapscanError as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": False, "error": f"unknown op {op!r} (ping, start, enqueue, cancel, running, status, "
                                      "media, scan_drive, eject)"}

    def _job_from(self, req: dict[str, Any]) -> Job:
        source = req.get("source")
        if not isinstance(source, str) or not source:
            raise GapscanError("start needs a source")
        extra = req.get("extra_args") or []
        env = req.get("env") or {}
        if not isinstance(extra, list) or not all(isinstance(a, str) for a in extra):
            raise GapscanError("extra_args must be a list of strings")
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise GapscanError("env must map names to strings")
        refused = sorted(k for k in env if k not in SCAN_ENV_ALLOWED)
        if refused:  # e.g. LD_PRELOAD: the channel must not become a way to run code as the service user
            raise GapscanError(f"env {refused[0]!r} may not be passed to a scan (allowed: "
                               f"{', '.join(sorted(SCAN_ENV_ALLOWED))})")
        return Job(source, "ui", extra_args=extra, env=env)

    def _start(self, req: dict[str, Any]) -> str:
        """Start now and return the scan id; refused while the device is busy (use ``enqueue`` to wait)."""
        job = self._job_from(req)
        key = self.key_for_source(job.spec)
        with self.lock:
            worker = self._worker(key)
            if worker.busy():
                current = worker.current.scan_id if worker.current else None
                raise GapscanError(f"device {key} is busy" + (f" with scan {current}" if current else "")
                                   + ": one scan per device at a time; cancel it, wait, or queue the scan")
            self._mark_queued(key)
            worker.submit(job)
        return job.future.result(timeout=START_WAIT)

    def _enqueue(self, req: dict[str, Any]) -> int:
        """Queue behind the device's current scan. Returns how many scans are ahead of it."""
        job = self._job_from(req)
        key = self.key_for_source(job.spec)
        with self.lock:
            worker = self._worker(key)
            ahead = worker.pending() + (1 if worker.current is not None else 0)
            if not ahead:
                self._mark_queued(key)
            worker.submit(job)
        self.log("scan.queued", drive=key, volumes=1, origin="ui", ahead=ahead)
        return ahead

    def _mark_queued(self, key: str) -> None:
        state = self.drives.get(key)
        if state is not None:
            state.state, state.reason = "queued", None

    def _cancel(self, scan_id: str) -> bool:
        with self.lock:
            workers = list(self.workers.values())
        return any(w.cancel_scan(scan_id) for w in workers) or self.controller.cancel(scan_id)


def _where(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    return f"{Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else "?"


def device_key(source: str) -> str:
    """What one physical device a source lives on: /dev/sdb1 -> /dev/sdb, nvme0n1p2 -> nvme0n1,
    smb://user@host:445/share/sub -> smb://host/share; anything else (a directory, an image) is its own."""
    if source.startswith("smb://"):
        rest = source[len("smb://"):]
        host, _, path = rest.partition("/")
        host = host.rpartition("@")[2].split(":")[0].lower()
        share = path.split("/")[0].lower()
        return f"smb://{host}/{share}"
    m = re.fullmatch(r"(/dev/(?:nvme\d+n\d+|mmcblk\d+|loop\d+))p\d+", source)
    if m:
        return m.group(1)
    m = re.fullmatch(r"(/dev/[sh]d[a-z]+)\d+", source)
    if m:
        return m.group(1)
    return source


def _guess_web_url() -> str | None:
    """The appliance's first global IPv4 address, as the web UI's URL (None when there is no network)."""
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True,
                             timeout=2, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            return "https://" + parts[parts.index("inet") + 1].split("/")[0]
    return None


# -- command line ------------------------------------------------------------------------------------
def run_from_args(args: argparse.Namespace) -> int:
    from firmware.panel.host import DEFAULT_PORT
    from firmware.watchdog import DEFAULT_DEVICE

    state_dir = resolve_state_dir(getattr(args, "state_dir", None))
    watchdog = args.watchdog if args.watchdog is not None else (DEFAULT_DEVICE if os.path.exists(DEFAULT_DEVICE)
                                                                 else None)
    scan_args = [a for path in args.hashlist for a in ("--hashlist", str(Path(path).resolve()))]
    daemon = Daemon(state_dir, media_events=args.media_events, panel_port=args.panel or DEFAULT_PORT,
                    watchdog_path=watchdog, auto_scan=args.auto_scan, scan_args=scan_args, web_url=args.web_url,
                    hang_timeout=args.hang_timeout, watchdog_interval=args.watchdog_interval,
                    page_seconds=args.page_seconds)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: daemon.request_stop(signum))
    return daemon.run()


def main(argv: Sequence[str] | None = None) -> int:
    """The ``gapscand`` console script (systemd runs it)."""
    p = argparse.ArgumentParser(prog="gapscand", description="The gapscan appliance service.")
    p.add_argument("--state-dir", metavar="DIR", help="default: $GAPSCAN_STATE_DIR or /var/lib/gapscan")
    add_arguments(p)
    try:
        return run_from_args(p.parse_args(argv))
    except GapscanError as exc:
        print(f"gapscand: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
