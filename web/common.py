"""Small helpers shared by the views: state dir, services, users, audit records, flash-style notices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app, flash, g, request

from appliance.audit import AuditLog
from appliance.users import UserStore
from web.services import Services


def state_dir() -> Path:
    return current_app.config["GAPSCAN_STATE_DIR"]


def services() -> Services:
    return current_app.extensions["gapscan.services"]


def users() -> UserStore:
    return current_app.extensions["gapscan.users"]


def client_address() -> str:
    return request.remote_addr or "unknown"


def audit(action: str, *, outcome: str = "ok", actor: str | None = None, **details: Any) -> None:
    """Record who did what from where. Details are metadata only (never hash-list values or file content)."""
    user = g.get("user")
    who = actor or (user.username if user else "anonymous")
    with AuditLog.in_state_dir(state_dir()) as log:
        log.record(action, actor=who, outcome=outcome, address=client_address(), **details)


def notice(message: str, kind: str = "ok") -> None:
    flash(message, kind)
