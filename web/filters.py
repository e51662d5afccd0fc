"""Template filters. Every name that came from scanned media goes through ``path``: escaped losslessly,
controls and bidi overrides shown as ``\\uXXXX``; Jinja's autoescape does the HTML part."""

from __future__ import annotations

import datetime as dt
import re

from flask import Flask

from appliance.pathfmt import display_path

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def path(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return display_path(value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape"))


def text(value: object) -> str:
    """Any other untrusted text (errors, sources, audit details): controls and bidi overrides made visible."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", "" if value is None else str(value))


def tojson_text(value: object) -> str:
    """An audit detail value as plain text: strings as they are, anything else as compact JSON."""
    import json

    return text(value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False))


def size(n: int | float | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def when(ts: float | None) -> str:
    if not ts:
        return "—"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(ts: float | None) -> str:
    """How long ago, for ages of lists and scans."""
    import time

    if not ts:
        return "—"
    d = max(0.0, time.time() - ts)
    for unit, span in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if d >= span:
            n = int(d // span)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s" if s >= 60 else \
        f"{seconds:.1f} s"


def install(app: Flask) -> None:
    app.jinja_env.filters.update(path=path, text=text, tojson_text=tojson_text, size=size, when=when, ago=ago,
                                 duration=duration)
    install_tests(app)
    app.jinja_env.globals["query"] = query


def _is_unavailable(value: object) -> bool:
    from web.services import Unavailable

    return isinstance(value, Unavailable)


def install_tests(app: Flask) -> None:
    app.jinja_env.tests["unavailable"] = _is_unavailable


def query(**changes: object) -> str:
    """The current query string with ``changes`` applied (None removes a key); page resets unless given."""
    from urllib.parse import urlencode

    from flask import request

    args = {k: v for k, v in request.args.items() if k != "page"}
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = str(value)
    return urlencode(args)
