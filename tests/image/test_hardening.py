"""Static hardening of the image: read-only root, RAM-only scratch space, no swap or hibernation, kernel knobs."""

from __future__ import annotations

from tests.image.conftest import OVERLAY


def fstab() -> list[list[str]]:
    lines = (OVERLAY / "etc/fstab").read_text().splitlines()
    return [line.split() for line in lines if line.strip() and not line.startswith("#")]


def test_root_is_not_remounted_writable_and_state_is_the_only_disk_mount():
    mounts = {fields[1]: fields for fields in fstab()}
    assert "/" not in mounts, "root stays as the kernel mounted it: ro"
    disk_mounts = {point for point, f in mounts.items() if f[2] not in {"tmpfs"}}
    assert disk_mounts == {"/var/lib/gapscan", "/boot/efi"}
    assert mounts["/boot/efi"][3].split(",")[0] == "ro"
    state_opts = mounts["/var/lib/gapscan"][3].split(",")
    assert {"nodev", "nosuid"} <= set(state_opts)


def test_scratch_space_is_ram():
    mounts = {fields[1]: fields for fields in fstab()}
    for point in ("/tmp", "/var/tmp", "/var/log"):
        assert mounts[point][2] == "tmpfs", point
        assert {"nodev", "nosuid", "noexec"} <= set(mounts[point][3].split(",")), point


def test_no_swap_no_hibernation_no_core_dumps():
    assert not any(f[2] == "swap" for f in fstab())
    sleep = (OVERLAY / "etc/systemd/sleep.conf.d/gapscan.conf").read_text()
    assert "AllowHibernation=no" in sleep and "AllowHybridSleep=no" in sleep
    assert "Storage=none" in (OVERLAY / "etc/systemd/coredump.conf.d/gapscan.conf").read_text()
    customize = (OVERLAY / "usr/lib/gapscan/image-customize").read_text()
    assert "systemctl mask swap.target" in customize
    assert "hibernate.target" in customize


def test_sysctl_hardening():
    settings = {}
    for line in (OVERLAY / "etc/sysctl.d/90-gapscan-hardening.conf").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings[key.strip().lstrip("-")] = value.strip()
    expected = {"kernel.kptr_restrict": "2", "kernel.dmesg_restrict": "1", "kernel.unprivileged_bpf_disabled": "1",
                "kernel.kexec_load_disabled": "1", "kernel.sysrq": "0", "fs.suid_dumpable": "0",
                "net.ipv4.ip_forward": "0", "net.ipv4.conf.all.accept_redirects": "0",
                "net.ipv4.tcp_syncookies": "1", "kernel.core_pattern": "|/bin/false"}
    assert {k: settings.get(k) for k in expected} == expected


def test_root_is_locked_and_passwords_are_checked_at_build_time():
    customize = (OVERLAY / "usr/lib/gapscan/image-customize").read_text()
    assert "passwd --lock root" in customize
    assert "usermod --shell /usr/sbin/nologin root" in customize
    assert "usable password" in customize and "empty password" in customize


def test_service_account_cannot_log_in():
    sysusers = (OVERLAY / "usr/lib/sysusers.d/gapscan.conf").read_text()
    assert 'u gapscan - "gapscan appliance" /var/lib/gapscan /usr/sbin/nologin' in sysusers
