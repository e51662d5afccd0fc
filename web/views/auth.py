"""First boot, login and logout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from appliance.errors import GapscanError
from appliance.hashlist.store import HashListStore
from appliance.settings import load_settings, update_settings
from appliance.users import LoginThrottled, PasswordPolicyError, check_password_policy
from web.common import audit, services, state_dir, users
from web.security import end_session, public, start_session

bp = Blueprint("auth", __name__)


def tpm_present() -> bool:
    return Path("/dev/tpmrm0").exists() or Path("/dev/tpm0").exists()


@bp.route("/setup", methods=["GET", "POST"])
@public
def setup() -> str | Response:
    """First boot: create the admin account and choose how the hash-list key is protected."""
    errors: list[str] = []
    form = request.form
    if request.method == "POST":
        username = form.get("username", "").strip()
        password = form.get("password", "")
        protection = form.get("key_protection", "passphrase")
        if password != form.get("password2", ""):
            errors.append("The two passwords differ.")
        if protection == "tpm" and not tpm_present():
            errors.append("No TPM is present on this appliance; choose a passphrase.")
        passphrase = form.get("passphrase", "")
        if passphrase != form.get("passphrase2", ""):
            errors.append("The two hash-list passphrases differ.")
        try:
            check_password_policy(passphrase, "")
        except PasswordPolicyError as exc:
            errors.append(f"Hash-list passphrase: {exc}.")
        if not errors:
            try:
                user = users().create_first_admin(username, password)
            except GapscanError as exc:
                errors.append(f"{exc}.")
            else:
                update_settings(state_dir(), key_protection=protection)
                _init_store_key(passphrase, tpm=protection == "tpm")
                audit("setup.admin_created", actor=user.username, key_protection=protection)
                response = redirect(url_for("dashboard.index"), 303)
                start_session(response, users().new_session(user.username))
                return response
    return render_template("setup.html", errors=errors, tpm=tpm_present(), form=form)


def _init_store_key(passphrase: str, *, tpm: bool) -> None:
    """Create the hash-list key under the passphrase (the recovery passphrase when sealed to the TPM), seal it
    to the TPM if chosen, and unlock the store for this boot so scans can use it."""
    errors = []
    try:
        store = HashListStore.open(state_dir(), passphrase=passphrase)
    except Exception as exc:  # shown on the hash-list page; setup itself succeeded
        services().key_setup_error = str(exc)
        return
    steps: list[tuple[str, Callable[[], object]]] = []
    if tpm:
        steps.append(("sealing the key to the TPM", store.seal_to_tpm))
    steps.append(("unlocking for this boot", store.remember_for_boot))
    demo = load_settings(state_dir()).demo_hashlist
    if current_app.config.get("DEMO") and demo:
        steps.append(("importing the demo list", lambda: store.installed_version("demo") is None
                      and store.import_file(Path(demo), name="demo", kind="alert")))
    for what, step in steps:
        try:
            step()
        except Exception as exc:
            errors.append(f"{what}: {exc}")
    services().key_setup_error = "; ".join(errors) or None


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths; anything else goes to the dashboard."""
    if not target:
        return url_for("dashboard.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("dashboard.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> str | Response | tuple[str, int]:
    error = None
    status = 200
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        try:
            user = users().authenticate(username, password, request.remote_addr or "unknown")
        except LoginThrottled as exc:
            audit("login", outcome="throttled", actor=username[:64] or "anonymous")
            error = f"Too many failed logins for this account or address. Try again in {int(exc.retry_after) + 1} s."
            status = 429
        else:
            if user is None:
                audit("login", outcome="refused", actor=username[:64] or "anonymous")
                error = "Wrong user name or password."
                status = 401
            else:
                old = g.get("session_token")
                if old:
                    users().end_session(old)
                g.user = user
                audit("login", actor=user.username)
                response = redirect(_safe_next(request.args.get("next")), 303)
                start_session(response, users().new_session(user.username))
                return response
    ended = request.args.get("ended") == "1" and not error
    return render_template("login.html", error=error, ended=ended), status


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    audit("logout")
    users().end_session(g.session_token)
    response = redirect(url_for("auth.login"), 303)
    end_session(response)
    return response
