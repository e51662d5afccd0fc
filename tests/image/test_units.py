"""systemd units: they verify, their sandbox is what the README promises, and their exposure score stays low."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.image.conftest import UNIT_DIR, require_tool

UNITS = ("gapscand.service", "gapscan-web.service", "gapscan-firstboot.service")
# systemd-analyze security exposure (0 = fully sandboxed, 10 = unprotected); README.md records the figures.
MAX_EXPOSURE = {"gapscand.service": 1.5, "gapscan-web.service": 1.7, "gapscan-firstboot.service": 0.5}
# Programs that only exist inside the image, replaced by a stub so systemd-analyze can check the rest.
IMAGE_ONLY_PROGRAMS = ("/usr/bin/gapscand", "/usr/bin/gapscan", "/opt/gapscan/venv/bin/python",
                       "/opt/gapscan/venv/bin/gapscan")


def unit_settings(name: str) -> dict[str, list[str]]:
    """Every Key=value of a unit file, in order (keys may repeat, as DeviceAllow= does)."""
    settings: dict[str, list[str]] = {}
    for line in (UNIT_DIR / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


@pytest.fixture(scope="module")
def stubbed_units(tmp_path_factory) -> Path:
    """Copies of the units whose image-only ExecStart programs point at a stub that exists here."""
    d = tmp_path_factory.mktemp("units")
    stub = d / "stub"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    for name in UNITS:
        text = (UNIT_DIR / name).read_text()
        for program in IMAGE_ONLY_PROGRAMS:
            text = re.sub(rf"(?<=[=+-]){re.escape(program)}(?=\s|$)", str(stub), text, flags=re.M)
        (d / name).write_text(text)
    return d


def test_units_pass_systemd_analyze_verify(stubbed_units):
    analyze = require_tool("systemd-analyze")
    result = subprocess.run([analyze, "verify", "--man=no", *(str(stubbed_units / u) for u in UNITS)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # An unknown or misspelt key is only a warning to systemd, which would silently drop that protection.
    assert result.stderr.strip() == ""


def test_verify_would_catch_a_misspelt_protection(stubbed_units, tmp_path):
    analyze = require_tool("systemd-analyze")
    bad = tmp_path / "gapscand.service"
    bad.write_text((stubbed_units / "gapscand.service").read_text().replace("ProtectHome=", "ProtectHom="))
    result = subprocess.run([analyze, "verify", "--man=no", str(bad)], capture_output=True, text=True, timeout=60)
    assert "ProtectHom" in result.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_exposure_score(stubbed_units, unit):
    analyze = require_tool("systemd-analyze")
    result = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", str(stubbed_units / unit)],
                            capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE[unit]


def test_services_run_what_the_interfaces_say():
    assert unit_settings("gapscand.service")["ExecStart"] == ["/usr/bin/gapscand"]
    # INTERFACES.md's `gapscan serve --host 0.0.0.0 --port 443 --state-dir /var/lib/gapscan`, with --state-dir in
    # its global position (accepted by every sub-command).
    assert unit_settings("gapscan-web.service")["ExecStart"] == [
        "/usr/bin/gapscan --state-dir /var/lib/gapscan serve --host 0.0.0.0 --port 443"]


@pytest.mark.parametrize("unit", UNITS)
def test_common_sandbox(unit):
    s = unit_settings(unit)
    for key, value in {"ProtectSystem": "strict", "ReadWritePaths": "/var/lib/gapscan", "PrivateTmp": "yes",
                       "NoNewPrivileges": "yes", "ProtectHome": "yes", "User": "gapscan", "LimitCORE": "0",
                       "SystemCallArchitectures": "native", "RestrictSUIDSGID": "yes"}.items():
        assert s.get(key) == [value], f"{unit}: {key}"
    assert s["SystemCallFilter"][0] == "@system-service"
    assert "RestrictAddressFamilies" in s


def test_daemon_has_no_capabilities_and_reads_usb_disks_read_only():
    s = unit_settings("gapscand.service")
    assert s["CapabilityBoundingSet"] == [""]
    assert s["DevicePolicy"] == ["closed"]
    assert "block-sd r" in s["DeviceAllow"]
    assert not any(a.startswith("block-") and a.endswith("w") for a in s["DeviceAllow"])
    assert "gapscan-media" in s["SupplementaryGroups"][0].split()


def test_daemon_is_watched_by_systemd():
    s = unit_settings("gapscand.service")
    assert s["Type"] == ["notify"]
    assert s["WatchdogSec"] == ["60s"]
    assert s["Restart"] == ["always"]


def test_web_may_only_bind_its_port():
    s = unit_settings("gapscan-web.service")
    assert s["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert s["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
