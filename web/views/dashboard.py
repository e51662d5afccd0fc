"""Dashboard: appliance health, hash lists, attached media, running and recent scans."""

from __future__ import annotations

import time

from flask import Blueprint, render_template

from appliance.health import health
from appliance.results.store import ResultStore
from appliance.settings import load_settings
from web.common import services, state_dir

bp = Blueprint("dashboard", __name__)


def recent_scans(limit: int = 10) -> list[tuple[object, dict[str, int]]]:
    with ResultStore.in_state_dir(state_dir()) as store:
        return [(scan, store.counts(scan.id)) for scan in store.list_scans(limit)]


@bp.route("/")
def index() -> str:
    svc = services()
    return render_template("dashboard.html", health=health(state_dir()), lists=svc.list_metadata(),
                           media=svc.attached_media(), scans=recent_scans(), running=set(svc.scans.running()),
                           settings=load_settings(state_dir()), now=time.time())
