"""gapscand end to end: a real daemon subprocess, its real Unix socket, real scan subprocesses, the panel
simulator on a real pty. Media events are injected through a FIFO of recorded events (no udev/USB here)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.daemon.client import DaemonClient
from appliance.demo import make_demo
from appliance.errors import GapscanError
from appliance.results.store import ResultStore
from appliance.scan.control import ScanController, connect
from tests.conftest import REPO, gapscan_env
from tests.daemon.conftest import MANY_FILES


def _files_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _shown(panel) -> list[str]:  # every screen the panel displayed, as one string each
    return [" | ".join(line.rstrip() for line in screen) for screen in panel.hw.history]


def test_inserted_drive_is_scanned_and_hits_are_signalled(start_daemon, state_dir, tmp_path):
    demo = make_demo(tmp_path / "demo")
    d = start_daemon("--auto-scan", "on", "--hashlist", str(demo.hashlist))
    assert d.panel.wait_for(lambda hw: hw.lines[0].startswith("GAPSCAN READY"), timeout=10)
    assert d.panel.wait_for(lambda hw: "192.0.2.10" in hw.lines[1], timeout=5)  # idle pages rotate

    second = tmp_path / "second-partition"
    second.mkdir()
    (second / "readme.txt").write_text("hello\n")
    d.inject("add", "/dev/sdb", [{"devnode": str(demo.media), "fstype": "vfat", "label": "STICK",
                                  "used": _files_size(demo.media)},
                                 {"devnode": "/dev/sdb2", "fstype": None, "label": "RAW"},
                                 {"devnode": str(second), "fstype": "ext4", "label": "DATA"}])
    drive = d.wait_drive("/dev/sdb", lambda dr: dr["state"] == "done")
    # Both readable volumes scanned one after the other; the unformatted one skipped.
    assert (drive["hits"], drive["files"], len(drive["scans"])) == (3, 10, 2)
    assert [s["status"] for s in drive["scans"]] == ["finished", "finished"]

    assert d.panel.wait_for(lambda hw: hw.text() == "HITS: 3\nsee web UI", timeout=5)
    assert d.panel.wait_for(lambda hw: hw.text() == "REMOVE DRIVE\nsafe to unplug", timeout=5)
    assert d.panel.wait_for(lambda hw: hw.leds_on == {"hit"}, timeout=5)
    assert d.panel.wait_for(lambda hw: (3, 400, 200) in hw.beeps, timeout=5)

    scan_id = drive["scans"][0]["scan_id"]
    with ResultStore.in_state_dir(state_dir) as store:
        scan = store.get_scan(scan_id)
    assert scan.status == "finished"
    assert scan.extra["selftest"]["passed"] is True  # the self-test ran first and is recorded with the scan
    assert {c["name"] for c in scan.extra["selftest"]["checks"]} >= {"digests", "digests-streamed", "exact-index"}
    assert scan.extra["started_by"] == "auto"

    # Never a hit's file name on the panel; never a hash-list value in the log.
    screens = " ".join(_shown(d.panel))
    for rel in demo.planted:
        assert Path(rel).name not in screens
    log = d.log_text()
    for line in demo.hashlist.read_text().splitlines():
        if line and not line.startswith("#"):
            assert line.split()[0] not in log
    records = d.log_records()  # every line is one JSON object
    ended = [r for r in records if r["event"] == "scan.ended"]
    assert ended and ended[0]["hits"] == 3 and ended[0]["status"] == "finished"
    assert any(r["event"] == "media.volume_skipped" and r["volume"] == "/dev/sdb2" for r in records)
    assert any(r["event"] == "panel.connected" and r["firmware"].startswith("gapscan-panel") for r in records)

    d.inject("remove", "/dev/sdb")
    assert d.panel.wait_for(lambda hw: hw.lines[0].startswith("GAPSCAN READY"), timeout=5)
    assert d.stop() == 0


def test_auto_scan_off_announces_and_waits_for_the_scan_button(start_daemon, state_dir, tmp_path):
    vol = tmp_path / "clean-volume"
    (vol / "docs").mkdir(parents=True)
    for i in range(5):
        (vol / "docs" / f"letter{i}.txt").write_text(f"dear {i}\n")
    demo = make_demo(tmp_path / "demo")
    d = start_daemon("--auto-scan", "off", "--hashlist", str(demo.hashlist))
    d.inject("add", "/dev/sdc", [{"devnode": str(vol), "fstype": "ext4", "used": _files_size(vol)}])
    d.wait_drive("/dev/sdc", lambda dr: dr["state"] == "announced")
    assert d.panel.wait_for(lambda hw: hw.text() == "DRIVE INSERTED\npress SCAN", timeout=5)
    time.sleep(1.0)
    assert d.client.running() == []
    with ResultStore.in_state_dir(state_dir) as store:
        assert store.list_scans() == []  # nothing scanned without being asked

    d.panel.press("SCAN")
    drive = d.wait_drive("/dev/sdc", lambda dr: dr["state"] == "done")
    assert (drive["hits"], drive["files"]) == (0, 5)
    assert d.panel.wait_for(lambda hw: hw.text() == "CLEAN\n5 files", timeout=5)
    assert d.panel.wait_for(lambda hw: hw.leds_on == {"ready"}, timeout=5)
    with ResultStore.in_state_dir(state_dir) as store:
        assert store.get_scan(drive["scans"][0]["scan_id"]).extra["started_by"] == "panel"

    # The web UI's way: scan_drive queues the drive's volumes again.
    assert d.client.scan_drive("/dev/sdc") == 1
    drive = d.wait_drive("/dev/sdc", lambda dr: dr["state"] == "done" and dr["scans"][0]["scan_id"]
                         != drive["scans"][0]["scan_id"])
    with pytest.raises(GapscanError, match="no drive '/dev/nope' is attached"):
        d.client.scan_drive("/dev/nope")
    assert d.stop() == 0


def test_drive_pulled_mid_scan_ends_interrupted_with_results_kept(start_daemon, state_dir, many_files, gapscan):
    d = start_daemon("--auto-scan", "on")
    d.inject("add", "/dev/sdd", [{"devnode": str(many_files), "fstype": "exfat", "used": _files_size(many_files)}])
    drive = d.wait_drive("/dev/sdd", lambda dr: dr["state"] == "scanning")
    assert d.panel.wait_for(lambda hw: re.fullmatch(r"SCANNING \d+%", hw.lines[0].rstrip()) is not None
                            and re.fullmatch(r"\d+ files", hw.lines[1].rstrip()) is not None, timeout=5)
    assert d.panel.wait_for(lambda hw: hw.leds_on == {"scanning"}, timeout=5)
    scan_id = drive["scans"][0]["scan_id"]
    d.inject("remove", "/dev/sdd")

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and d.client.status(scan_id).status == "running":
        time.sleep(0.1)
    status = d.client.status(scan_id)
    assert status.status == "interrupted"
    assert status.files < MANY_FILES
    assert any(r["event"] == "media.removed" and r["interrupted"] == [scan_id] for r in d.log_records())
    assert d.stop() == 0

    done = gapscan("scan", "--resume", scan_id)  # results kept: the resumed scan adds only the rest
    assert done.returncode == 0, done.stderr
    with ResultStore.in_state_dir(state_dir) as store:
        assert store.counts(scan_id)["files"] == MANY_FILES


def test_command_channel_and_sigterm_checkpoint(start_daemon, state_dir, many_files):
    d = start_daemon("--auto-scan", "off")
    assert isinstance(connect(state_dir), DaemonClient)
    info = d.client.ping()
    assert info["panel"]["connected"] is True and info["watchdog"] is True
    shown = subprocess.run([sys.executable, "-m", "appliance", "info"], capture_output=True, text=True,
                           timeout=60, cwd=REPO, env=gapscan_env(state_dir)).stdout
    assert "daemon: running" in shown and "watchdog armed" in shown and "panel: connected" in shown, shown

    with pytest.raises(GapscanError, match="unknown op 'format'"):
        d.client.call("format")
    with pytest.raises(GapscanError, match="'LD_PRELOAD' may not be passed"):
        d.client.start(str(many_files), env={"LD_PRELOAD": "/tmp/evil.so"})
    with socket.socket(socket.AF_UNIX) as raw:  # a confused or hostile client cannot take the channel down
        raw.connect(str(d.client.path))
        raw.sendall(b"{not json\n" + b"x" * 70000 + b"\n")
        reader = raw.makefile("rb")
        replies = reader.readline(), reader.readline()
    assert b"malformed request" in replies[0]
    assert b"request longer than 65536 bytes" in replies[1]
    assert d.client.ping()["ok"] is True

    pets_before = d.watchdog.stat().st_size
    time.sleep(0.5)
    assert d.watchdog.stat().st_size > pets_before  # healthy: petted every 0.1 s

    scan_id = d.client.start(str(many_files))
    assert d.client.running() == [scan_id]
    with pytest.raises(GapscanError, match="busy with scan"):
        d.client.start(str(many_files))  # one scan per device at a time
    assert d.client.enqueue(str(many_files)) == 1  # or queued behind it
    with ResultStore.in_state_dir(state_dir) as store:
        assert store.get_scan(scan_id).extra["started_by"] == "ui"

    assert d.stop(signal.SIGTERM) == 0
    assert ScanController(state_dir).status(scan_id).status == "interrupted"  # checkpointed, resumable
    with ResultStore.in_state_dir(state_dir) as store:
        assert [s.id for s in store.list_scans()] == [scan_id]  # the queued scan was dropped, not started
    assert d.watchdog.read_bytes().endswith(b"V")  # magic close: a clean stop does not reboot the box
    assert not (state_dir / "run" / "gapscand.sock").exists()
    assert any(r["event"] == "scan.checkpointed" and r["scan_id"] == scan_id for r in d.log_records())
    assert d.panel.hw.text() == "GAPSCAN\nSTOPPED"
    assert isinstance(connect(state_dir), ScanController)  # no daemon: a local controller


def test_cancel_and_eject(start_daemon, state_dir, many_files):
    d = start_daemon("--auto-scan", "off")
    scan_id = d.client.start(str(many_files))
    assert d.client.enqueue(str(many_files)) == 1
    assert d.client.cancel(scan_id) is True
    assert d.client.wait(scan_id, timeout=30) == 2
    assert d.client.status(scan_id).status == "interrupted"
    assert d.client.cancel(scan_id) is False
    deadline = time.monotonic() + 30  # the queued scan of the same device starts once the first has ended
    while not (running := d.client.running()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(running) == 1 and running[0] != scan_id
    assert d.client.cancel(running[0]) is True
    assert d.client.wait(running[0], timeout=30) == 2

    # EJECT on the panel mid-scan: the scan stops (resumable) and the panel says it is safe to unplug.
    d.inject("add", "/dev/sdf", [{"devnode": str(many_files), "fstype": "vfat"}])
    d.wait_drive("/dev/sdf", lambda dr: dr["state"] == "announced")
    d.panel.press("SCAN")
    drive = d.wait_drive("/dev/sdf", lambda dr: dr["state"] == "scanning")
    d.panel.press("EJECT")
    drive = d.wait_drive("/dev/sdf", lambda dr: dr["state"] == "done")
    assert drive["scans"][0]["status"] == "interrupted"
    assert d.panel.wait_for(lambda hw: hw.lines[0].rstrip() == "SCAN STOPPED", timeout=5)  # never "CLEAN"
    assert d.panel.wait_for(lambda hw: hw.text() == "REMOVE DRIVE\nsafe to unplug", timeout=5)
    assert d.stop() == 0


BROKEN_SHA1 = """
import hashlib
_md5 = hashlib.md5
hashlib.sha1 = lambda *a, **k: _md5(*a, **k)  # a broken SHA-1 implementation, as a bad library would give
"""


def test_failing_selftest_blocks_scanning(start_daemon, state_dir, tmp_path, gapscan):
    # No real way to break the hash implementation here: a sitecustomize swaps SHA-1 for MD5 in the daemon.
    site = tmp_path / "broken"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BROKEN_SHA1)
    env = {"PYTHONPATH": f"{site}{os.pathsep}{gapscan_env()['PYTHONPATH']}"}
    bad = gapscan("selftest", env=env)
    assert bad.returncode == 2
    assert "FAIL  digests:" in bad.stdout and "scanning is blocked" in bad.stderr

    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "a.txt").write_text("a")
    d = start_daemon("--auto-scan", "on", env=env)
    with pytest.raises(GapscanError, match="self-test FAILED: digests"):
        d.client.start(str(vol))
    d.inject("add", "/dev/sde", [{"devnode": str(vol), "fstype": "vfat"}])
    d.wait_drive("/dev/sde", lambda dr: dr["state"] == "error")
    assert d.panel.wait_for(lambda hw: hw.text() == "ERROR\nSELF-TEST FAILED", timeout=5)
    assert d.panel.wait_for(lambda hw: hw.leds_on == {"error"}, timeout=5)
    with ResultStore.in_state_dir(state_dir) as store:
        assert store.list_scans() == []
    assert d.stop() == 0


def test_selftest_and_info_commands(gapscan, state_dir):
    ok = gapscan("selftest")
    assert ok.returncode == 0, ok.stderr
    assert "PASS  digests:" in ok.stdout and "PASS  exact-index:" in ok.stdout
    info = gapscan("info")
    assert info.returncode == 0, info.stderr
    assert "backend: numpy" in info.stdout and "why:" in info.stdout
    assert f"state dir: {state_dir}" in info.stdout
    assert "daemon: not running" in info.stdout


def test_no_lists_is_never_clean_and_a_second_daemon_is_refused(start_daemon, state_dir, tmp_path):
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "a.txt").write_text("a")
    d = start_daemon("--auto-scan", "on")  # no --hashlist and no installed lists
    d.inject("add", "/dev/sdg", [{"devnode": str(vol), "fstype": "vfat"}])
    d.wait_drive("/dev/sdg", lambda dr: dr["state"] == "done")
    assert d.panel.wait_for(lambda hw: hw.text() == "NOT CHECKED\nno hash lists", timeout=5)
    assert not any(screen[0].startswith("CLEAN") for screen in d.panel.hw.history)

    second = subprocess.run([sys.executable, "-m", "appliance.daemon.service", "--state-dir", str(state_dir),
                             "--panel", "none", "--watchdog", "none", "--media-events", str(d.fifo)],
                            capture_output=True, text=True, timeout=30, cwd=REPO, env=gapscan_env(state_dir))
    assert second.returncode == 2
    assert "another gapscand already answers" in second.stdout
    assert d.stop() == 0


def test_device_keys_group_partitions_and_shares():
    from appliance.daemon.service import device_key

    assert device_key("/dev/sdb1") == device_key("/dev/sdb2") == "/dev/sdb"
    assert device_key("/dev/nvme0n1p3") == "/dev/nvme0n1"
    assert device_key("/dev/mmcblk0p1") == "/dev/mmcblk0"
    assert device_key("smb://alice@NAS:445/Evidence/case1") == device_key("smb://nas/evidence/case2")
    assert device_key("/srv/images/disk.E01") == "/srv/images/disk.E01"


def test_auto_scan_follows_the_web_settings(start_daemon, state_dir, tmp_path):
    from appliance import settings

    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "a.txt").write_text("a")
    settings.update_settings(state_dir, auto_scan=True)
    d = start_daemon()  # no --auto-scan: the web UI's setting decides, read at each insertion
    d.inject("add", "/dev/sdh", [{"devnode": str(vol), "fstype": "vfat"}])
    d.wait_drive("/dev/sdh", lambda dr: dr["state"] == "done")
    settings.update_settings(state_dir, auto_scan=False)
    d.inject("remove", "/dev/sdh")
    d.inject("add", "/dev/sdh", [{"devnode": str(vol), "fstype": "vfat"}])
    time.sleep(1.0)
    assert d.wait_drive("/dev/sdh", lambda dr: dr["state"] == "announced")["scans"] == []
    assert d.stop() == 0


def test_a_release_on_trial_is_marked_good_once_the_daemon_passes_its_selftest(start_daemon, state_dir):
    from appliance.update.software import load_slots, save_slots

    # The A/B state right after a software bundle switched to slot b and `gapscan bundle boot` counted a boot.
    save_slots(state_dir, {**load_slots(state_dir), "current": "b", "previous": "a", "pending": True, "boots": 1})
    d = start_daemon()
    deadline = time.monotonic() + 60
    while load_slots(state_dir)["pending"] and time.monotonic() < deadline:
        time.sleep(0.2)
    slots = load_slots(state_dir)
    assert (slots["current"], slots["pending"], slots["boots"]) == ("b", False, 0)
    assert any(r.get("event") == "software.confirmed" for r in d.log_records())
    assert d.stop() == 0
