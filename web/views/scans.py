"""Scan page: choose a source, start, watch live progress (server-sent events), cancel.

Scans run in ``gapscan scan`` subprocesses (or in the daemon); this process only starts and watches them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request, stream_with_context
from flask import url_for as url
from werkzeug.wrappers import Response as BaseResponse

from appliance.errors import GapscanError
from appliance.settings import load_settings, smb_password
from web.common import audit, notice, services, state_dir, users
from web.progress import census, progress_of, remember_total
from web.services import Unavailable

bp = Blueprint("scans", __name__)

SSE_MAX_SECONDS = 600  # then the browser's EventSource reconnects by itself


def demo_media() -> Path | None:
    media = state_dir() / "demo" / "media"
    return media if media.is_dir() else None


def list_args() -> tuple[list[str], str | None]:
    """Which lists the scan uses: the store's active lists when the store can be unlocked, else the demo list
    file (demo mode), else the store anyway (the scan then says the store is locked). And a warning, if any."""
    svc = services()
    lists = svc.list_metadata()
    installed = not isinstance(lists, Unavailable) and bool(lists)
    settings = load_settings(state_dir())
    usable = svc.store_lock_state() == "unlocked for this boot" or settings.key_protection == "tpm"
    if installed and usable:
        return [], None
    demo = settings.demo_hashlist
    if demo and Path(demo).is_file():
        return ["--hashlist", demo], None
    if installed:
        return [], "The hash-list store is locked: unlock it on the Hash lists page (admin) before scanning."
    return [], "No hash list is installed: this scan only computes digests and cannot report hits."


def usb_volumes() -> list[tuple[str, str]] | Unavailable:
    """(devnode, label) of every mass-storage volume the media layer reports."""
    media = services().attached_media()
    if isinstance(media, Unavailable):
        return media
    out = []
    for drive in media:
        for vol in getattr(drive, "volumes", []) or []:
            node = getattr(vol, "devnode", None)
            if node:
                label = " ".join(str(x) for x in (getattr(drive, "vendor", ""), getattr(drive, "model", ""),
                                                  getattr(vol, "label", "") or "", getattr(vol, "fstype", "") or "")
                                 if x)
                out.append((node, f"{node} {label}".strip()))
    return out


@bp.route("/scan", methods=["GET"])
def new() -> str:
    svc = services()
    running = []
    for scan_id in svc.scans.running():
        status = svc.scans.status(scan_id)
        if status:
            running.append(progress_of(status))
    _, warning = list_args()
    return render_template("scan.html", demo=demo_media(), volumes=usb_volumes(),
                           shares=load_settings(state_dir()).smb_shares, running=running, warning=warning)


def _resolve_source(form: Any) -> tuple[str, dict[str, str], str | None]:
    """(source spec, environment for the scan subprocess, directory to take a census of)."""
    kind = form.get("kind", "")
    if kind == "demo":
        media = demo_media()
        if media is None:
            raise GapscanError("no demo media on this appliance (start the UI with gapscan serve --demo)")
        return str(media), {}, str(media)
    if kind == "directory":
        path = form.get("directory", "").strip()
        if not path.startswith("/"):
            raise GapscanError("enter an absolute directory path, e.g. /media/usb")
        if not Path(path).is_dir():
            raise GapscanError(f"{path} is not a directory on this appliance")
        return path, {}, path
    if kind == "usb":
        node = form.get("volume", "")
        volumes = usb_volumes()
        if isinstance(volumes, Unavailable) or node not in {n for n, _ in volumes}:
            raise GapscanError("that USB volume is not attached (any more)")
        return node, {}, None
    if kind == "share":
        name = form.get("share", "")
        share = next((s for s in load_settings(state_dir()).smb_shares if s.name == name), None)
        if share is None:
            raise GapscanError(f"no saved share named {name!r}")
        spec = share.url.replace("smb://", f"smb://{share.username}@", 1) if share.username else share.url
        env = {"GAPSCAN_SMB_PASSWORD": smb_password(state_dir(), name)}
        if share.domain:
            env["GAPSCAN_SMB_DOMAIN"] = share.domain
        return spec, env, None
    if kind == "adhoc":
        url_ = form.get("url", "").strip()
        user = form.get("username", "").strip()
        if not url_.startswith("smb://") or "@" in url_ or any(c in user for c in "@/\r\n\x00"):
            raise GapscanError("enter the share as smb://host/share and the user name in its own field")
        spec = url_.replace("smb://", f"smb://{user}@", 1) if user else url_
        env = {"GAPSCAN_SMB_PASSWORD": form.get("password", "")}
        if form.get("domain", "").strip():
            env["GAPSCAN_SMB_DOMAIN"] = form.get("domain", "").strip()
        return spec, env, None
    raise GapscanError("choose a source to scan")


@bp.route("/scan", methods=["POST"])
def start() -> BaseResponse | tuple[str, int]:
    try:
        spec, env, census_root = _resolve_source(request.form)
        extra, _ = list_args()
        scan_id = services().scans.start(spec, extra_args=extra, env=env)
    except GapscanError as exc:
        audit("scan.start", outcome="refused", source=request.form.get("kind", ""), reason=str(exc))
        notice(f"Scan not started: {exc}", "error")
        return redirect(url("scans.new"), 303)
    if census_root:
        remember_total(scan_id, census(census_root))
    audit("scan.start", scan_id=scan_id, source=spec)
    return redirect(url("scans.watch", scan_id=scan_id), 303)


def _status_or_404(scan_id: str) -> Any:
    status = services().scans.status(scan_id)
    if status is None:
        abort(404, description=f"no scan with id {scan_id}")
    return status


@bp.route("/scans/<scan_id>")
def watch(scan_id: str) -> str:
    status = _status_or_404(scan_id)
    return render_template("progress.html", p=progress_of(status), source=status.source)


@bp.route("/scans/<scan_id>/progress.json")
def progress_json(scan_id: str) -> Response:
    return current_app.response_class(json.dumps(progress_of(_status_or_404(scan_id)).to_json()),
                                      mimetype="application/json")


@bp.route("/scans/<scan_id>/events")
def events(scan_id: str) -> Response:
    """Server-sent events: a ``progress`` event every interval, ``end`` when the scan stops."""
    _status_or_404(scan_id)
    token = g.session_token
    controller = services().scans
    user_store = users()
    interval = current_app.config["SSE_INTERVAL"]
    idle = current_app.config["IDLE_TIMEOUT"]

    def stream() -> Iterator[str]:
        started = time.monotonic()
        yield "retry: 2000\n\n"
        while time.monotonic() - started < SSE_MAX_SECONDS:
            if user_store.session_user(token, idle_timeout=idle, touch=False) is None:
                yield "event: expired\ndata: {}\n\n"
                return
            status = controller.status(scan_id)
            if status is None:
                return
            p = progress_of(status)
            yield f"event: progress\ndata: {json.dumps(p.to_json())}\n\n"
            if p.done:
                yield f"event: end\ndata: {json.dumps(p.to_json())}\n\n"
                return
            time.sleep(interval)

    response = Response(stream_with_context(stream()), mimetype="text/event-stream")
    response.headers["X-Accel-Buffering"] = "no"
    return response


@bp.route("/scans/<scan_id>/cancel", methods=["POST"])
def cancel(scan_id: str) -> BaseResponse:
    _status_or_404(scan_id)
    ok = services().scans.cancel(scan_id)
    audit("scan.cancel", outcome="ok" if ok else "refused", scan_id=scan_id)
    notice("Scan is stopping; what was hashed is kept." if ok else "That scan is not running (or was started "
           "by another process).", "ok" if ok else "error")
    return redirect(url("scans.watch", scan_id=scan_id), 303)
