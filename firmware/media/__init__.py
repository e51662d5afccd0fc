"""Media readers. Every reader implements :class:`firmware.media.source.Source`."""

from firmware.media.source import Entry, EntryKind, MediaGone, Source, SourceError

__all__ = ["Entry", "EntryKind", "MediaGone", "Source", "SourceError"]
