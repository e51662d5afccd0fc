"""build.sh and its package lists: lint-clean shell, clear argument errors, no remote-access packages."""

from __future__ import annotations

import subprocess

import pytest

from tests.image.conftest import IMAGE_BUILD, OVERLAY, require_tool

SHELL_SCRIPTS = [IMAGE_BUILD / "build.sh", IMAGE_BUILD / "lib/mkdisk.sh", IMAGE_BUILD / "lib/firewall.sh",
                 IMAGE_BUILD / "lib/check-rootfs.sh", IMAGE_BUILD / "lib/boot-test.sh",
                 OVERLAY / "usr/lib/gapscan/image-customize"]


def package_list(name: str) -> list[str]:
    names = []
    for line in (IMAGE_BUILD / name).read_text().splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry:
            assert "#" in line, f"{name}: '{entry}' needs a '# why' comment"
            names.append(entry)
    return names


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_clean(script):
    shellcheck = require_tool("shellcheck")
    result = subprocess.run([shellcheck, "--severity=style", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_help_and_argument_errors():
    build = str(IMAGE_BUILD / "build.sh")
    helped = subprocess.run([build, "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "--arch amd64|arm64 --out DIR" in helped.stdout
    wrong_arch = subprocess.run([build, "--arch", "riscv64", "--out", "/nonexistent"], capture_output=True, text=True)
    assert wrong_arch.returncode == 2 and "--arch must be amd64 or arm64, not 'riscv64'" in wrong_arch.stderr
    no_out = subprocess.run([build, "--arch", "amd64"], capture_output=True, text=True)
    assert no_out.returncode == 2 and "--out DIR is required" in no_out.stderr
    unknown = subprocess.run([build, "--frobnicate"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "unknown argument '--frobnicate'" in unknown.stderr


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_no_ssh_server_and_nothing_excluded_is_requested(arch):
    requested = set(package_list("packages.txt")) | set(package_list(f"packages-{arch}.txt"))
    excluded = set(package_list("packages.exclude"))
    assert {"openssh-server", "dropbear", "udisks2", "sudo"} <= excluded
    assert not requested & excluded
    assert not any("ssh" in name for name in requested)
    assert {"nftables", "systemd", "udev", "python3-venv", f"linux-image-{arch}"} <= requested
