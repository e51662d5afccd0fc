"""gapscan front-panel line protocol, version 1. Shared verbatim by the host driver (CPython) and the panel
firmware (MicroPython on an RP2040): only bytes, ints and plain functions, no CPython-only modules.

Framing (HDLC-like, so a receiver resynchronises at the next frame after any garbage):

    0x7E | escaped( VERSION | SEQ | TYPE | PAYLOAD... | CRC16_hi | CRC16_lo ) | 0x7E

0x7E and 0x7D inside a frame are sent as 0x7D, byte ^ 0x20. CRC-16/CCITT-FALSE covers VERSION..PAYLOAD.
A frame with a bad CRC, a wrong length or an unknown version is dropped silently; the sender retries when its
acknowledgement does not arrive.

Every host command carries a sequence number and is answered by ACK(seq, status). The panel's button events
carry the panel's own sequence number; the host ACKs them and the panel resends until it does (the host drops
duplicates by seq). At connect the host sends HELLO(nonce) until it gets IDENT(nonce, version, geometry,
firmware) - like Klipper's identify step - so a port that is not a gapscan panel is named as such.
"""

VERSION = 1
FLAG = 0x7E
ESC = 0x7D
MAX_PAYLOAD = 64
MAX_FRAME = 3 + MAX_PAYLOAD + 2

# host -> panel
HELLO = 0x01  # payload: 4-byte nonce
DISPLAY = 0x10  # payload: ROWS*COLS bytes of display text (printable ASCII, space padded)
LEDS = 0x11  # payload: on mask, blink mask
BUZZER = 0x12  # payload: count, on (10 ms units), off (10 ms units)
PING = 0x13  # payload: none (keep-alive)
# panel -> host
ACK = 0x80  # payload: acked seq, status
IDENT = 0x81  # payload: nonce(4), protocol version, cols, rows, firmware version (ASCII)
BUTTON = 0x82  # payload: button id
# both
EVENT_ACK = 0x83  # host -> panel: acknowledges a BUTTON by its seq (payload: seq)

# ACK status codes
OK = 0
UNSUPPORTED = 1
BAD_PAYLOAD = 2

COLS = 16
ROWS = 2

LED_READY = 0x01
LED_SCANNING = 0x02
LED_HIT = 0x04
LED_ERROR = 0x08
LED_NAMES = (("ready", LED_READY), ("scanning", LED_SCANNING), ("hit", LED_HIT), ("error", LED_ERROR))

BUTTON_SCAN = 1
BUTTON_EJECT = 2
BUTTON_NAMES = {BUTTON_SCAN: "SCAN", BUTTON_EJECT: "EJECT"}

TYPE_NAMES = {HELLO: "HELLO", DISPLAY: "DISPLAY", LEDS: "LEDS", BUZZER: "BUZZER", PING: "PING", ACK: "ACK",
              IDENT: "IDENT", BUTTON: "BUTTON", EVENT_ACK: "EVENT_ACK"}


def crc16(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): check value of b"123456789" is 0x29B1."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def encode(seq, msg_type, payload=b""):
    """One complete frame, ready to write."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("payload too long")
    body = bytes((VERSION, seq & 0xFF, msg_type)) + bytes(payload)
    crc = crc16(body)
    body += bytes((crc >> 8, crc & 0xFF))
    out = bytearray((FLAG,))
    for b in body:
        if b in (FLAG, ESC):
            out.append(ESC)
            out.append(b ^ 0x20)
        else:
            out.append(b)
    out.append(FLAG)
    return bytes(out)


class Decoder:
    """Feed it bytes as they arrive; it returns whole, valid frames as (seq, type, payload) tuples.

    Garbage between frames, truncated frames, bad checksums and other protocol versions are counted in
    ``dropped`` and skipped; memory stays bounded whatever arrives.
    """

    def __init__(self):
        self._buf = bytearray()
        self._in_frame = False
        self._escaped = False
        self.dropped = 0
        self.wrong_version = 0

    def feed(self, data):
        frames = []
        for b in data:
            if b == FLAG:
                if self._in_frame and self._buf:
                    frame = self._finish()
                    if frame is not None:
                        frames.append(frame)
                self._in_frame = True
                self._buf = bytearray()
                self._escaped = False
                continue
            if not self._in_frame:
                self.dropped += 1  # noise outside any frame
                continue
            if self._escaped:
                b ^= 0x20
                self._escaped = False
            elif b == ESC:
                self._escaped = True
                continue
            if len(self._buf) >= MAX_FRAME:
                self.dropped += 1
                self._in_frame = False  # overlong: wait for the next flag
                self._buf = bytearray()
                continue
            self._buf.append(b)
        return frames

    def _finish(self):
        buf = self._buf
        self._buf = bytearray()
        if len(buf) < 5:
            self.dropped += 1
            return None
        body = bytes(buf[:-2])
        if crc16(body) != (buf[-2] << 8 | buf[-1]):
            self.dropped += 1
            return None
        if body[0] != VERSION:
            self.wrong_version += 1
            return None
        return (body[1], body[2], bytes(body[3:]))


def display_payload(line1, line2):
    """Two display lines as the DISPLAY payload: printable ASCII only, cut or padded to COLS."""
    return _fit(line1) + _fit(line2)


def _fit(text):
    out = bytearray()
    for ch in str(text)[:COLS]:
        code = ord(ch)
        out.append(code if 32 <= code < 127 else 0x3F)  # '?' for anything the LCD cannot show
    while len(out) < COLS:
        out.append(0x20)
    return bytes(out)


def leds_payload(on_mask, blink_mask=0):
    return bytes((on_mask & 0xFF, blink_mask & 0xFF))


def buzzer_payload(count, on_ms, off_ms):
    return bytes((max(0, min(count, 10)), max(1, min(on_ms // 10, 255)), max(0, min(off_ms // 10, 255))))


def ident_payload(nonce, firmware):
    fw = firmware.encode() if isinstance(firmware, str) else bytes(firmware)
    return bytes(nonce[:4]) + bytes((VERSION, COLS, ROWS)) + fw[:MAX_PAYLOAD - 7]


def parse_ident(payload):
    """IDENT payload -> (nonce, version, cols, rows, firmware) or None when malformed."""
    if len(payload) < 7:
        return None
    return (bytes(payload[:4]), payload[4], payload[5], payload[6], bytes(payload[7:]).decode("ascii", "replace"))
