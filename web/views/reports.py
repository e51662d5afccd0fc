"""Reports: CSV, JSON and DFXML downloads (via appliance.results.reports) and a printable summary.

Reports are deterministic for a finished scan, so the SHA-256 shown on the page and in the summary is the
SHA-256 of exactly the file a download delivers; operators can check it with ``sha256sum``.
"""

from __future__ import annotations

import hashlib
import io
import socket
from pathlib import Path

from flask import Blueprint, Response, abort, render_template

from appliance import __version__
from appliance.results.reports import FORMATS, WRITERS
from appliance.results.store import ResultStore
from web.common import audit, state_dir
from web.views.results import get_scan

bp = Blueprint("reports", __name__)
MIMETYPES = {"csv": "text/csv", "json": "application/json", "dfxml": "application/xml"}
EXTENSIONS = {"csv": "csv", "json": "json", "dfxml": "dfxml.xml"}


def render_report(scan_id: str, fmt: str) -> bytes:
    with ResultStore.in_state_dir(state_dir()) as store:
        scan = store.get_scan(scan_id)
        if scan is None:
            abort(404, description=f"no scan with id {scan_id}")
        buf = io.StringIO(newline="")
        WRITERS[fmt](store, scan, buf)
    return buf.getvalue().encode("utf-8")


def appliance_id() -> str:
    """Host name plus a short digest of the machine id: stable per appliance, reveals nothing else."""
    try:
        machine = Path("/etc/machine-id").read_text().strip()
    except OSError:
        machine = ""
    digest = hashlib.sha256(("gapscan:" + machine).encode()).hexdigest()[:12]
    return f"{socket.gethostname()}-{digest}"


_digest_cache: dict[tuple[str, str, str], str] = {}


def report_digests(scan_id: str, status: str) -> dict[str, str]:
    """SHA-256 of each format. A finished scan cannot change any more, so its digests are kept."""
    out = {}
    for fmt in FORMATS:
        key = (str(state_dir()), scan_id, fmt)
        digest = _digest_cache.get(key) if status == "finished" else None
        if digest is None:
            digest = hashlib.sha256(render_report(scan_id, fmt)).hexdigest()
            if status == "finished":
                if len(_digest_cache) > 3000:
                    _digest_cache.clear()
                _digest_cache[key] = digest
        out[fmt] = digest
    return out


@bp.route("/reports/<scan_id>")
def index(scan_id: str) -> str:
    scan, counts = get_scan(scan_id)
    digests = report_digests(scan_id, scan.status)
    return render_template("reports.html", scan=scan, counts=counts, digests=digests, formats=FORMATS)


@bp.route("/reports/<scan_id>/download/<fmt>")
def download(scan_id: str, fmt: str) -> Response:
    if fmt not in FORMATS:
        abort(404, description=f"unknown report format {fmt!r}; one of {', '.join(FORMATS)}")
    get_scan(scan_id)
    data = render_report(scan_id, fmt)
    sha = hashlib.sha256(data).hexdigest()
    audit("report.download", scan_id=scan_id, format=fmt, sha256=sha)
    response = Response(data, mimetype=MIMETYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="gapscan-{scan_id}.{EXTENSIONS[fmt]}"'
    response.headers["X-Report-SHA256"] = sha
    return response


@bp.route("/reports/<scan_id>/summary")
def summary(scan_id: str) -> str:
    scan, counts = get_scan(scan_id)
    digests = report_digests(scan_id, scan.status)
    audit("report.summary", scan_id=scan_id)
    return render_template("summary.html", scan=scan, counts=counts, digests=digests,
                           appliance_id=appliance_id(), version=__version__)
