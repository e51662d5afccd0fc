"""Hash-list importers. Each module is one format and exposes:

- ``FORMAT``: the name used by ``--format``;
- ``sniff(head: bytes) -> bool``: does this look like my format (for ``--format auto``);
- ``iter_records(path, *, lenient=False, stats=None) -> Iterator[HashRecord]``: a streaming generator
  (constant memory whatever the file size) raising :class:`HashListFormatError` on a bad record unless
  ``lenient``, in which case bad records are counted in ``stats.skipped`` and skipped.
"""
