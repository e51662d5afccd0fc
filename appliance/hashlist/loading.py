"""Load hash-list files named on the command line (``--hashlist FILE``) into the in-memory index.

Any importer format is accepted (detected from the file's first bytes; plain text when nothing else fits, so
its line errors are reported). The encrypted store (``gapscan hashlist import``) builds on the same importers.
"""

from __future__ import annotations

import os
from pathlib import Path

from appliance.errors import GapscanError
from appliance.hashlist.importers import ImportStats, detect_format, module_for
from appliance.hashlist.index import LoadedList
from appliance.hashlist.model import HashListFormatError, ListInfo


def load_list_file(path: str | os.PathLike[str], *, lenient: bool = False, name: str | None = None,
                   kind: str = "alert") -> tuple[LoadedList, int]:
    """Returns the loaded list and how many malformed records ``lenient`` skipped."""
    p = Path(path)
    if not p.is_file():
        raise GapscanError(f"hash list {str(p)!r} does not exist or is not a file")
    try:
        fmt = detect_format(p)
    except GapscanError:
        fmt = "text"
    module = module_for(fmt)
    stats = ImportStats()
    info = ListInfo(name=name or p.name, version=1, kind=kind,  # type: ignore[arg-type]
                    source_format=module.FORMAT, source=str(p))
    try:
        loaded = LoadedList.from_records(info, module.iter_records(p, lenient=lenient, stats=stats))
    except HashListFormatError as exc:
        raise GapscanError(f"bad hash list: {exc} (use --lenient to skip malformed lines)") from None
    except OSError as exc:
        raise GapscanError(f"cannot read hash list {str(p)!r}: {exc.strerror or exc}") from None
    return loaded, stats.skipped
