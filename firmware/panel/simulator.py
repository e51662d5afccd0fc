"""A front panel in software, on a real pseudo-terminal: the host driver cannot tell it from the USB panel.

It runs the panel firmware's own core (``device/core.py``) against a recorded "hardware" (display lines, LEDs,
beeps), so tests exercise the firmware logic too. Like udev's ``/dev/serial/by-id`` link, ``link`` is a stable
symlink to the current pty; ``unplug()`` and ``replug()`` take the tty away and bring a new one behind it.

Run ``python -m firmware.panel.simulator LINK`` to develop against it: it prints the display as it changes and
reads button presses (s = SCAN, e = EJECT) from stdin.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path

from firmware.panel import protocol as P
from firmware.panel.device.core import FIRMWARE, PanelCore


@dataclass
class SimHardware:
    """What a person would see and hear on the panel."""

    lines: tuple[str, str] = ("", "")
    history: list[tuple[str, str]] = field(default_factory=list)
    led_mask: int = 0
    blink_mask: int = 0
    beeps: list[tuple[int, int, int]] = field(default_factory=list)

    def show(self, line1: bytes, line2: bytes) -> None:
        self.lines = (line1.decode("ascii", "replace"), line2.decode("ascii", "replace"))
        self.history.append(self.lines)

    def leds(self, on_mask: int, blink_mask: int) -> None:
        self.led_mask, self.blink_mask = on_mask, blink_mask

    def beep(self, count: int, on_ms: int, off_ms: int) -> None:
        self.beeps.append((count, on_ms, off_ms))

    @property
    def leds_on(self) -> set[str]:
        return {name for name, bit in P.LED_NAMES if self.led_mask & bit}

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.lines).rstrip("\n")


class PanelSimulator:
    def __init__(self, link: str | os.PathLike[str], *, firmware: str = FIRMWARE, plugged: bool = True) -> None:
        self.link = Path(link)
        self.hw = SimHardware()
        self.firmware = firmware
        self.received = bytearray()  # everything the host sent, for inspection
        self._lock = threading.Lock()
        self._master: int | None = None
        self._slave: int | None = None
        self._frozen = False
        self._stop = threading.Event()
        self._core: PanelCore | None = None
        self._thread = threading.Thread(target=self._run, name="panel-sim", daemon=True)
        self._thread.start()
        if plugged:
            self.replug()

    # -- test controls ------------------------------------------------------------------------------
    def replug(self) -> None:
        """Plug the panel in: a fresh pty (and fresh firmware state, as after a power-up) behind ``link``."""
        self.unplug()
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        tmp = self.link.with_name(self.link.name + ".tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(slave))
        os.replace(tmp, self.link)
        with self._lock:
            self._master, self._slave = master, slave
            self._core = PanelCore(self.hw, self._write, self.firmware)

    def unplug(self) -> None:
        """Yank the cable: the tty disappears and the host's reads fail."""
        with self._lock:
            master, slave = self._master, self._slave
            self._master = self._slave = None
            self._core = None
        self.link.unlink(missing_ok=True)
        for fd in (master, slave):
            if fd is not None:
                os.close(fd)

    def freeze(self, frozen: bool = True) -> None:
        """A hung panel: still plugged in, reads nothing, answers nothing."""
        self._frozen = frozen

    def send_raw(self, data: bytes) -> None:
        """Line noise, or a misbehaving device."""
        self._write(data)

    def press(self, button: str) -> None:
        ids = {v: k for k, v in P.BUTTON_NAMES.items()}
        with self._lock:
            core = self._core
        if core is None:
            raise RuntimeError("panel is unplugged")
        with self._lock:
            core.button(ids[button], _ms())

    def wait_for(self, predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.hw):
                return True
            time.sleep(0.02)
        return bool(predicate(self.hw))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.unplug()

    def __enter__(self) -> PanelSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the device loop ----------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        master = self._master
        if master is None:
            return
        # Host not reading (buffer full) or gone: a USB CDC drops it too.
        with contextlib.suppress(OSError):
            os.write(master, data)

    def _run(self) -> None:
        while not self._stop.is_set():
            master = self._master
            if master is None:
                time.sleep(0.02)
                continue
            try:
                ready, _, _ = select.select([master], [], [], 0.02)
            except (OSError, ValueError):
                continue
            data = b""
            if ready:
                try:
                    data = os.read(master, 4096)
                except OSError:  # EIO: host side closed; fine, wait for it to reopen
                    time.sleep(0.02)
                    continue
            with self._lock:
                core = self._core
                if core is None or self._frozen:
                    continue
                if data:
                    self.received += data
                    core.feed(data, _ms())
                core.tick(_ms())


def _ms() -> int:
    return int(time.monotonic() * 1000)


def main(argv: list[str]) -> int:
    link = argv[0] if argv else "/tmp/gapscan-panel"  # noqa: S108 - a developer tool's default
    sim = PanelSimulator(link)
    print(f"panel simulator on {link} -> {os.readlink(link)}; type s (SCAN) or e (EJECT) + Enter, q to quit")
    shown: tuple[str, str] | None = None
    try:
        while True:
            if sim.hw.lines != shown:
                shown = sim.hw.lines
                print(f"[{shown[0]:<16}] leds={','.join(sorted(sim.hw.leds_on)) or '-'}\n[{shown[1]:<16}]")
            if select.select([sys.stdin], [], [], 0.2)[0]:
                line = sys.stdin.readline()
                cmd = line.strip().lower()
                if not line or cmd == "q":
                    break
                if cmd in ("s", "e"):
                    sim.press("SCAN" if cmd == "s" else "EJECT")
    except KeyboardInterrupt:
        pass
    finally:
        sim.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
