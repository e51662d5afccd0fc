"""Authentication, roles, CSRF and security headers, applied to every request in one place.

Every endpoint requires a logged-in user unless it is marked :func:`public`; an endpoint marked
:func:`requires` ``("admin")`` also requires that role. Every state-changing request (POST and friends)
carries a CSRF token: an HMAC of the session cookie (or, before login, of a pre-session cookie) under a key
derived from the device secret, so there is nothing to store and nothing to guess.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, abort, current_app, g, redirect, request, url_for

from appliance.users import User

SESSION_COOKIE = "__Host-gapscan-session"
PRE_COOKIE = "__Host-gapscan-pre"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ROLE_RANK = {"operator": 1, "admin": 2}

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")

F = TypeVar("F", bound=Callable[..., Any])


def public(view: F) -> F:
    """Reachable without logging in (login, first boot)."""
    view.gapscan_public = True  # type: ignore[attr-defined]
    return view


def requires(role: str) -> Callable[[F], F]:
    def mark(view: F) -> F:
        view.gapscan_role = role  # type: ignore[attr-defined]
        return view

    return mark


def current_user() -> User | None:
    return g.get("user")


def csrf_token() -> str:
    """The token forms and fetches must send back (``csrf_token`` field or ``X-CSRF-Token`` header)."""
    basis = g.get("session_token") or g.get("pre_token") or ""
    key = current_app.config["GAPSCAN_CSRF_KEY"]
    return hmac.new(key, b"csrf:" + basis.encode(), hashlib.sha256).hexdigest()


def _view_attr(name: str) -> Any:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, name, None)


def _cookie_flags() -> dict[str, Any]:
    return {"secure": True, "httponly": True, "samesite": "Strict", "path": "/"}


def install(app: Flask) -> None:
    @app.before_request
    def authenticate() -> Response | None:
        if request.endpoint == "static":
            return None
        users = app.extensions["gapscan.users"]
        g.user = None
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            touch = not request.path.endswith("/events")  # watching progress does not keep a session alive
            g.user = users.session_user(token, idle_timeout=app.config["IDLE_TIMEOUT"], touch=touch)
            if g.user is not None:
                g.session_token = token
            else:
                g.session_ended = True
        g.pre_token = request.cookies.get(PRE_COOKIE) or ""
        if not g.pre_token:
            g.pre_token = secrets.token_urlsafe(24)
            g.set_pre_cookie = True
        if not users.has_users():
            if request.endpoint != "auth.setup":
                return redirect(url_for("auth.setup"), 303)
        elif request.endpoint == "auth.setup":
            return redirect(url_for("auth.login"), 303)
        if request.endpoint is None:
            return None  # 404/405 follow
        if not _view_attr("gapscan_public"):
            if g.user is None:
                if request.path.endswith("/events") or request.accept_mimetypes.best == "application/json":
                    abort(401)
                target = url_for("auth.login", next=request.full_path if request.method == "GET" else None,
                                 ended=1 if g.get("session_ended") else None)
                response = redirect(target, 303)
                if g.get("session_ended"):
                    end_session(response)
                return response
            needed = _view_attr("gapscan_role") or "operator"
            if ROLE_RANK.get(g.user.role, 0) < ROLE_RANK[needed]:
                abort(403, description=f"this page needs the {needed} role")
        if request.method not in SAFE_METHODS:
            sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
            if not hmac.compare_digest(sent, csrf_token()):
                abort(400, description="the form's security token is missing or out of date; reload the page "
                                       "and try again")
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), usb=()"
        if request.endpoint != "static":
            response.headers["Cache-Control"] = "no-store"
        if g.get("set_pre_cookie"):
            response.set_cookie(PRE_COOKIE, g.pre_token, **_cookie_flags())
        return response

    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["current_user"] = current_user


def start_session(response: Response, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, **_cookie_flags())


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="Strict")
