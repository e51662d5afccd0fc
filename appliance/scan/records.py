"""Records a scan emits: hits and progress events. Immutable; paths are bytes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

EventKind = Literal["start", "progress", "hit", "end"]


@dataclass(frozen=True, slots=True)
class Hit:
    """A file whose digest is on an alert list, with the list name and version that produced it."""

    path: bytes
    size: int
    digests: dict[str, bytes]
    algorithm: str
    list_name: str
    list_version: int
    label: str | None
    distance: int | None = None  # perceptual hits only
    flags: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class ScanCounts:
    files: int = 0
    bytes: int = 0
    hits: int = 0
    errors: int = 0
    skipped: int = 0
    known: int = 0
    prefiltered: int = 0


@dataclass(frozen=True, slots=True)
class ScanEvent:
    """Progress as a UI, the panel or a log sees it. ``current`` is the path being worked on."""

    kind: EventKind
    scan_id: str
    counts: ScanCounts
    seconds: float
    current: bytes | None = None
    hit: Hit | None = None
    status: str | None = None  # set on "end": finished | interrupted | failed | cancelled
    total_files: int | None = None  # when the source can tell in advance (for an ETA)
