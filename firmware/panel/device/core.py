# Panel firmware core: protocol handling with no hardware access, so the same code runs on the RP2040
# (MicroPython, driven by main.py) and inside the host-side simulator (CPython), which the tests exercise.
#
# The hardware object given to PanelCore needs: show(line1_bytes, line2_bytes), leds(on_mask, blink_mask),
# beep(count, on_ms, off_ms). ``write`` sends bytes to the host.
try:
    from firmware.panel import protocol as P
except ImportError:  # on the board: flat filesystem
    import protocol as P

FIRMWARE = "gapscan-panel 1.0"
RESEND_MS = 200  # a BUTTON not acknowledged by the host is sent again after this
MAX_PENDING = 8  # button presses kept while the host is away (older ones are dropped)


class PanelCore:
    def __init__(self, hw, write, firmware=FIRMWARE):
        self.hw = hw
        self.write = write
        self.firmware = firmware
        self.decoder = P.Decoder()
        self.seq = 0
        self.pending = []  # [seq, frame, last_sent_ms]
        self.commands = 0

    def feed(self, data, now_ms):
        for seq, msg_type, payload in self.decoder.feed(data):
            self.handle(seq, msg_type, payload, now_ms)

    def handle(self, seq, msg_type, payload, now_ms):
        self.commands += 1
        if msg_type == P.HELLO:
            if len(payload) != 4:
                self.ack(seq, P.BAD_PAYLOAD)
                return
            # A new host session: forget button presses from before it.
            self.pending = []
            self.write(P.encode(seq, P.IDENT, P.ident_payload(payload, self.firmware)))
        elif msg_type == P.DISPLAY:
            if len(payload) != P.COLS * P.ROWS:
                self.ack(seq, P.BAD_PAYLOAD)
                return
            self.hw.show(payload[:P.COLS], payload[P.COLS:])
            self.ack(seq, P.OK)
        elif msg_type == P.LEDS:
            if len(payload) != 2:
                self.ack(seq, P.BAD_PAYLOAD)
                return
            self.hw.leds(payload[0], payload[1])
            self.ack(seq, P.OK)
        elif msg_type == P.BUZZER:
            if len(payload) != 3:
                self.ack(seq, P.BAD_PAYLOAD)
                return
            self.hw.beep(payload[0], payload[1] * 10, payload[2] * 10)
            self.ack(seq, P.OK)
        elif msg_type == P.PING:
            self.ack(seq, P.OK)
        elif msg_type == P.EVENT_ACK:
            if len(payload) == 1:
                self.pending = [p for p in self.pending if p[0] != payload[0]]
        else:
            self.ack(seq, P.UNSUPPORTED)

    def ack(self, seq, status):
        self.write(P.encode(seq, P.ACK, bytes((seq & 0xFF, status))))

    def button(self, button_id, now_ms):
        """A debounced press of a button: report it until the host acknowledges."""
        self.seq = (self.seq + 1) & 0xFF
        frame = P.encode(self.seq, P.BUTTON, bytes((button_id,)))
        self.pending.append([self.seq, frame, now_ms])
        if len(self.pending) > MAX_PENDING:
            self.pending.pop(0)
        self.write(frame)

    def tick(self, now_ms):
        for item in self.pending:
            if now_ms - item[2] >= RESEND_MS:
                item[2] = now_ms
                self.write(item[1])
