"""The real front panel answers the handshake, shows text, lights LEDs, beeps and reports buttons."""

from __future__ import annotations

import time

import pytest

from firmware.panel.host import DEFAULT_PORT, PanelHost
from hwtests.conftest import interactive, panel_port


@pytest.fixture
def panel():
    port = panel_port()
    if port is None:
        pytest.skip(f"no front panel: none at {DEFAULT_PORT} and GAPSCAN_PANEL_PORT is not set")
    pressed: list[str] = []
    host = PanelHost(port, on_button=pressed.append).start()
    host.pressed = pressed  # type: ignore[attr-defined]
    try:
        if not host.wait_connected(10):
            pytest.fail(f"the panel at {port} did not answer: {host.state().problem}")
        yield host
    finally:
        host.close()


def test_panel_identifies_and_takes_commands(panel):
    state = panel.state()
    assert state.connected and state.firmware.startswith("gapscan-panel")
    panel.show("HWTEST 1/2", "display ok?")
    panel.set_leds({"ready", "scanning", "hit", "error"})
    panel.beep(1, 100, 0)
    time.sleep(1.0)
    assert panel.state().connected, panel.state().problem  # every command was acknowledged
    panel.set_leds(set())


def test_panel_buttons(panel):
    if not interactive():
        pytest.skip("needs a person to press the buttons: run with GAPSCAN_HW_INTERACTIVE=1")
    panel.show("PRESS SCAN", "then EJECT")
    deadline = time.monotonic() + 60
    while len(panel.pressed) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert panel.pressed[:2] == ["SCAN", "EJECT"]
