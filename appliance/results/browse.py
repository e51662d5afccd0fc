"""Paged, sorted, filtered reads of results.sqlite for the web UI (which never loads a whole scan).

Sort keys are looked up in fixed tables, never pasted from the request; filters are bound parameters.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")

PAGE_SIZE = 50

HIT_SORTS = {"path": "f.seq", "size": "f.size", "list": "h.list_name", "category": "h.label",
             "distance": "h.distance", "algorithm": "h.algorithm"}
PROBLEM_SORTS = {"path": "seq", "size": "size", "status": "status", "error": "error"}


@dataclass(frozen=True)
class HitView:
    path: bytes
    size: int | None
    md5: str | None
    sha1: str | None
    sha256: str | None
    algorithm: str
    list_name: str
    list_version: int
    label: str | None
    distance: int | None
    flags: list[str]


@dataclass(frozen=True)
class ProblemView:
    path: bytes
    kind: str
    size: int
    status: str
    error: str | None
    flags: list[str]


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    total: int
    page: int
    pages: int


def _connect(state_dir: Path) -> sqlite3.Connection:
    db = sqlite3.connect(f"file:{Path(state_dir) / 'results.sqlite'}?mode=ro", uri=True, timeout=10)
    return db


def _page(page: int, total: int, per_page: int) -> tuple[int, int, int]:
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    return page, pages, (page - 1) * per_page


def hits(state_dir: Path, scan_id: str, *, sort: str = "path", descending: bool = False, text: str = "",
         list_name: str = "", label: str = "", page: int = 1, per_page: int = PAGE_SIZE) -> Page[HitView]:
    """One page of a scan's hits joined with their file rows. ``text`` matches a path substring or a digest."""
    where = ["h.scan_id = ?"]
    args: list[object] = [scan_id]
    if text:
        needle = text.strip()
        clause = "instr(h.path, ?) > 0"
        args.append(needle.encode())
        if all(c in "0123456789abcdefABCDEF" for c in needle) and len(needle) % 2 == 0 and needle:
            clause += " OR instr(lower(hex(f.md5)||hex(f.sha1)||hex(f.sha256)), ?) > 0"
            args.append(needle.lower())
        where.append(f"({clause})")
    if list_name:
        where.append("h.list_name = ?")
        args.append(list_name)
    if label:
        where.append("h.label = ?")
        args.append(label)
    order = HIT_SORTS.get(sort, "f.seq") + (" DESC" if descending else " ASC")
    base = (" FROM hits h LEFT JOIN files f ON f.scan_id = h.scan_id AND f.path = h.path WHERE "
            + " AND ".join(where))
    with closing(_connect(state_dir)) as db:
        total = db.execute("SELECT COUNT(*)" + base, args).fetchone()[0]
        page, pages, offset = _page(page, total, per_page)
        rows = db.execute(
            "SELECT h.path, f.size, f.md5, f.sha1, f.sha256, h.algorithm, h.list_name, h.list_version, h.label,"
            " h.distance, f.flags" + base + f" ORDER BY {order}, h.path, h.list_name LIMIT ? OFFSET ?",
            [*args, per_page, offset]).fetchall()
    views = [HitView(r[0], r[1], _hex(r[2]), _hex(r[3]), _hex(r[4]), r[5], r[6], r[7], r[8], r[9],
                     [x for x in (r[10] or "").split(",") if x]) for r in rows]
    return Page(views, total, page, pages)


def problems(state_dir: Path, scan_id: str, *, sort: str = "path", descending: bool = False, status: str = "",
             page: int = 1, per_page: int = PAGE_SIZE) -> Page[ProblemView]:
    """Errors and skipped files (not hashed by policy or unreadable)."""
    statuses = ("error", "skipped") if status not in ("error", "skipped") else (status,)
    marks = ",".join("?" * len(statuses))
    base = f" FROM files WHERE scan_id = ? AND status IN ({marks})"
    order = PROBLEM_SORTS.get(sort, "seq") + (" DESC" if descending else " ASC")
    with closing(_connect(state_dir)) as db:
        total = db.execute("SELECT COUNT(*)" + base, (scan_id, *statuses)).fetchone()[0]
        page, pages, offset = _page(page, total, per_page)
        rows = db.execute("SELECT path, kind, size, status, error, flags" + base
                          + f" ORDER BY {order}, path LIMIT ? OFFSET ?",
                          (scan_id, *statuses, per_page, offset)).fetchall()
    views = [ProblemView(r[0], r[1], r[2], r[3], r[4], [x for x in (r[5] or "").split(",") if x]) for r in rows]
    return Page(views, total, page, pages)


def hit_facets(state_dir: Path, scan_id: str) -> tuple[list[str], list[str]]:
    """Distinct list names and categories among a scan's hits, for the filter drop-downs."""
    with closing(_connect(state_dir)) as db:
        lists = [r[0] for r in db.execute("SELECT DISTINCT list_name FROM hits WHERE scan_id = ? ORDER BY 1",
                                          (scan_id,))]
        labels = [r[0] for r in db.execute("SELECT DISTINCT label FROM hits WHERE scan_id = ? AND label IS NOT NULL"
                                           " ORDER BY 1", (scan_id,))]
    return lists, labels


def _hex(value: bytes | None) -> str | None:
    return value.hex() if value else None
