"""Canonical JSON: the exact bytes that are signed, and a strict parser for them.

Canonical = sorted keys, no whitespace, ASCII only, integers only (no floats), no duplicate keys. A signed
document that does not re-encode to the identical bytes is refused, so one manifest has one byte form.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_float(text: str) -> Any:
    raise ValueError(f"non-integer number {text[:20]!r}")


def strict_loads(data: bytes, *, canonical: bool = True) -> Any:
    """Parse JSON bytes strictly; ``canonical`` also demands the canonical byte form. Raises ValueError."""
    try:
        text = data.decode("ascii")
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_no_float, parse_constant=_no_float)
    except (UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"not ASCII JSON or nested too deeply ({type(exc).__name__})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg} at byte {exc.pos}") from None
    if canonical and canonical_json(obj) != data:
        raise ValueError("not in canonical form (sorted keys, no whitespace)")
    return obj
