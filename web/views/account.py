"""A user's own account: change password."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from appliance.errors import GapscanError
from web.common import audit, notice, users
from web.security import start_session

bp = Blueprint("account", __name__)


@bp.route("/account", methods=["GET", "POST"])
def password() -> str | Response:
    error = None
    if request.method == "POST":
        current = request.form.get("current", "")
        new = request.form.get("password", "")
        try:
            if users().authenticate(g.user.username, current, request.remote_addr or "unknown") is None:
                raise GapscanError("the current password is wrong")
            if new != request.form.get("password2", ""):
                raise GapscanError("the two new passwords differ")
            users().set_password(g.user.username, new)  # ends every session of this user
        except GapscanError as exc:
            error = str(exc)
            audit("account.password", outcome="refused")
        else:
            audit("account.password")
            notice("Password changed. Other sessions of this account were signed out.")
            response = redirect(url_for("dashboard.index"), 303)
            start_session(response, users().new_session(g.user.username))
            return response
    return render_template("account.html", error=error)
