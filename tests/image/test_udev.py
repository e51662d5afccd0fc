"""udev rules: only USB mass storage (and hubs, and the front panel) are authorised; USB disks are read-only,
readable by the gapscan-media group only, and never automounted."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.image.conftest import OVERLAY, require_tool
from tests.image.udev_rules import Event, RuleSyntaxError, evaluate, parse

RULES_DIR = OVERLAY / "etc/udev/rules.d"
USB_RULES = RULES_DIR / "70-gapscan-usb-authorize.rules"
MEDIA_RULES = RULES_DIR / "71-gapscan-media.rules"
PROBE = "/bin/sh -c 'echo $kernel > /sys/bus/usb/drivers_probe'"


@pytest.mark.parametrize("path", sorted(RULES_DIR.glob("*.rules")), ids=lambda p: p.name)
def test_rules_parse(path):
    assert parse(path)


def test_reader_rejects_what_udev_would_warn_about(tmp_path):
    for bad in ('ACTION="add"', 'SUBSYSTEM=="usb" ATTR{x}="1"', 'SUBSYTEM=="usb"', 'GOTO="nowhere"',
                'ATTR{x}=1'):
        f = tmp_path / "bad.rules"
        f.write_text(bad + "\n")
        with pytest.raises(RuleSyntaxError):
            parse(f)


def test_udevadm_verify_where_available():
    udevadm = require_tool("udevadm")
    probe = subprocess.run([udevadm, "verify", "--help"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("udevadm verify needs systemd >= 254 (this host's udev has none); the parser test stands in")
    result = subprocess.run([udevadm, "verify", "--resolve-names=never", *map(str, RULES_DIR.glob("*.rules"))],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_udev_itself_reads_the_rules_without_complaint(tmp_path):
    """udev 252's own parser: our rules alone in /etc/udev/rules.d (private mount namespace), then a dry run
    on the loopback interface, which none of our rules touches. A bad key or unknown group is reported."""
    udevadm = require_tool("udevadm")
    rules = tmp_path / "rules.d"
    rules.mkdir()
    for f in RULES_DIR.glob("*.rules"):
        (rules / f.name).write_text(f.read_text())
    group = tmp_path / "group"
    group.write_text(Path("/etc/group").read_text() + "gapscan-media:x:4242:\ngapscan:x:4243:\n"
                     + ("tss:x:4244:\n" if "\ntss:" not in Path("/etc/group").read_text() else ""))
    control = tmp_path / "control.rules"
    control.write_text('SUBSYSTEM=="block", FROB{x}="1"\n')

    def udev_complaints() -> list[str]:
        script = ('mount --bind "$1" /etc/udev/rules.d && mount --bind "$2" /etc/group && '
                  f'{udevadm} test --action=add /sys/class/net/lo')
        result = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                                 str(rules), str(group)], capture_output=True, text=True, timeout=60)
        lines = (result.stdout + result.stderr).splitlines()
        assert any("71-gapscan-media.rules" in line for line in lines), "udev did not read our rules"
        return [line for line in lines if "/etc/udev/rules.d/" in line and not line.startswith("Reading rules")]

    assert udev_complaints() == []
    (rules / "99-control.rules").write_text(control.read_text())
    assert any("Invalid key" in line for line in udev_complaints()), "the control rule must be reported"


def usb_interface(cls: str, vendor: str = "0781", product: str = "5581") -> Event:
    return Event("add", "usb", kernel="1-1:1.0", env={"DEVTYPE": "usb_interface"},
                 attrs={"bInterfaceClass": cls, "authorized": "0"},
                 parent_attrs={"idVendor": vendor, "idProduct": product})


@pytest.fixture(scope="module")
def usb_rules():
    return parse(USB_RULES)


def test_root_hub_makes_new_interfaces_start_unauthorised(usb_rules):
    hub = Event("add", "usb", kernel="usb1", env={"DEVTYPE": "usb_device"},
                attrs={"authorized_default": "0", "interface_authorized_default": "1"})
    assert evaluate(usb_rules, hub).written_attrs["interface_authorized_default"] == "0"


def test_devices_are_configured_but_their_interfaces_are_not_bound(usb_rules):
    device = Event("add", "usb", kernel="1-1", env={"DEVTYPE": "usb_device"}, attrs={"authorized": "0"})
    out = evaluate(usb_rules, device)
    assert out.written_attrs == {"authorized": "1"}
    assert out.run == []


@pytest.mark.parametrize("cls", ["08", "09"], ids=["mass-storage", "hub"])
def test_mass_storage_and_hub_interfaces_are_authorised_and_probed(usb_rules, cls):
    out = evaluate(usb_rules, usb_interface(cls))
    assert out.written_attrs.get("authorized") == "1"
    assert out.run == [PROBE]


@pytest.mark.parametrize("cls", ["03", "02", "0a", "e0", "ef", "ff", "0e", "01", "fe"],
                         ids=["hid", "cdc-comm", "cdc-data", "wireless", "misc-rndis", "vendor", "video", "audio",
                              "app-specific"])
def test_every_other_interface_stays_unauthorised(usb_rules, cls):
    out = evaluate(usb_rules, usb_interface(cls))
    assert out.written_attrs.get("authorized", "0") == "0"
    assert out.run == []


def test_hid_pretending_to_be_the_panel_vendor_is_still_refused(usb_rules):
    out = evaluate(usb_rules, usb_interface("03", vendor="2e8a", product="0005"))
    assert out.written_attrs.get("authorized") == "0"


@pytest.mark.parametrize("cls", ["02", "0a"])
def test_front_panel_serial_is_authorised(usb_rules, cls):
    out = evaluate(usb_rules, usb_interface(cls, vendor="2e8a", product="0005"))
    assert out.written_attrs.get("authorized") == "1"
    assert out.run == [PROBE]


def test_removal_changes_nothing(usb_rules):
    event = usb_interface("08")
    event.action = "remove"
    assert evaluate(usb_rules, event).written_attrs == {}


@pytest.fixture(scope="module")
def media_rules():
    return parse(MEDIA_RULES)


@pytest.mark.parametrize("devtype,kernel", [("disk", "sda"), ("partition", "sda1")])
def test_usb_disks_are_read_only_and_group_readable(media_rules, devtype, kernel):
    out = evaluate(media_rules, Event("add", "block", kernel=kernel, env={"ID_BUS": "usb", "DEVTYPE": devtype}))
    assert (out.group, out.mode) == ("gapscan-media", "0640")
    assert out.run == ["/usr/sbin/blockdev --setro $devnode"]
    assert out.env["UDISKS_IGNORE"] == "1"
    assert out.env["UDISKS_AUTO"] == "0"


@pytest.mark.parametrize("bus", ["ata", "nvme", "scsi"])
def test_internal_disks_keep_their_owner_and_are_never_automounted(media_rules, bus):
    out = evaluate(media_rules, Event("add", "block", kernel="nvme0n1", env={"ID_BUS": bus, "DEVTYPE": "disk"}))
    assert out.group is None and out.mode is None and out.run == []
    assert out.env["UDISKS_IGNORE"] == "1"


@pytest.mark.parametrize("subsystem,kernel,group", [("watchdog", "watchdog", "gapscan"),
                                                    ("watchdog", "watchdog0", "gapscan"),
                                                    ("tpmrm", "tpmrm0", "tss")])
def test_daemon_devices_are_group_accessible(subsystem, kernel, group):
    out = evaluate(parse(RULES_DIR / "72-gapscan-devices.rules"), Event("add", subsystem, kernel=kernel))
    assert (out.group, out.mode) == (group, "0660")


def test_other_devices_keep_their_owner():
    out = evaluate(parse(RULES_DIR / "72-gapscan-devices.rules"), Event("add", "tty", kernel="ttyS0"))
    assert out.group is None


def test_non_block_devices_are_untouched(media_rules):
    out = evaluate(media_rules, Event("add", "tty", kernel="ttyACM0", env={"ID_BUS": "usb"}))
    assert out.group is None and out.env == {"ID_BUS": "usb"}
