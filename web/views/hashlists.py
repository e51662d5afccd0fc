"""Hash lists (admin): metadata only — names, versions, counts, categories. Entries are never listed."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from appliance.hashlist.store import HashListStore
from appliance.settings import load_settings
from web.common import audit, notice, services, state_dir
from web.security import requires

bp = Blueprint("hashlists", __name__)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@bp.route("/hashlists")
@requires("admin")
def index() -> str:
    svc = services()
    settings = load_settings(state_dir())
    return render_template("hashlists.html", lists=svc.list_metadata(), demo_list=settings.demo_hashlist,
                           key_error=svc.key_setup_error, key_protection=settings.key_protection,
                           lock_state=svc.store_lock_state())


def _open_store(passphrase: str | None) -> HashListStore:
    """The store unlocked with ``passphrase`` or, when empty, by this boot's token or the TPM."""
    return HashListStore.open(state_dir(), passphrase=passphrase or None)


@bp.route("/hashlists/unlock", methods=["POST"])
@requires("admin")
def unlock() -> Response:
    try:
        store = _open_store(request.form.get("passphrase", ""))
        store.remember_for_boot()
    except Exception as exc:
        audit("hashlist.unlock", outcome="refused", reason=str(exc))
        notice(f"Not unlocked: {exc}", "error")
    else:
        audit("hashlist.unlock")
        notice("Hash lists unlocked until the next reboot.")
    return redirect(url_for("hashlists.index"), 303)


@bp.route("/hashlists/import", methods=["POST"])
@requires("admin")
def import_upload() -> Response:
    upload = request.files.get("file")
    name = request.form.get("name", "").strip()
    kind = request.form.get("kind", "alert")
    category = request.form.get("category", "").strip() or None
    if upload is None or not upload.filename or not _NAME.match(name) or kind not in ("alert", "ignore"):
        notice("Choose a file, a list name (letters, digits, dot, dash, underscore) and a kind.", "error")
        return redirect(url_for("hashlists.index"), 303)
    with tempfile.TemporaryDirectory(prefix="gapscan-upload-") as tmp:
        path = Path(tmp) / "upload"
        upload.save(path)
        try:
            opened = _open_store(request.form.get("passphrase", ""))
            meta = opened.import_file(path, name=name, kind=kind, category=category)
        except Exception as exc:  # GapscanError and StoreLocked carry the message to show
            audit("hashlist.import", outcome="refused", name=name, reason=str(exc))
            notice(f"Import of {name!r} failed: {exc}", "error")
            return redirect(url_for("hashlists.index"), 303)
    audit("hashlist.import", name=meta.name, version=meta.version, kind=meta.kind, counts=meta.counts)
    notice(f"Imported {meta.name} version {meta.version}: {sum(meta.counts.values())} entries.")
    return redirect(url_for("hashlists.index"), 303)


@bp.route("/hashlists/<name>/remove", methods=["POST"])
@requires("admin")
def remove(name: str) -> Response:
    store = services().hashlist_store()
    try:
        store.remove(name)
    except Exception as exc:
        audit("hashlist.remove", outcome="refused", name=name, reason=str(exc))
        notice(f"Could not remove {name!r}: {exc}", "error")
    else:
        audit("hashlist.remove", name=name)
        notice(f"Removed hash list {name!r}.")
    return redirect(url_for("hashlists.index"), 303)
