"""Opening the results store never waits for a scan's write lock: a stopped scan must not hang the CLI."""

from __future__ import annotations

import sqlite3
import time

from appliance.results.store import ResultStore


def test_a_store_held_mid_write_by_another_process_opens_and_reads_at_once(tmp_path):
    with ResultStore.in_state_dir(tmp_path) as store:
        scan_id = store.create_scan("/media/usb", {}, {}, [])
    holder = sqlite3.connect(tmp_path / "results.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # what a scan stopped mid-batch (SIGSTOP, a hung disk) holds
    holder.execute("UPDATE scans SET seconds = 1")
    try:
        t0 = time.monotonic()
        with ResultStore.in_state_dir(tmp_path) as reader:
            scan = reader.get_scan(scan_id)
        assert scan is not None and scan.status == "running"
        assert time.monotonic() - t0 < 5  # the busy timeout is 30 s: reaching it would mean we waited
    finally:
        holder.execute("ROLLBACK")
        holder.close()
