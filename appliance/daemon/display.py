"""What the front panel shows, as pure functions of numbers and fixed words.

Nothing here accepts a path, file name, volume label or any other string from scanned media, so a hit's name
can never reach the display: the screens are built from counts, percentages, versions and the appliance's own
address and certificate fingerprint only.
"""

from __future__ import annotations

from dataclasses import dataclass

COLS = 16

Screen = tuple[str, str]


@dataclass(frozen=True)
class Lights:
    on: frozenset[str] = frozenset()
    blink: frozenset[str] = frozenset()


def _fit(text: str) -> str:
    return text[:COLS]


def idle_pages(lists: list[tuple[str, int]], web_url: str | None, fingerprint: str | None) -> list[Screen]:
    """Pages shown in turn while idle: list versions, the web UI address, the certificate fingerprint."""
    pages: list[Screen] = []
    if not lists:
        pages.append(("GAPSCAN READY", "NO HASH LISTS"))
    for name, version in lists:
        pages.append(("GAPSCAN READY", _fit(f"{_ascii(name)[: COLS - 2 - len(str(version)) - 1]} v{version}")))
    pages.append(("WEB UI", _fit((web_url or "no network").removeprefix("https://"))))
    if fingerprint:
        hexfp = fingerprint.replace(":", "").upper()
        pages.append(("CERT SHA-256", hexfp[:COLS]))
    return pages


def _ascii(text: str) -> str:
    # List names are the operator's own (from signed bundles), not media content; still keep the LCD safe.
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)


def scanning(percent: int | None, files: int) -> Screen:
    line1 = "SCANNING" if percent is None else f"SCANNING {max(0, min(percent, 99))}%"
    return line1, _fit(f"{files} files")


def result(hits: int, files: int, errors: int, *, complete: bool = True, checked: bool = True) -> list[Screen]:
    """The result of a drive's scans, then the all-clear to unplug. Never "CLEAN" for a stopped scan, nor for
    one that had no hash list to match against (hashed, but not checked)."""
    if hits:
        first: Screen = (f"HITS: {hits}", "see web UI")
    elif not complete:
        first = ("SCAN STOPPED", _fit(f"{files} files"))
    elif not checked:
        first = ("NOT CHECKED", "no hash lists")
    else:
        first = ("CLEAN", _fit(f"{files} files"))
    pages = [first]
    if errors and not hits:
        pages.append((f"{errors} UNREADABLE", "see web UI"))
    pages.append(("REMOVE DRIVE", "safe to unplug"))
    return pages


def announced(volumes: int) -> Screen:
    return ("DRIVE INSERTED", "press SCAN" if volumes else "NOTHING READABLE")


def error(reason: str) -> Screen:
    """``reason`` is one of the daemon's fixed words (never media text)."""
    return "ERROR", _fit(reason.upper())


def lights_for(state: str) -> Lights:
    return {
        "idle": Lights(frozenset({"ready"})),
        "announced": Lights(frozenset({"ready"}), frozenset({"ready"})),
        "scanning": Lights(frozenset({"scanning"}), frozenset({"scanning"})),
        "clean": Lights(frozenset({"ready"})),
        "stopped": Lights(frozenset({"ready"}), frozenset({"ready"})),
        "hits": Lights(frozenset({"hit"})),
        "error": Lights(frozenset({"error"})),
    }[state]
