"""The hardware watchdog exists and can be petted and disarmed (magic close).

Careful: opening /dev/watchdog arms it. If the kernel was built with nowayout, a magic close does not disarm it
and the board would reboot, so then only its presence is checked.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from firmware.watchdog import DEFAULT_DEVICE, Watchdog

SYSFS = Path("/sys/class/watchdog/watchdog0")


def test_watchdog_device_exists():
    if not os.path.exists(DEFAULT_DEVICE):
        pytest.skip(f"no {DEFAULT_DEVICE}: enable the board's watchdog (e.g. dtparam=watchdog=on on a Pi)")
    assert SYSFS.is_dir(), "watchdog device without sysfs entry"
    timeout = int((SYSFS / "timeout").read_text())
    assert 1 <= timeout <= 600


def test_watchdog_pet_and_magic_close():
    if not os.path.exists(DEFAULT_DEVICE):
        pytest.skip(f"no {DEFAULT_DEVICE}")
    nowayout = SYSFS / "nowayout"
    if nowayout.exists() and nowayout.read_text().strip() == "1":
        pytest.skip("watchdog has nowayout set: opening it would reboot the board")
    dog = Watchdog(DEFAULT_DEVICE)
    if not dog.open():
        if "busy" in (dog.problem or "").lower() or _busy():
            pytest.skip("the watchdog is held by another process (gapscand running: good)")
        pytest.fail(dog.problem)
    try:
        assert dog.pet()
    finally:
        dog.close(magic=True)


def _busy() -> bool:
    try:
        fd = os.open(DEFAULT_DEVICE, os.O_WRONLY)
    except OSError as exc:
        return exc.errno == errno.EBUSY
    os.write(fd, b"V")
    os.close(fd)
    return False
