"""Audit log (admin): every login, failed login, scan, import, update and setting change."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from appliance.audit import AuditLog
from web.common import state_dir
from web.security import requires

bp = Blueprint("audit", __name__)


@bp.route("/audit")
@requires("admin")
def index() -> str:
    action = request.args.get("action", "").strip()
    with AuditLog.in_state_dir(state_dir()) as log:
        records = [r for r in log.records(limit=2000) if not action or r.action.startswith(action)][:500]
        broken = log.verify()
    rows = [(r, None) for r in records]
    return render_template("audit.html", rows=rows, action=action, broken=broken)
