"""Extra per-file analyses a scan runs beside the digests (perceptual hashing of images and videos).

Owned by the perceptual-hashing work. ``algorithms`` is what the user asked for with ``--algorithms``.
"""

from __future__ import annotations

from collections.abc import Sequence

from appliance.hashlist.index import Matcher
from appliance.scan.job import Analyzer


def analyzers_for(matcher: Matcher, algorithms: Sequence[str]) -> list[Analyzer]:
    """The analyzers this scan needs: none until perceptual hashing exists."""
    return []
