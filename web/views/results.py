"""Results: scans, and per scan its hits (metadata only) and its errors/skipped files. Never file content."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from appliance.results import browse
from appliance.results.store import ResultStore, ScanRow
from web.common import state_dir

bp = Blueprint("results", __name__)


def get_scan(scan_id: str) -> tuple[ScanRow, dict[str, int]]:
    with ResultStore.in_state_dir(state_dir()) as store:
        scan = store.get_scan(scan_id)
        if scan is None:
            abort(404, description=f"no scan with id {scan_id}")
        return scan, store.counts(scan_id)


def _int_arg(name: str, default: int = 1) -> int:
    try:
        return max(1, int(request.args.get(name, default)))
    except ValueError:
        return default


@bp.route("/results")
def index() -> str:
    with ResultStore.in_state_dir(state_dir()) as store:
        scans = [(s, store.counts(s.id)) for s in store.list_scans(200)]
    return render_template("results.html", scans=scans)


@bp.route("/results/<scan_id>")
def hits(scan_id: str) -> str:
    scan, counts = get_scan(scan_id)
    sort = request.args.get("sort", "path")
    desc = request.args.get("dir") == "desc"
    q = request.args.get("q", "")[:200]
    list_name = request.args.get("list", "")
    label = request.args.get("category", "")
    page = browse.hits(state_dir(), scan_id, sort=sort, descending=desc, text=q, list_name=list_name, label=label,
                       page=_int_arg("page"))
    lists, labels = browse.hit_facets(state_dir(), scan_id)
    return render_template("hits.html", scan=scan, counts=counts, page=page, sort=sort, desc=desc, q=q,
                           list_name=list_name, label=label, lists=lists, labels=labels, tab="hits",
                           sorts=list(browse.HIT_SORTS))


@bp.route("/results/<scan_id>/problems")
def problems(scan_id: str) -> str:
    scan, counts = get_scan(scan_id)
    sort = request.args.get("sort", "path")
    desc = request.args.get("dir") == "desc"
    status = request.args.get("status", "")
    page = browse.problems(state_dir(), scan_id, sort=sort, descending=desc, status=status, page=_int_arg("page"))
    return render_template("problems.html", scan=scan, counts=counts, page=page, sort=sort, desc=desc,
                           status=status, tab="problems", sorts=list(browse.PROBLEM_SORTS))
