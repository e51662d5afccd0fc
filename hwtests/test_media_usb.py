"""A real USB drive (hardware test): set GAPSCAN_HW_USB_DEVICE=/dev/sdX to a drive that may be read (it is only
read). Checks udev sees it as mass storage with its volumes, and a scan leaves its fingerprint unchanged.
Skipped where no such drive is named or udev is not running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.media import attached_media, udev_status
from appliance.results.store import ResultStore

DEVICE = os.environ.get("GAPSCAN_HW_USB_DEVICE")
pytestmark = [pytest.mark.hw, pytest.mark.skipif(not DEVICE, reason="set GAPSCAN_HW_USB_DEVICE=/dev/sdX to run")]


def test_attached_usb_drive_is_listed_as_mass_storage():
    ok, why = udev_status()
    if not ok:
        pytest.skip(why)
    drive = next((d for d in attached_media() if d.devnode == DEVICE), None)
    assert drive is not None, f"{DEVICE} not among {[d.devnode for d in attached_media(mass_storage_only=False)]}"
    assert drive.mass_storage and drive.size > 0 and drive.bus == "usb"


def test_scan_of_the_usb_drive_leaves_it_unchanged(tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAPSCAN_")}
    env.update(GAPSCAN_STATE_DIR=str(state_dir), PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    result = subprocess.run([sys.executable, "-m", "appliance", "scan", str(DEVICE), "--hashlist", str(empty),
                             "--json", "--fingerprint", "quick"], capture_output=True, text=True, timeout=3600, env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])["summary"]
    with ResultStore.in_state_dir(state_dir) as store:
        scan = store.get_scan(summary["scan_id"])
    assert scan.extra["device_fingerprint"]["unchanged"] is True
