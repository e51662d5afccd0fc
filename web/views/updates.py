"""Updates (admin): signed bundles from attached USB drives or uploads are verified, shown, then applied
after an explicit confirmation. Verification and installation are the update engine's (appliance.update)."""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from flask import Blueprint, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from appliance.media import attached_media, copy_from_media, find_bundles
from appliance.update import BundleRefused, apply_bundle, verify_bundle
from web.common import audit, notice, state_dir
from web.security import requires
from web.services import Unavailable

bp = Blueprint("updates", __name__)
MAX_BUNDLE = 2 * 2**30

_pending: dict[str, tuple[Path, Any]] = {}  # token -> (local copy, VerifiedBundle)
_lock = threading.Lock()


def _bundles_on_media() -> list[tuple[str, Any]] | Unavailable:
    out = []
    try:
        for drive in attached_media():
            for bundle in find_bundles(drive):
                volume = bundle.volume if isinstance(bundle.volume, str) else getattr(bundle.volume, "devnode", "?")
                out.append((f"{volume}:{bundle.path_in_volume}", bundle))
    except Exception as exc:
        return Unavailable("media layer", f"{type(exc).__name__}: {exc}")
    return out


@bp.route("/updates")
@requires("admin")
def index() -> str:
    with _lock:
        pending = [(token, verified) for token, (_, verified) in _pending.items()]
    return render_template("updates.html", on_media=_bundles_on_media(), pending=pending)


def _verify(path: Path, origin: str) -> None:
    try:
        verified = verify_bundle(path, state_dir=state_dir())
    except Exception as exc:
        reason = getattr(exc, "reason", type(exc).__name__)
        audit("update.verify", outcome="refused", origin=origin, reason=reason, message=str(exc))
        notice(f"Bundle refused ({reason}): {exc}", "error")
        shutil.rmtree(path.parent, ignore_errors=True)
        return
    token = secrets.token_urlsafe(16)
    with _lock:
        _pending[token] = (path, verified)
    audit("update.verify", origin=origin, **_describe(verified))
    notice("Bundle verified. Check signer, kind and version below, then apply.")


def _describe(verified: Any) -> dict[str, Any]:
    return {k: getattr(verified, k, None) for k in ("id", "kind", "product", "version", "base", "signers")}


@bp.route("/updates/upload", methods=["POST"])
@requires("admin")
def upload() -> Response:
    file = request.files.get("bundle")
    if file is None or not file.filename:
        notice("Choose a bundle file to upload.", "error")
        return redirect(url_for("updates.index"), 303)
    tmp = Path(tempfile.mkdtemp(prefix="gapscan-bundle-"))
    path = tmp / "bundle"
    file.save(path)
    _verify(path, "upload")
    return redirect(url_for("updates.index"), 303)


@bp.route("/updates/from-media", methods=["POST"])
@requires("admin")
def from_media() -> Response:
    key = request.form.get("bundle", "")
    found = _bundles_on_media()
    if isinstance(found, Unavailable):
        notice("Bundles on USB cannot be read: media layer not available.", "error")
        return redirect(url_for("updates.index"), 303)
    match = next((b for k, b in found if k == key), None)
    if match is None:
        notice("That bundle is no longer on an attached drive.", "error")
        return redirect(url_for("updates.index"), 303)
    tmp = Path(tempfile.mkdtemp(prefix="gapscan-bundle-"))
    try:
        path = copy_from_media(match, tmp / "bundle", MAX_BUNDLE)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        notice(f"Could not copy the bundle from USB: {exc}", "error")
        return redirect(url_for("updates.index"), 303)
    _verify(path, f"usb:{key}")
    return redirect(url_for("updates.index"), 303)


@bp.route("/updates/apply", methods=["POST"])
@requires("admin")
def apply() -> Response:
    token = request.form.get("token", "")
    if request.form.get("confirm") != "yes":
        notice("Tick the confirmation box to apply the bundle.", "error")
        return redirect(url_for("updates.index"), 303)
    with _lock:
        item = _pending.pop(token, None)
    if item is None:
        notice("Nothing to apply: verify the bundle again.", "error")
        return redirect(url_for("updates.index"), 303)
    path, verified = item
    try:  # apply_bundle writes the audit record of every install and refusal itself
        result = apply_bundle(path, state_dir=state_dir(), actor=g.user.username)
    except BundleRefused as exc:
        notice(f"Update refused ({exc.reason}): {exc}", "error")
    except Exception as exc:  # not a refusal the engine recorded (e.g. the store locked before install)
        audit("update.apply", outcome="failed", error=type(exc).__name__, message=str(exc), **_describe(verified))
        notice(f"Update failed: {exc}", "error")
    else:
        notice(f"Update {result.action}: {result.detail}")
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
    return redirect(url_for("updates.index"), 303)
