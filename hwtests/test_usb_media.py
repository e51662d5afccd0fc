"""A real USB drive is seen when plugged in and when pulled out (udev). A person does the plugging."""

from __future__ import annotations

import threading
import time

import pytest

from appliance.daemon.events import MediaEvent, udev_events


def test_usb_drive_insert_and_removal_are_seen(needs_interactive):
    from firmware.media import udev  # the media area's udev layer

    ok, why = udev.udev_available()
    if not ok:
        pytest.skip(f"udev is not available: {why}")
    seen: list[MediaEvent] = []
    problems: list[str] = []
    stop = threading.Event()
    threading.Thread(target=udev_events, args=(seen.append, problems.append, stop), daemon=True).start()
    time.sleep(1.0)
    at_start = len(seen)
    print("\n>>> plug in a USB drive within 60 s", flush=True)
    deadline = time.monotonic() + 60
    while not any(e.action == "add" and not e.boot for e in seen[at_start:]) and time.monotonic() < deadline:
        time.sleep(0.2)
    added = [e for e in seen[at_start:] if e.action == "add" and not e.boot]
    assert added, f"no drive insertion seen; problems: {problems}"
    assert added[0].drive.volumes, "the inserted drive shows no volumes"
    print(">>> now pull it out within 60 s", flush=True)
    deadline = time.monotonic() + 60
    while not any(e.action == "remove" for e in seen) and time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    assert any(e.action == "remove" and e.drive.key == added[0].drive.key for e in seen)
