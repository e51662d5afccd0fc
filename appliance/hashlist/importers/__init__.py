"""Hash-list importers. Each module is one format and exposes:

- ``FORMAT``: the name used by ``--format``;
- ``sniff(head: bytes) -> bool``: does this look like my format (for ``--format auto``);
- ``iter_records(path, *, lenient=False, stats=None) -> Iterator[HashRecord]``: a streaming generator
  (constant memory whatever the file size) raising :class:`HashListFormatError` naming file, line/record and
  field on a bad record unless ``lenient``, in which case bad records are counted in ``stats.skipped``;
- optionally ``iter_items(path, *, lenient=False, stats=None)``: the same records, where whole chunks may come
  as one :class:`RecordBatch` of arrays (the fast path of line formats; see :mod:`.chunks`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import ModuleType

from appliance.errors import GapscanError
from appliance.hashlist.importers import clamav, hashdeep, nsrl, pdq, text, vics
from appliance.hashlist.importers.batch import RecordBatch
from appliance.hashlist.importers.common import ImportStats
from appliance.hashlist.model import HashRecord

__all__ = ["FORMATS", "ImportStats", "RecordBatch", "detect_format", "iter_file", "iter_file_items", "module_for"]

#: Format name -> module. Order matters for detection: the most specific sniffers first.
FORMATS: dict[str, ModuleType] = {m.FORMAT: m for m in (hashdeep, nsrl, vics, clamav, pdq, text)}
ALIASES = {"md5sum": "text", "sha1sum": "text", "sha256sum": "text", "md5deep": "hashdeep", "vic": "vics",
           "rds": "nsrl", "hdb": "clamav", "hsb": "clamav", "threatexchange": "pdq", "hma": "pdq"}
SNIFF_BYTES = 1 << 16


def module_for(fmt: str) -> ModuleType:
    name = ALIASES.get(fmt.lower(), fmt.lower())
    if name not in FORMATS:
        raise GapscanError(f"unknown hash-list format {fmt!r} (known: {', '.join(sorted(FORMATS))}, auto)")
    return FORMATS[name]


def detect_format(path: str | os.PathLike[str]) -> str:
    """The format name of ``path`` judged from its first bytes; raises GapscanError when none fits."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise GapscanError(f"cannot read hash list {os.fspath(path)!r}: {exc.strerror or exc}") from None
    for name, module in FORMATS.items():
        if module.sniff(head):
            return name
    raise GapscanError(f"{os.fspath(path)!r}: cannot tell the hash-list format; name it with --format "
                       f"({', '.join(sorted(FORMATS))})")


def iter_file(path: str | os.PathLike[str], fmt: str = "auto", *, lenient: bool = False,
              stats: ImportStats | None = None) -> Iterator[HashRecord]:
    """Stream the records of ``path`` in format ``fmt`` (``auto``: detected)."""
    module = module_for(detect_format(path) if fmt == "auto" else fmt)
    return module.iter_records(path, lenient=lenient, stats=stats)


def iter_file_items(path: str | os.PathLike[str], fmt: str = "auto", *, lenient: bool = False,
                    stats: ImportStats | None = None) -> Iterator[HashRecord | RecordBatch]:
    """Like :func:`iter_file`, but formats with a fast path hand whole chunks over as :class:`RecordBatch`\\es
    (for :meth:`appliance.hashlist.builder.ListBuilder.add_all`: no Python object per entry)."""
    module = module_for(detect_format(path) if fmt == "auto" else fmt)
    items = getattr(module, "iter_items", module.iter_records)
    return items(path, lenient=lenient, stats=stats)
