"""The local web UI. ``create_app(state_dir)`` builds it; ``gapscan serve`` runs it under cheroot with TLS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, Request, render_template

from appliance.settings import device_key
from appliance.users import IDLE_TIMEOUT, UserStore

#: Form posts whose uploaded file is hash-list plaintext: spooled to RAM, never to a temp file on disk.
PLAINTEXT_UPLOADS = frozenset({"/hashlists/import"})


class GapscanRequest(Request):
    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> Any:
        # werkzeug spools uploads over 500 kB to a temp file on disk; a hash list must never reach a filesystem
        if self.path in PLAINTEXT_UPLOADS:
            from appliance.hashlist.staging import open_memfd

            return open_memfd("gapscan-upload")
        return super()._get_file_stream(total_content_length, content_type, filename, content_length)


def create_app(state_dir: Path, *, config: dict[str, Any] | None = None) -> Flask:
    from web import filters, security
    from web.services import Services
    from web.views import account, audit, auth, dashboard, hashlists, reports, results, scans, settings, updates

    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.request_class = GapscanRequest
    app.config.update(
        GAPSCAN_STATE_DIR=state_dir,
        GAPSCAN_CSRF_KEY=device_key(state_dir, b"web-csrf"),
        SECRET_KEY=device_key(state_dir, b"web-flask").hex(),  # Flask's own session carries notices only
        SESSION_COOKIE_NAME="__Host-gapscan-notices",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        IDLE_TIMEOUT=IDLE_TIMEOUT,
        MAX_CONTENT_LENGTH=2 * 2**30,  # uploads: bundles spooled to a temp file, hash lists to RAM
        SEND_FILE_MAX_AGE_DEFAULT=3600,
        SSE_INTERVAL=0.5,
        DEMO=False,
    )
    app.config.update(config or {})
    app.extensions["gapscan.users"] = UserStore(state_dir, argon2=app.config.get("ARGON2"))
    app.extensions["gapscan.services"] = Services(state_dir)
    security.install(app)
    filters.install(app)
    for module in (auth, account, dashboard, scans, results, reports, hashlists, updates, audit, settings):
        app.register_blueprint(module.bp)

    @app.errorhandler(400)
    @app.errorhandler(401)
    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(405)
    @app.errorhandler(413)
    def error_page(exc: Any) -> tuple[str, int]:
        return render_template("error.html", code=exc.code, name=exc.name, description=exc.description), exc.code

    return app
