"""Settings (admin): auto-scan on insert, saved SMB shares (passwords encrypted), user accounts."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from appliance.errors import GapscanError
from appliance.settings import SmbShare, load_settings, remove_share, save_share, update_settings
from web.common import audit, notice, state_dir, users
from web.security import requires

bp = Blueprint("settings", __name__)


def _back() -> Response:
    return redirect(url_for("settings.index"), 303)


@bp.route("/settings")
@requires("admin")
def index() -> str:
    return render_template("settings.html", settings=load_settings(state_dir()), users=users().users())


@bp.route("/settings/auto-scan", methods=["POST"])
@requires("admin")
def auto_scan() -> Response:
    on = request.form.get("auto_scan") == "on"
    update_settings(state_dir(), auto_scan=on)
    audit("settings.auto_scan", value=on)
    notice(f"Auto-scan on insert is now {'on' if on else 'off'}.")
    return _back()


@bp.route("/settings/shares", methods=["POST"])
@requires("admin")
def add_share() -> Response:
    f = request.form
    share = SmbShare(f.get("name", "").strip(), f.get("url", "").strip(), f.get("username", "").strip(),
                     f.get("domain", "").strip())
    password = f.get("password") or None
    try:
        save_share(state_dir(), share, password)
    except GapscanError as exc:
        audit("settings.share", outcome="refused", name=share.name, reason=str(exc))
        notice(f"Share not saved: {exc}", "error")
    else:
        audit("settings.share", name=share.name, url=share.url, username=share.username,
              password_changed=password is not None)
        notice(f"Saved share {share.name}.")
    return _back()


@bp.route("/settings/shares/<name>/remove", methods=["POST"])
@requires("admin")
def delete_share(name: str) -> Response:
    removed = remove_share(state_dir(), name)
    audit("settings.share_remove", outcome="ok" if removed else "refused", name=name)
    notice(f"Removed share {name}." if removed else f"No share named {name}.", "ok" if removed else "error")
    return _back()


@bp.route("/settings/users", methods=["POST"])
@requires("admin")
def add_user() -> Response:
    f = request.form
    username, role = f.get("username", "").strip(), f.get("role", "operator")
    try:
        if f.get("password", "") != f.get("password2", ""):
            raise GapscanError("the two passwords differ")
        users().create(username, f.get("password", ""), role)
    except GapscanError as exc:
        audit("settings.user_add", outcome="refused", username=username[:64], reason=str(exc))
        notice(f"User not created: {exc}", "error")
    else:
        audit("settings.user_add", username=username, role=role)
        notice(f"Created {role} {username}.")
    return _back()


@bp.route("/settings/users/<username>/remove", methods=["POST"])
@requires("admin")
def delete_user(username: str) -> Response:
    try:
        users().delete(username)
    except GapscanError as exc:
        audit("settings.user_remove", outcome="refused", username=username, reason=str(exc))
        notice(f"Not removed: {exc}", "error")
    else:
        audit("settings.user_remove", username=username)
        notice(f"Removed user {username}.")
    return _back()


@bp.route("/settings/users/<username>/password", methods=["POST"])
@requires("admin")
def reset_password(username: str) -> Response:
    """An admin sets a new password for another account (which ends that account's sessions)."""
    f = request.form
    try:
        if users().get(username) is None:
            raise GapscanError(f"no user named {username!r}")
        if f.get("password", "") != f.get("password2", ""):
            raise GapscanError("the two passwords differ")
        users().set_password(username, f.get("password", ""))
    except GapscanError as exc:
        audit("settings.user_password", outcome="refused", username=username[:64], reason=str(exc))
        notice(f"Password not changed: {exc}", "error")
    else:
        audit("settings.user_password", username=username)
        notice(f"New password set for {username}; their sessions were ended.")
    return _back()
