"""Records that cross the hash-list boundary. Small, explicit, immutable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

ListKind = Literal["alert", "ignore"]


class HashRecord(NamedTuple):
    """One entry streamed out of an importer. ``label`` is a category or free text; ``size`` in bytes.

    A NamedTuple, not a frozen dataclass: an import makes one per entry (10^8 for NSRL) and a tuple is several
    times cheaper to construct."""

    algorithm: str  # "md5" | "sha1" | "sha256" (perceptual kinds such as "pdq" carry raw hash bytes too)
    digest: bytes
    label: str | None = None
    size: int | None = None
    distance: int | None = None  # perceptual kinds: this entry's own match radius (None: the list default)


@dataclass(frozen=True, slots=True)
class ListInfo:
    """A hash list's identity and provenance; recorded with every hit it produces."""

    name: str
    version: int = 1
    kind: ListKind = "alert"
    source_format: str = "text"
    source: str | None = None  # where it was imported from (file name, bundle id)
    #: The list's PDQ match distance for entries without their own (None: PDQ's usual 31). ThreatExchange
    #: lists are exchanged with a per-list threshold; a stricter one trades recall for fewer false positives.
    pdq_distance: int | None = None


class HashListFormatError(ValueError):
    """A malformed hash-list record. The message names file, line (or record) and field."""

    def __init__(self, file: str, line: int, field: str, problem: str) -> None:
        self.file, self.line, self.field, self.problem = file, line, field, problem
        super().__init__(f"{file}: line {line}: {field}: {problem}")
