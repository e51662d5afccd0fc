"""The daemon's structured log: one JSON object per line, never a digest."""

from __future__ import annotations

import io
import json

import pytest

from appliance.daemon.logs import JsonLog


def test_log_lines_are_json_and_never_carry_digests():
    out = io.StringIO()
    log = JsonLog(out)
    digest = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    log("scan.not_started", level="error", message=f"bad hash list: list.txt: line 3: {digest}: bad label",
        volumes=["/media/x", f"{digest[:40]}"], scan_id="20261130-095008-26f6f7")
    record = json.loads(out.getvalue())
    assert record["event"] == "scan.not_started" and record["level"] == "error"
    assert digest not in out.getvalue() and digest[:32] not in out.getvalue()
    assert "[hex redacted]" in record["message"]
    assert record["scan_id"] == "20261130-095008-26f6f7"  # ids are short enough to stay
    with pytest.raises(ValueError, match="may carry hash values"):
        log("oops", sha256=digest)
