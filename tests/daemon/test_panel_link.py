"""The front-panel host driver against the panel simulator over a real pseudo-terminal pair.

The simulator runs the panel firmware's own core (firmware/panel/device/core.py) behind a pty; the driver opens
the pty's slave through pyserial exactly as it opens /dev/ttyACM0 on the appliance, via a stable symlink that
stands in for udev's /dev/serial/by-id link.
"""

from __future__ import annotations

import os
import time

import pytest

from firmware.panel import protocol as P
from firmware.panel.host import PanelHost
from firmware.panel.simulator import PanelSimulator


def fast_host(link, **kw) -> PanelHost:
    opts = {"handshake_timeout": 1.0, "ack_timeout": 0.2, "retries": 3, "retry_interval": 0.2, "keepalive": 0.3}
    return PanelHost(str(link), **{**opts, **kw}).start()


@pytest.fixture
def link(tmp_path):
    return tmp_path / "usb-gapscan_panel-if00"


def test_protocol_frames_survive_escaping_and_reject_corruption():
    payload = P.display_payload("~}\x7e\x7d", "é")
    frame = P.encode(0x7E, P.DISPLAY, payload)
    assert frame.count(bytes([P.FLAG])) == 2  # flag bytes inside were escaped
    decoder = P.Decoder()
    assert decoder.feed(frame) == [(0x7E, P.DISPLAY, payload)]
    assert payload[16] == ord("?")  # non-ASCII never reaches the LCD raw
    corrupt = bytearray(frame)
    corrupt[5] ^= 0x01
    assert decoder.feed(bytes(corrupt)) == []
    assert decoder.dropped == 1
    assert P.crc16(b"123456789") == 0x29B1  # CRC-16/CCITT-FALSE check value


def test_connect_show_leds_beep_and_buttons(link):
    pressed: list[str] = []
    with PanelSimulator(link) as sim:
        host = fast_host(link, on_button=pressed.append)
        try:
            assert host.wait_connected(3), host.state().problem
            assert host.state().firmware.startswith("gapscan-panel")
            host.show("SCANNING 42%", "1234 files")
            host.set_leds({"scanning"}, blink={"scanning"})
            host.beep(2, 100, 50)
            assert sim.wait_for(lambda hw: hw.text() == "SCANNING 42%\n1234 files")
            assert sim.wait_for(lambda hw: hw.leds_on == {"scanning"} and hw.blink_mask == P.LED_SCANNING)
            assert sim.wait_for(lambda hw: hw.beeps == [(2, 100, 50)])
            sim.press("SCAN")
            sim.press("EJECT")
            deadline = time.monotonic() + 3
            while len(pressed) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.5)  # the panel resends unacknowledged presses: none may arrive twice
            assert pressed == ["SCAN", "EJECT"]
        finally:
            host.close()


def test_garbage_on_the_line_is_skipped(link):
    with PanelSimulator(link) as sim:
        host = fast_host(link)
        try:
            assert host.wait_connected(3)
            sim.send_raw(os.urandom(300) + b"\x7e\x01\x02\x7e" + bytes(range(256)))
            host.show("CLEAN", "1234 files")
            assert sim.wait_for(lambda hw: hw.text() == "CLEAN\n1234 files")
            assert host.state().connected
            assert host.state().garbage_bytes > 0
        finally:
            host.close()


def test_absent_panel_is_reported_then_found_when_plugged_in(link):
    host = fast_host(link)
    try:
        time.sleep(0.4)
        state = host.state()
        assert not state.connected
        assert "no front panel at" in state.problem and "USB cable" in state.problem
        host.show("GAPSCAN READY", "lists v7")
        with PanelSimulator(link) as sim:
            assert host.wait_connected(3)
            assert sim.wait_for(lambda hw: hw.text() == "GAPSCAN READY\nlists v7")
    finally:
        host.close()


