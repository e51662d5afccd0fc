"""Host side of the front panel: one background thread that owns the serial port.

The daemon only states what the panel should show (``show``, ``set_leds``, ``beep``); this driver keeps the
panel in that state across everything a USB-serial line does: the panel absent at boot, unplugged and plugged
back (possibly as a new tty behind the same ``/dev/serial/by-id`` link), a panel that resets, stops answering
or sends garbage. Each (re)connect begins with a HELLO/IDENT handshake under a deadline, then the whole desired
state is pushed again. What is wrong is always available as one sentence in ``state().problem``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import serial

from firmware.panel import protocol as P

#: Where udev names the panel (its USB descriptor says "gapscan panel"); a glob, resolved at each connect.
DEFAULT_PORT = "/dev/serial/by-id/usb-*gapscan*panel*"


@dataclass(frozen=True)
class PanelState:
    connected: bool
    port: str  # what was asked for (path or glob)
    device: str | None  # the tty actually open
    firmware: str | None
    problem: str | None  # one sentence saying what is wrong and what to check; None when all is well
    reconnects: int
    garbage_bytes: int


class _Lost(Exception):
    """The session with the panel ended; the message says why."""


class PanelHost:
    def __init__(self, port: str = DEFAULT_PORT, *, baudrate: int = 115200,
                 on_button: Callable[[str], None] | None = None, handshake_timeout: float = 1.5,
                 ack_timeout: float = 0.3, retries: int = 3, retry_interval: float = 1.0,
                 keepalive: float = 1.0, refresh: float = 10.0) -> None:
        self.port = port
        self.baudrate = baudrate
        self.on_button = on_button
        self.handshake_timeout = handshake_timeout
        self.ack_timeout = ack_timeout
        self.retries = retries
        self.retry_interval = retry_interval
        self.keepalive = keepalive
        self.refresh = refresh
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._display = (" " * P.COLS, " " * P.COLS)
        self._leds = (0, 0)
        self._beeps: deque[tuple[int, int, int]] = deque(maxlen=4)
        self._dirty = {"display", "leds"}
        self._state = PanelState(False, port, None, None, "not started", 0, 0)
        self._connected_once = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = 0

    # -- what the daemon calls ----------------------------------------------------------------------
    def start(self) -> PanelHost:
        self._thread = threading.Thread(target=self._run, name="panel", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def show(self, line1: str, line2: str = "") -> None:
        """Set both display lines (cut to 16 columns; non-ASCII shown as '?')."""
        with self._lock:
            if (line1, line2) != self._display:
                self._display = (line1, line2)
                self._dirty.add("display")
        self._wake.set()

    def set_leds(self, on: set[str] | frozenset[str] = frozenset(), blink: set[str] | frozenset[str] = frozenset()
                 ) -> None:
        """LEDs by name: ready, scanning, hit, error."""
        unknown = (set(on) | set(blink)) - {name for name, _ in P.LED_NAMES}
        if unknown:
            raise ValueError(f"unknown LED {sorted(unknown)[0]!r}")
        mask = (sum(bit for name, bit in P.LED_NAMES if name in on), sum(bit for name, bit in P.LED_NAMES
                                                                         if name in blink))
        with self._lock:
            if mask != self._leds:
                self._leds = mask
                self._dirty.add("leds")
        self._wake.set()

    def beep(self, count: int = 1, on_ms: int = 100, off_ms: int = 100) -> None:
        """Sound the buzzer (dropped if the panel is away: a late beep means nothing)."""
        with self._lock:
            if self._state.connected:
                self._beeps.append((count, on_ms, off_ms))
        self._wake.set()

    def state(self) -> PanelState:
        with self._lock:
            return self._state

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state().connected:
                return True
            time.sleep(0.02)
        return False

    # -- the link thread ----------------------------------------------------------------------------
    def _set_state(self, **changes: object) -> None:
        with self._lock:
            self._state = PanelState(**{**self._state.__dict__, **changes})  # type: ignore[arg-type]

    def _resolve(self) -> str | None:
        if any(c in self.port for c in "*?["):
            found = sorted(glob.glob(self.port))
            return found[0] if found else None
        return self.port if os.path.exists(self.port) else None

    def _run(self) -> None:
        while not self._stop.is_set():
            path = self._resolve()
            if path is None:
                self._set_state(connected=False, device=None,
                                problem=f"no front panel at {self.port}: check that its USB cable is plugged in")
                self._stop.wait(self.retry_interval)
                continue
            try:
                link = serial.Serial(path, self.baudrate, timeout=0.05, write_timeout=1.0, exclusive=True)
            except (serial.SerialException, OSError) as exc:
                self._set_state(connected=False, device=path,
                                problem=f"cannot open front panel port {path}: {exc}; check its permissions "
                                        "(the service user needs the dialout group) and that no other program "
                                        "holds it")
                self._stop.wait(self.retry_interval)
                continue
            try:
                self._session(link, path)
            except _Lost as exc:
                self._set_state(connected=False, problem=str(exc))
            except (serial.SerialException, OSError) as exc:
                self._set_state(connected=False,
                                problem=f"front panel at {path} went away ({exc}); waiting for it to come back")
            finally:
                with contextlib.suppress(serial.SerialException, OSError):
                    link.close()
            if not self._stop.is_set():
                self._stop.wait(self.retry_interval)

    def _session(self, link: serial.Serial, path: str) -> None:
        session = _Session(self, link, path)
        firmware = session.handshake()
        with self._lock:
            self._dirty = {"display", "leds"}
            reconnects = self._state.reconnects + (1 if self._connected_once.is_set() else 0)
            self._state = PanelState(True, self.port, path, firmware, None, reconnects, self._state.garbage_bytes)
        self._connected_once.set()
        last_refresh = time.monotonic()
        while not self._stop.is_set():
            with self._lock:
                dirty = set(self._dirty)
                self._dirty.clear()
                display, leds = self._display, self._leds
                beeps = list(self._beeps)
                self._beeps.clear()
            if time.monotonic() - last_refresh > self.refresh:
                dirty |= {"display", "leds"}  # heals a panel that reset without us seeing it
                last_refresh = time.monotonic()
            try:
                if "display" in dirty:
                    session.command(P.DISPLAY, P.display_payload(*display))
                if "leds" in dirty:
                    session.command(P.LEDS, P.leds_payload(*leds))
                for count, on_ms, off_ms in beeps:
                    session.command(P.BUZZER, P.buzzer_payload(count, on_ms, off_ms))
                if time.monotonic() - session.last_heard > self.keepalive:
                    session.command(P.PING)
            except _Lost:
                with self._lock:
                    self._dirty |= dirty  # resend after reconnecting
                raise
            self._wake.clear()
            session.pump(until=time.monotonic() + 0.05)
            self._wake.wait(0.05)
        self._set_state(connected=False, problem="panel driver stopped")

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFF
        return self._seq


class _Session:
    """One open port: framing, acknowledgements and button events."""

    def __init__(self, host: PanelHost, link: serial.Serial, path: str) -> None:
        self.host = host
        self.link = link
        self.path = path
        self.decoder = P.Decoder()
        self.acks: dict[int, int] = {}
        self.ident: tuple[bytes, int, int, int, str] | None = None
        self.last_button: int | None = None
        self.last_heard = time.monotonic()
        self.raw_seen = 0

    def handshake(self) -> str:
        with contextlib.suppress(serial.SerialException, OSError, ValueError):
            self.link.reset_input_buffer()
        nonce = os.urandom(4)
        deadline = time.monotonic() + self.host.handshake_timeout
        while time.monotonic() < deadline and not self.host._stop.is_set():
            self.write(P.encode(self.host._next_seq(), P.HELLO, nonce))
            self.pump(until=min(deadline, time.monotonic() + 0.25), want_ident=True)
            if self.ident is not None and self.ident[0] == nonce:
                _nonce, version, _cols, _rows, firmware = self.ident
                if version != P.VERSION:
                    raise _Lost(f"front panel at {self.path} speaks protocol v{version}, this host v{P.VERSION}: "
                                "flash the panel firmware that matches this gapscan release")
                return firmware
        if self.decoder.wrong_version:
            raise _Lost(f"front panel at {self.path} answers in another protocol version: flash the panel "
                        "firmware that matches this gapscan release")
        what = (f"it sent {self.raw_seen} bytes that were not gapscan panel frames" if self.raw_seen
                else "it sent nothing")
        raise _Lost(f"no front panel answered on {self.path} within {self.host.handshake_timeout:g} s ({what}); "
                    "check that the device on this port is the gapscan panel and that its firmware is flashed")

    def write(self, frame: bytes) -> None:
        try:
            self.link.write(frame)
        except serial.SerialTimeoutException:
            raise _Lost(f"front panel at {self.path} is not taking data; waiting for it to come back") from None

    def command(self, msg_type: int, payload: bytes = b"") -> int:
        """Send one command and wait for its ACK, resending on timeout. Returns the ACK status."""
        seq = self.host._next_seq()
        frame = P.encode(seq, msg_type, payload)
        for _ in range(self.host.retries):
            self.write(frame)
            deadline = time.monotonic() + self.host.ack_timeout
            while time.monotonic() < deadline:
                self.pump(until=deadline, stop_on_ack=seq)
                if seq in self.acks:
                    return self.acks.pop(seq)
        raise _Lost(f"front panel at {self.path} stopped answering ({P.TYPE_NAMES[msg_type]} not acknowledged "
                    f"after {self.host.retries} tries); reconnecting")

    def pump(self, *, until: float, stop_on_ack: int | None = None, want_ident: bool = False) -> None:
        """Read and dispatch whatever arrives until ``until`` (or until the awaited answer is in)."""
        while True:
            try:
                data = self.link.read(max(1, self.link.in_waiting))
            except serial.SerialException as exc:
                raise _Lost(f"front panel at {self.path} was unplugged or reset ({exc}); "
                            "waiting for it to come back") from None
            if data:
                self._dispatch(data)
            if stop_on_ack is not None and stop_on_ack in self.acks:
                return
            if want_ident and self.ident is not None:
                return
            if time.monotonic() >= until:
                return

    def _dispatch(self, data: bytes) -> None:
        before = self.decoder.dropped
        frames = self.decoder.feed(data)
        if self.decoder.dropped != before:
            garbage = self.decoder.dropped - before
            self.raw_seen += garbage
            self.host._set_state(garbage_bytes=self.host.state().garbage_bytes + garbage)
        for seq, msg_type, payload in frames:
            self.last_heard = time.monotonic()
            if msg_type == P.ACK and len(payload) == 2:
                self.acks[payload[0]] = payload[1]
            elif msg_type == P.IDENT:
                self.ident = P.parse_ident(payload)
            elif msg_type == P.BUTTON and len(payload) == 1:
                self.write(P.encode(self.host._next_seq(), P.EVENT_ACK, bytes((seq,))))
                if seq == self.last_button:
                    continue  # our EVENT_ACK was lost and the panel resent it
                self.last_button = seq
                name = P.BUTTON_NAMES.get(payload[0])
                if name and self.host.on_button is not None:
                    # A faulty handler must not take the panel link down.
                    with contextlib.suppress(Exception):
                        self.host.on_button(name)
