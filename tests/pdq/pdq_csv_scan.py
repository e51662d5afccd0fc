"""Test helper: run the real ``gapscan`` CLI with a tiny PDQ-CSV list loader (``pdq_hex,label[,distance]``).

Why: the text importer on this branch does not read PDQ entries; the hash-list area owns the real
ThreatExchange/HMA PDQ CSV importer. Everything else (scan command, job, analyzer, store, output) is real.
Usage: python -m tests.pdq.pdq_csv_scan [gapscan args...]; ``--hashlist FILE`` names PDQ-CSV files.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from appliance.hashlist.index import LoadedList
from appliance.hashlist.model import HashRecord, ListInfo


def load_pdq_csv_lists(context: dict[str, Any], state_dir: Path) -> list[LoadedList]:
    lists = []
    for path in context.get("hashlists", []):
        records = []
        for line in Path(path).read_text().splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            hx, label, *rest = line.strip().split(",")
            records.append(HashRecord("pdq", bytes.fromhex(hx), label or None,
                                      distance=int(rest[0]) if rest and rest[0] else None))
        info = ListInfo(name=os.path.basename(path), version=3, source_format="pdq-csv", source=path)
        lists.append(LoadedList.from_records(info, records))
    return lists


def main() -> int:
    import appliance.cli.commands.scan as scan_command
    from appliance.cli import main as gapscan_main

    scan_command.load_scan_lists = load_pdq_csv_lists  # type: ignore[assignment]
    return gapscan_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
