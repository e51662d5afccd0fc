"""Watchdog petting is gated on health. There is no /dev/watchdog here, so a regular file and a FIFO stand in
for the device: each pet is one byte written, and the magic close is a final "V"."""

from __future__ import annotations

import os
import threading
import time

from appliance.daemon.health import Heartbeats
from firmware.watchdog import Petter, Watchdog


def test_petting_stops_when_a_worker_hangs(tmp_path):
    device = tmp_path / "watchdog"
    device.touch()
    beats = Heartbeats(hang_timeout=0.3)
    release = threading.Event()

    def worker() -> None:
        for _ in range(10):  # healthy: working and beating
            beats.beat("worker /dev/sdb")
            time.sleep(0.05)
        release.wait(10)  # then hangs (a stuck read, a deadlock) without beating

    dog = Watchdog(str(device))
    assert dog.open()
    petter = Petter(dog, beats.check, interval=0.05).start()
    t = threading.Thread(target=worker)
    t.start()
    try:
        time.sleep(0.4)
        assert device.stat().st_size > 3  # petted while the worker was healthy
        time.sleep(0.6)  # the worker has been silent longer than the hang timeout
        size = device.stat().st_size
        time.sleep(0.5)
        assert device.stat().st_size == size  # no more pets: the hardware would now reboot the box
        assert "worker /dev/sdb silent for" in petter.last_problem
    finally:
        release.set()
        t.join()
        petter.stop(magic=False)  # a hung daemon never says goodbye
    assert not device.read_bytes().endswith(b"V")


def test_magic_close_through_a_fifo(tmp_path):
    fifo = tmp_path / "watchdog"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        dog = Watchdog(str(fifo))
        assert dog.open() and dog.pet() and dog.pet()
        dog.close(magic=True)
        assert os.read(reader, 16) == b"\0\0V"
    finally:
        os.close(reader)


def test_missing_device_is_reported_not_fatal(tmp_path):
    dog = Watchdog(str(tmp_path / "nope"))
    assert dog.open() is False
    assert "unavailable" in dog.problem and "will not reboot" in dog.problem
    assert dog.pet() is False
    dog.close()
