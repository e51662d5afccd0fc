"""Hash lists (admin): metadata only — names, versions, counts, categories. Entries are never listed."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from appliance.hashlist.staging import memfd_file, refuse_sqlite
from appliance.hashlist.store import HashListStore
from appliance.media import FoundFile, attached_media, find_hashlists, read_from_media
from appliance.settings import load_settings
from web.common import audit, notice, services, state_dir
from web.security import requires
from web.services import Unavailable

bp = Blueprint("hashlists", __name__)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: The largest list read from USB into RAM (plaintext is staged in memory only, never on a filesystem).
MAX_LIST_BYTES = 4 * 2**30


def _key(found: FoundFile) -> str:
    """An opaque form value naming one found file; the form never carries a path."""
    h = hashlib.sha256()
    for part in (found.volume.encode(), found.raw_path or found.path_in_volume.encode(), str(found.size).encode()):
        h.update(len(part).to_bytes(8, "big") + part)
    return h.hexdigest()[:32]


def _lists_on_media() -> list[tuple[str, FoundFile]] | Unavailable:
    """(key, file) for each hash-list candidate on the attached mass-storage drives."""
    out = []
    try:
        for drive in attached_media():
            out.extend((_key(f), f) for f in find_hashlists(drive))
    except Exception as exc:
        return Unavailable("media layer", f"{type(exc).__name__}: {exc}")
    return out


def _form() -> tuple[str, str, str | None] | None:
    name = request.form.get("name", "").strip()
    kind = request.form.get("kind", "alert")
    category = request.form.get("category", "").strip() or None
    if not _NAME.match(name) or kind not in ("alert", "ignore"):
        return None
    return name, kind, category


def _import_staged(fh: Any, path: Path, name: str, kind: str, category: str | None, origin: str) -> Response:
    """Import the list staged in the memfd ``fh`` (at ``path``), audit and tell the outcome (never values)."""
    try:
        fh.flush()
        refuse_sqlite(fh)
        opened = _open_store(request.form.get("passphrase", ""))
        meta = opened.import_file(path, name=name, kind=kind, category=category)
    except Exception as exc:  # GapscanError and StoreLocked carry the message to show
        audit("hashlist.import", outcome="refused", name=name, origin=origin, reason=str(exc))
        notice(f"Import of {name!r} failed: {exc}", "error")
        return redirect(url_for("hashlists.index"), 303)
    audit("hashlist.import", name=meta.name, version=meta.version, kind=meta.kind, counts=meta.counts,
          origin=origin)
    notice(f"Imported {meta.name} version {meta.version}: {sum(meta.counts.values())} entries.")
    return redirect(url_for("hashlists.index"), 303)


@bp.route("/hashlists")
@requires("admin")
def index() -> str:
    svc = services()
    settings = load_settings(state_dir())
    return render_template("hashlists.html", lists=svc.list_metadata(), demo_list=settings.demo_hashlist,
                           key_error=svc.key_setup_error, key_protection=settings.key_protection,
                           lock_state=svc.store_lock_state(), on_media=_lists_on_media())


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
    form = _form()
    if upload is None or not upload.filename or form is None:
        notice("Choose a file, a list name (letters, digits, dot, dash, underscore) and a kind.", "error")
        return redirect(url_for("hashlists.index"), 303)
    with memfd_file() as (fh, path):  # plaintext stays in RAM: never a temp file
        shutil.copyfileobj(upload.stream, fh, 1 << 20)
        return _import_staged(fh, path, *form, origin="upload")


@bp.route("/hashlists/import-media", methods=["POST"])
@requires("admin")
def import_media() -> Response:
    form = _form()
    if form is None:
        notice("Choose a list name (letters, digits, dot, dash, underscore) and a kind.", "error")
        return redirect(url_for("hashlists.index"), 303)
    key = request.form.get("file", "")
    found = _lists_on_media()
    if isinstance(found, Unavailable):
        notice("Hash lists on USB cannot be read: media layer not available.", "error")
        return redirect(url_for("hashlists.index"), 303)
    match = next((f for k, f in found if k == key), None)
    if match is None:
        notice("That file is no longer on an attached drive.", "error")
        return redirect(url_for("hashlists.index"), 303)
    origin = f"usb:{match.volume}:{match.path_in_volume}"
    with memfd_file() as (fh, path):
        try:
            read_from_media(match, fh, MAX_LIST_BYTES)
        except Exception as exc:
            audit("hashlist.import", outcome="refused", name=form[0], origin=origin, reason=str(exc))
            notice(f"Could not read the list from USB: {exc}", "error")
            return redirect(url_for("hashlists.index"), 303)
        return _import_staged(fh, path, *form, origin=origin)


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
