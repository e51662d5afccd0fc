"""Turn what the user typed (a directory, later a device, an image or an SMB URL) into a Source."""

from __future__ import annotations

from firmware.media.localdir import LocalDirSource
from firmware.media.source import Source


def open_source(spec: str) -> Source:
    """Resolve a source spec. Raises :class:`SourceError` with a message naming the spec."""
    return LocalDirSource(spec)
