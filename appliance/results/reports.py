"""Report writers: CSV, JSON and DFXML, from the results store. Metadata and digests only, never content.

Paths are written with :func:`appliance.pathfmt.escape_path` (lossless for any bytes).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable
from typing import IO, Any
from xml.sax.saxutils import XMLGenerator

from appliance import __version__
from appliance.pathfmt import escape_path
from appliance.results.store import FileRow, HitRow, ResultStore, ScanRow

FORMATS = ("csv", "json", "dfxml")


def _iso(ts: float | None) -> str | None:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z") if ts else None


def _hits_by_path(store: ResultStore, scan_id: str) -> dict[bytes, list[HitRow]]:
    out: dict[bytes, list[HitRow]] = {}
    for h in store.iter_hits(scan_id):
        out.setdefault(h.path, []).append(h)
    return out


def _hit_json(h: HitRow) -> dict[str, Any]:
    d: dict[str, Any] = {"algorithm": h.algorithm, "digest": h.digest.hex(), "list": h.list_name,
                         "list_version": h.list_version, "label": h.label}
    if h.distance is not None:
        d["distance"] = h.distance
    return d


def _file_json(f: FileRow, hits: list[HitRow]) -> dict[str, Any]:
    d: dict[str, Any] = {
        "path": escape_path(f.path), "kind": f.kind, "size": f.size, "mtime": _iso(f.mtime), "type": f.type,
        "md5": f.md5.hex() if f.md5 else None, "sha1": f.sha1.hex() if f.sha1 else None,
        "sha256": f.sha256.hex() if f.sha256 else None, "status": f.status,
        "flags": f.flags.split(",") if f.flags else [], "error": f.error, "hits": [_hit_json(h) for h in hits],
    }
    if f.extra:
        d.update({k: v for k, v in f.extra.items() if k not in d})
    return d


def scan_header(store: ResultStore, scan: ScanRow) -> dict[str, Any]:
    return {"scan_id": scan.id, "source": scan.source, "source_info": scan.source_info, "status": scan.status,
            "started_at": _iso(scan.started_at), "finished_at": _iso(scan.finished_at),
            "seconds": round(scan.seconds, 3), "lists": scan.lists, "options": scan.options,
            "counts": store.counts(scan.id), "gapscan_version": __version__, **scan.extra}


def write_json(store: ResultStore, scan: ScanRow, out: IO[str], *, hits_only: bool = False) -> None:
    hits = _hits_by_path(store, scan.id)
    out.write('{"scan": ')
    out.write(json.dumps(scan_header(store, scan)))
    out.write(', "files": [')
    for i, f in enumerate(store.iter_files(scan.id, hits_only=hits_only)):
        out.write(",\n" if i else "\n")
        out.write(json.dumps(_file_json(f, hits.get(f.path, []))))  # dumps+write: json.dump writes per token
    out.write("\n]}\n")


CSV_COLUMNS = ("path", "kind", "size", "mtime", "type", "md5", "sha1", "sha256", "status", "flags", "error",
               "hit_algorithm", "hit_list", "hit_list_version", "hit_label", "hit_distance")


def write_csv(store: ResultStore, scan: ScanRow, out: IO[str], *, hits_only: bool = False) -> None:
    """One row per file, or per (file, hit) when a file matched more than one entry."""
    hits = _hits_by_path(store, scan.id)
    w = csv.writer(out)
    w.writerow(CSV_COLUMNS)
    for f in store.iter_files(scan.id, hits_only=hits_only):
        base = [_csv_safe(escape_path(f.path)), f.kind, f.size, _iso(f.mtime) or "", f.type or "",
                f.md5.hex() if f.md5 else "", f.sha1.hex() if f.sha1 else "", f.sha256.hex() if f.sha256 else "",
                f.status, f.flags, _csv_safe(f.error or "")]
        file_hits = hits.get(f.path) or [None]
        for h in file_hits:
            w.writerow(base + ([h.algorithm, h.list_name, h.list_version, h.label or "",
                                "" if h.distance is None else h.distance] if h else ["", "", "", "", ""]))


def _csv_safe(text: str) -> str:
    """Defuse spreadsheet formula injection from hostile names (=, +, -, @ at the start of a cell)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_dfxml(store: ResultStore, scan: ScanRow, out: IO[str], *, hits_only: bool = False) -> None:
    """DFXML 1.x: one ``fileobject`` per file with ``hashdigest`` elements; hits as gapscan-namespaced data."""
    hits = _hits_by_path(store, scan.id)
    x = XMLGenerator(out, encoding="utf-8", short_empty_elements=True)
    x.startDocument()
    x.startElement("dfxml", {"version": "1.2.0", "xmlns": "http://www.forensicswiki.org/wiki/Category:Digital_Forensics_XML",
                             "xmlns:dc": "http://purl.org/dc/elements/1.1/",
                             "xmlns:gapscan": "urn:gapscan:dfxml:1"})
    _el(x, "metadata", None)
    x.startElement("creator", {})
    _el(x, "program", "gapscan")
    _el(x, "version", __version__)
    _el(x, "execution_environment", None, {"gapscan:scan_id": scan.id, "gapscan:status": scan.status})
    x.endElement("creator")
    x.startElement("source", {})
    _el(x, "image_filename", scan.source)
    x.endElement("source")
    for f in store.iter_files(scan.id, hits_only=hits_only):
        x.startElement("fileobject", {})
        _el(x, "filename", escape_path(f.path))
        _el(x, "filesize", str(f.size))
        _el(x, "name_type", {"file": "r", "dir": "d", "symlink": "l", "fifo": "p", "socket": "s",
                             "chardev": "c", "blockdev": "b"}.get(f.kind, "-"))
        if f.mtime:
            _el(x, "mtime", _iso(f.mtime))
        if "deleted" in f.flags.split(","):
            _el(x, "unalloc", "1")
        for alg, val in (("md5", f.md5), ("sha1", f.sha1), ("sha256", f.sha256)):
            if val:
                _el(x, "hashdigest", val.hex(), {"type": alg})
        for h in hits.get(f.path, []):
            attrs = {"algorithm": h.algorithm, "list": h.list_name, "list_version": str(h.list_version)}
            if h.distance is not None:
                attrs["distance"] = str(h.distance)
            _el(x, "gapscan:hit", h.label or "", attrs)
        if f.error:
            _el(x, "gapscan:error", f.error, {"status": f.status})
        x.endElement("fileobject")
    x.endElement("dfxml")
    x.endDocument()
    out.write("\n")


def _el(x: XMLGenerator, name: str, text: str | None, attrs: dict[str, str] | None = None) -> None:
    x.startElement(name, attrs or {})
    if text:
        x.characters(_xml_safe(text))
    x.endElement(name)


def _xml_safe(text: str) -> str:
    """XML 1.0 cannot carry most control characters even escaped: show them as \\uXXXX."""
    return "".join(c if c in "\t\n\r" or (ord(c) >= 0x20 and not 0xD800 <= ord(c) <= 0xDFFF
                   and c not in "\ufffe\uffff") else f"\\u{ord(c):04x}" for c in text)


WRITERS: dict[str, Callable[..., None]] = {"csv": write_csv, "json": write_json, "dfxml": write_dfxml}
