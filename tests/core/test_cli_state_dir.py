"""``--state-dir`` may come before or after the sub-command (systemd units and people write both)."""

from __future__ import annotations

import json

from appliance.demo import make_demo


def test_state_dir_after_the_sub_command_is_the_one_used(gapscan, tmp_path):
    demo = make_demo(tmp_path / "demo")
    before, after = tmp_path / "before", tmp_path / "after"
    assert gapscan("--state-dir", before, "scan", demo.media, "--hashlist", demo.hashlist).returncode == 1
    assert gapscan("scan", demo.media, "--hashlist", demo.hashlist, "--state-dir", after).returncode == 1
    listed = {d: [json.loads(x)["source"] for x in gapscan("scans", "--json", "--state-dir", d).stdout.splitlines()]
              for d in (before, after)}
    assert listed == {before: [str(demo.media)], after: [str(demo.media)]}
    # A nested sub-command takes it too; given nowhere, the default (here $GAPSCAN_STATE_DIR) applies.
    assert gapscan("hashlist", "info", "--json", "--state-dir", after).returncode == 0
    assert gapscan("scans", "--json").stdout == ""
