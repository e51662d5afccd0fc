"""``connect(state_dir)`` without a daemon: a local ScanController that runs the self-test before each scan."""

from __future__ import annotations

import hashlib

import pytest

from appliance.demo import make_demo
from appliance.errors import GapscanError
from appliance.results.store import ResultStore
from appliance.scan.control import ScanController, connect


def test_local_controller_gates_scans_on_the_selftest(state_dir, tmp_path, monkeypatch):
    demo = make_demo(tmp_path / "demo")
    ctl = connect(state_dir)
    assert isinstance(ctl, ScanController) and ctl.selftest
    scan_id = ctl.start(str(demo.media), extra_args=["--hashlist", str(demo.hashlist)])
    assert ctl.wait(scan_id, timeout=120) == 1
    with ResultStore.in_state_dir(state_dir) as store:
        assert store.get_scan(scan_id).extra["selftest"]["passed"] is True

    # No way to break the real hash implementation: swap SHA-1 for MD5 in this process, as a bad library would.
    md5 = hashlib.md5
    monkeypatch.setattr(hashlib, "sha1", lambda *a, **k: md5(*a, **k))
    with pytest.raises(GapscanError, match=r"self-test FAILED: digests.*scanning is blocked"):
        ctl.start(str(demo.media))
    with ResultStore.in_state_dir(state_dir) as store:
        assert [s.id for s in store.list_scans()] == [scan_id]  # the refused scan never started
