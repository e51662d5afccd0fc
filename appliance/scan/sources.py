"""What ``gapscan scan`` needs to turn its SOURCE argument into a :class:`Source`.

Owned by the media layer's work: flags that change how a source is read (``--mount``, archives, SMB
credentials ...) are added here, and saved in the scan's context so ``--resume`` reopens it the same way.
"""

from __future__ import annotations

import argparse
from typing import Any

from appliance.errors import GapscanError
from firmware.media.open import open_source
from firmware.media.source import Source, SourceError


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``gapscan scan`` that decide how SOURCE is read."""


def source_context(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON-able reading options to store with a new scan (never a password)."""
    return {}


def open_scan_source(spec: str, context: dict[str, Any]) -> Source:
    """Open SOURCE as a new scan or ``--resume`` (same ``context``) asks. Errors name the source."""
    try:
        return open_source(spec)
    except SourceError as exc:
        raise GapscanError(str(exc)) from None
