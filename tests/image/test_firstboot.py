"""First boot: a device identity made once and kept, and the certificate fingerprint on the console banner."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys

from tests.conftest import gapscan_env
from tests.image.conftest import OVERLAY

FIRSTBOOT = OVERLAY / "usr/lib/gapscan/firstboot.py"
FP = "ab" * 32


def load_firstboot():
    spec = importlib.util.spec_from_file_location("gapscan_firstboot", FIRSTBOOT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_identity_is_made_once_and_kept(tmp_path):
    fb = load_firstboot()
    first = fb.ensure_identity(tmp_path, FP)
    assert re.fullmatch(r"GS-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}", first["device_id"])
    again = fb.ensure_identity(tmp_path, FP)
    assert again == first
    renewed = fb.ensure_identity(tmp_path, "cd" * 32)
    assert renewed["device_id"] == first["device_id"] and renewed["tls_sha256"] == "cd" * 32
    assert (tmp_path / "device.json").stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_corrupt_identity_file_is_replaced_not_fatal(tmp_path):
    (tmp_path / "device.json").write_text("{not json")
    identity = load_firstboot().ensure_identity(tmp_path, FP)
    assert identity["device_id"].startswith("GS-")


def test_banner_shows_fingerprint_and_address_escape(tmp_path):
    state, issue = tmp_path / "state", tmp_path / "issue.d"
    state.mkdir()
    identity = load_firstboot().ensure_identity(state, FP)
    result = subprocess.run([sys.executable, "-I", str(FIRSTBOOT), "banner", "--state-dir", str(state),
                             "--issue-dir", str(issue)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    banner = (issue / "gapscan.issue").read_text()
    assert ":".join(["AB"] * 32) in banner
    assert identity["device_id"] in banner
    assert "https://\\4/" in banner  # agetty fills in the current IPv4 address
    assert ":".join(["AB"] * 32) in result.stdout


def test_banner_without_identity_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-I", str(FIRSTBOOT), "banner", "--state-dir", str(tmp_path),
                             "--issue-dir", str(tmp_path / "issue.d")], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "device.json" in result.stderr


def test_identity_uses_the_web_uis_certificate(tmp_path):
    result = subprocess.run([sys.executable, str(FIRSTBOOT), "identity", "--state-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, env=gapscan_env(tmp_path))
    assert result.returncode == 0, result.stderr
    identity = json.loads((tmp_path / "device.json").read_text())
    from appliance.tls import ensure_certificate

    assert ensure_certificate(tmp_path)[2] == identity["tls_sha256"]


def test_agetty_finds_the_banner():
    """agetty reads /etc/issue.d only (not /run/issue.d) while /etc/issue exists: a link points at the banner."""
    link = OVERLAY / "etc/issue.d/gapscan.issue"
    assert link.is_symlink()
    assert str(link.readlink()) == "/run/issue.d/gapscan.issue"
