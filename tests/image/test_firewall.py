"""The nftables ruleset: it parses, its policies are drop-by-default, and real traffic is filtered as specified."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.image.conftest import IMAGE_BUILD, OVERLAY, require_tool

RULESET = OVERLAY / "etc/nftables.conf"
PROBE = Path(__file__).with_name("nft_probe.py")


def built_ruleset(tmp_path: Path, *flags: str) -> Path:
    """The ruleset exactly as build.sh puts it into the image (lib/firewall.sh)."""
    out = tmp_path / ("nftables" + "".join(flags) + ".conf")
    out.write_text(subprocess.run([str(IMAGE_BUILD / "lib/firewall.sh"), *flags], check=True, capture_output=True,
                                  text=True).stdout)
    return out


def in_own_netns(*cmd: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run cmd as root of a fresh user+network+mount namespace: never touches the host's firewall."""
    require_tool("unshare")
    return subprocess.run(["unshare", "-rnm", "--propagation", "private", *cmd], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("flags", [(), ("--allow-smb",)], ids=["default", "allow-smb"])
def test_ruleset_passes_nft_check(tmp_path, flags):
    nft = require_tool("nft")
    result = in_own_netns(nft, "-c", "-f", str(built_ruleset(tmp_path, *flags)))
    assert result.returncode == 0, result.stderr


def test_nft_check_rejects_a_broken_ruleset(tmp_path):
    """Control: the check above would catch a typo (nft -c really parses, it is not a no-op here)."""
    nft = require_tool("nft")
    broken = tmp_path / "broken.nft"
    broken.write_text(RULESET.read_text().replace("tcp dport 443", "tcp dprot 443", 1))
    result = in_own_netns(nft, "-c", "-f", str(broken))
    assert result.returncode != 0
    assert "dprot" in result.stderr


def loaded_ruleset(path: Path) -> list[dict]:
    nft = require_tool("nft")
    result = in_own_netns("sh", "-c", f'{nft} -f "$1" && {nft} -j list ruleset', "sh", str(path))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["nftables"]


def test_every_hook_drops_by_default(tmp_path):
    items = loaded_ruleset(built_ruleset(tmp_path))
    chains = {item["chain"]["name"]: item["chain"] for item in items if "chain" in item}
    for name in ("input", "forward", "output"):
        assert chains[name]["hook"] == name
        assert chains[name]["policy"] == "drop", name


def tcp_ports(path: Path) -> tuple[set[int], set[int]]:
    """(inbound, outbound) TCP destination ports that some rule matches on."""
    rules = [item["rule"] for item in loaded_ruleset(path) if "rule" in item]
    inbound_ports, outbound_ports = set(), set()
    for rule in rules:
        for expr in rule["expr"]:
            match = expr.get("match", {})
            left = match.get("left", {})
            if left.get("payload", {}).get("protocol") == "tcp" and left["payload"].get("field") == "dport":
                (inbound_ports if rule["chain"] == "input" else outbound_ports).add(match["right"])
    return inbound_ports, outbound_ports


def test_only_port_443_is_ever_accepted_inbound_and_no_tcp_outbound(tmp_path):
    assert tcp_ports(built_ruleset(tmp_path)) == ({443}, set())


def test_allow_smb_opens_only_outbound_445(tmp_path):
    assert tcp_ports(built_ruleset(tmp_path, "--allow-smb")) == ({443}, {445})


@pytest.mark.slow
def test_real_traffic_through_the_ruleset(tmp_path):
    """A LAN client reaches 443 and nothing else; a non-LAN source is dropped; the box reaches nobody."""
    require_tool("ip")
    require_tool("nsenter")
    control = in_own_netns(sys.executable, str(PROBE), "none")
    assert control.returncode == 0, control.stderr
    assert set(json.loads(control.stdout).values()) == {"open"}, "without a firewall every probe must connect"

    result = in_own_netns(sys.executable, str(PROBE), str(built_ruleset(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == EXPECTED


EXPECTED = {
    "lan_to_https": "open",
    "lan_to_8443": "dropped",
    "lan_to_ssh_port": "dropped",
    "non_lan_source_to_https": "dropped",
    "appliance_to_lan_http": "dropped",
    "appliance_to_lan_smb": "dropped",
    "appliance_to_lan_dns": "dropped",
    "appliance_loopback": "open",
}


@pytest.mark.slow
def test_real_traffic_with_allow_smb_reaches_lan_smb_only(tmp_path):
    result = in_own_netns(sys.executable, str(PROBE), str(built_ruleset(tmp_path, "--allow-smb")))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {**EXPECTED, "appliance_to_lan_smb": "open"}
