"""The scan controller the daemon and web UI use: a real ``gapscan scan`` subprocess per scan."""

from __future__ import annotations

import pytest

from appliance.demo import make_demo
from appliance.errors import GapscanError
from appliance.scan.control import ScanController


def test_started_scan_reports_progress_and_its_hits(state_dir):
    demo = make_demo(state_dir / "demo")
    ctl = ScanController(state_dir)
    scan_id = ctl.start(str(demo.media), extra_args=["--hashlist", str(demo.hashlist)])
    assert ctl.wait(scan_id, timeout=120) == 1  # finished with hits
    status = ctl.status(scan_id)
    assert status is not None
    assert (status.status, status.files, status.hits, status.errors) == ("finished", 9, 3, 0)
    assert ctl.running() == []


def test_a_scan_that_cannot_start_says_why(state_dir, tmp_path):
    ctl = ScanController(state_dir)
    with pytest.raises(GapscanError, match="nope"):
        ctl.start(str(tmp_path / "nope"))
    assert ctl.cancel("no-such-scan") is False
