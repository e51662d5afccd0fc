"""hashdeep / md5deep known-file lists.

``%%%% HASHDEEP-1.0`` then a ``%%%% size,md5,sha256,filename`` header naming the columns, ``##`` comments.
File names may contain commas: the file name is the last column, so each line is split at most N-1 times.
Every entry carries its size (the size pre-filter applies).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from appliance.hashing.digests import DIGEST_KINDS
from appliance.hashlist.importers.common import ImportStats, RecordErrors, hex_digest
from appliance.hashlist.model import HashListFormatError, HashRecord

FORMAT = "hashdeep"
_MAGIC = "%%%% HASHDEEP-1.0"


def sniff(head: bytes) -> bool:
    return head.removeprefix(b"\xef\xbb\xbf").startswith(b"%%%% HASHDEEP-")


def iter_records(path: str | os.PathLike[str], *, lenient: bool = False,
                 stats: ImportStats | None = None) -> Iterator[HashRecord]:
    stats = stats if stats is not None else ImportStats()
    errors = RecordErrors(path, lenient, stats)
    name = os.fspath(path)
    columns: list[str] | None = None
    size_col, alg_cols = -1, []
    with open(path, encoding="utf-8-sig", errors="replace") as fh:  # universal newlines: CRLF too
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip("\n")
            if lineno == 1:
                if not line.startswith("%%%% HASHDEEP-"):
                    raise HashListFormatError(name, 1, "header", f"expected {_MAGIC!r}, found {line[:40]!r}")
                continue
            if line.startswith("%%%%"):
                columns = [c.strip().lower() for c in line[4:].split(",")]
                if "filename" not in columns or columns[-1] != "filename":
                    raise HashListFormatError(name, lineno, "header", "the last column must be 'filename'")
                size_col = columns.index("size") if "size" in columns else -1
                alg_cols = [(alg, columns.index(alg)) for alg in DIGEST_KINDS if alg in columns]
                continue
            if not line.strip() or line.startswith("#"):
                continue
            if columns is None:
                raise HashListFormatError(name, lineno, "header", "no '%%%% size,...' column header before entries")
            fields = line.split(",", len(columns) - 1)
            if len(fields) != len(columns):
                errors.bad(lineno, "columns", f"{len(fields)} field(s), header names {len(columns)}")
                continue
            size: int | None = None
            if size_col >= 0:
                text = fields[size_col]
                if text.isdigit() and text.isascii():
                    size = int(text)
                else:
                    errors.bad(lineno, "size", f"not a size in bytes: {text!r}")
                    continue
            out: list[HashRecord] = []
            problem: tuple[str, str] | None = None
            for alg, col in alg_cols:
                parsed = hex_digest(fields[col], alg)
                if isinstance(parsed, str):
                    problem = (alg, parsed)
                    break
                out.append(HashRecord(alg, parsed[1], None, size))  # file names are provenance, not categories
            if problem:
                errors.bad(lineno, *problem)
                continue
            stats.records += 1
            yield from out