def test_unplug_and_replug_restores_the_display(link):
    with PanelSimulator(link) as sim:
        host = fast_host(link)
        try:
            assert host.wait_connected(3)
            host.show("SCANNING 10%", "5 files")
            assert sim.wait_for(lambda hw: hw.text() == "SCANNING 10%\n5 files")
            sim.unplug()
            deadline = time.monotonic() + 3
            while host.state().connected and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not host.state().connected
            host.show("HITS: 3", "see web UI")  # changed while the panel was away
            sim.hw.lines = ("", "")
            sim.replug()  # a new tty behind the same link, firmware state blank as after power-up
            assert sim.wait_for(lambda hw: hw.text() == "HITS: 3\nsee web UI", timeout=5)
            assert host.state().connected and host.state().reconnects == 1
        finally:
            host.close()


def test_a_hung_panel_is_dropped_and_picked_up_again(link):
    with PanelSimulator(link) as sim:
        host = fast_host(link)
        try:
            assert host.wait_connected(3)
            sim.freeze()
            deadline = time.monotonic() + 5
            while host.state().connected and time.monotonic() < deadline:
                time.sleep(0.02)
            state = host.state()
            assert not state.connected
            assert "stopped answering" in state.problem or "no front panel answered" in state.problem
            sim.freeze(False)
            assert host.wait_connected(5)
            host.show("REMOVE DRIVE", "")
            assert sim.wait_for(lambda hw: hw.text() == "REMOVE DRIVE")
        finally:
            host.close()


def test_a_device_that_is_not_a_panel_is_named(tmp_path, link):
    # A pty whose other end only babbles: e.g. a GPS or modem on the port the settings name.
    master, slave = os.openpty()
    import tty

    tty.setraw(slave)
    link.symlink_to(os.ttyname(slave))
    host = fast_host(link)
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            os.write(master, b"$GPGGA,123519,4807.038,N*47\r\n")
            problem = host.state().problem or ""
            if "no front panel answered" in problem:
                break
            time.sleep(0.1)
        assert "no front panel answered" in problem
        assert "not gapscan panel frames" in problem
        assert not host.state().connected
    finally:
        host.close()
        os.close(master)
        os.close(slave)


def test_firmware_files_compile():
    import py_compile
    from pathlib import Path

    device = Path(P.__file__).parent / "device"
    for path in [*device.glob("*.py"), Path(P.__file__)]:
        py_compile.compile(str(path), doraise=True)


def _frame_v(version: int, seq: int, msg_type: int, payload: bytes) -> bytes:
    body = bytes((version, seq, msg_type)) + payload
    crc = P.crc16(body)
    body += bytes((crc >> 8, crc & 0xFF))
    out = bytearray((P.FLAG,))
    for b in body:
        out += bytes((P.ESC, b ^ 0x20)) if b in (P.FLAG, P.ESC) else bytes((b,))
    return bytes(out) + bytes((P.FLAG,))


def test_a_panel_with_other_protocol_version_is_told_to_update(link):
    import select
    import threading
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    link.symlink_to(os.ttyname(slave))
    stop = threading.Event()

    def future_panel() -> None:  # answers every HELLO, but in protocol v2 frames
        decoder = P.Decoder()
        while not stop.is_set():
            if select.select([master], [], [], 0.05)[0]:
                for seq, msg_type, payload in decoder.feed(os.read(master, 1024)):
                    if msg_type == P.HELLO:
                        os.write(master, _frame_v(2, seq, P.IDENT, payload + b"\x02\x10\x02fw 2.0"))

    t = threading.Thread(target=future_panel, daemon=True)
    t.start()
    host = fast_host(link)
    try:
        deadline = time.monotonic() + 4
        while "another protocol version" not in (host.state().problem or "") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "another protocol version" in host.state().problem
        assert "flash the panel firmware" in host.state().problem
    finally:
        host.close()
        stop.set()
        t.join()
        os.close(master)
        os.close(slave)
