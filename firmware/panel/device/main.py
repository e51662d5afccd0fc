# gapscan front panel firmware for an RP2040-class board running MicroPython.
#
# Files on the board (copy with: mpremote cp firmware/panel/protocol.py :protocol.py + device/*.py to :):
#   protocol.py (shared with the host, firmware/panel/protocol.py), core.py, lcd.py, config.py, main.py.
# The host talks to us over the USB CDC serial port (sys.stdin / sys.stdout); the REPL is disabled on it by
# reading stdin in raw binary mode here.
import select
import sys
import time

import config
import core
import micropython
import protocol as P
from machine import I2C, PWM, Pin


class Hardware:
    def __init__(self):
        self.lcd = None
        try:
            import lcd

            self.lcd = lcd.Lcd(I2C(config.I2C_ID, sda=Pin(config.I2C_SDA), scl=Pin(config.I2C_SCL)),
                               config.LCD_ADDR)
        except Exception:
            self.lcd = None  # no display fitted: LEDs and buzzer still work
        self.led_pins = {name: Pin(pin, Pin.OUT) for name, pin in config.LED_PINS.items()}
        self.on_mask = 0
        self.blink_mask = 0
        self.buzzer = PWM(Pin(config.BUZZER_PIN))
        self.buzzer.duty_u16(0)
        self.beep_plan = []  # [(until_ms, on)]

    def show(self, line1, line2):
        if self.lcd is not None:
            self.lcd.line(0, line1)
            self.lcd.line(1, line2)

    def leds(self, on_mask, blink_mask):
        self.on_mask, self.blink_mask = on_mask, blink_mask

    def beep(self, count, on_ms, off_ms):
        t = time.ticks_ms()
        plan = []
        for _ in range(count):
            t = time.ticks_add(t, on_ms)
            plan.append((t, True))
            t = time.ticks_add(t, off_ms)
            plan.append((t, False))
        self.beep_plan = plan

    def tick(self, now):
        blink_phase = (now // 400) % 2 == 0
        for name, bit in P.LED_NAMES:
            lit = bool(self.on_mask & bit) and (blink_phase or not self.blink_mask & bit)
            self.led_pins[name].value(1 if lit else 0)
        while self.beep_plan and time.ticks_diff(now, self.beep_plan[0][0]) >= 0:
            self.beep_plan.pop(0)
        if self.beep_plan and self.beep_plan[0][1]:
            self.buzzer.freq(2700)
            self.buzzer.duty_u16(32768)
        else:
            self.buzzer.duty_u16(0)


def main():
    # Frames are binary: a 0x03 byte must not raise KeyboardInterrupt (the REPL's Ctrl-C) in the middle of one.
    micropython.kbd_intr(-1)
    hw = Hardware()
    out = sys.stdout.buffer
    panel = core.PanelCore(hw, out.write)
    hw.show(b"GAPSCAN PANEL   ", b"waiting for host")
    buttons = {P.BUTTON_SCAN: Pin(config.BUTTON_PINS["SCAN"], Pin.IN, Pin.PULL_UP),
               P.BUTTON_EJECT: Pin(config.BUTTON_PINS["EJECT"], Pin.IN, Pin.PULL_UP)}
    last = {b: 1 for b in buttons}
    since = {b: 0 for b in buttons}
    poll = select.poll()
    poll.register(sys.stdin, select.POLLIN)
    stdin = sys.stdin.buffer
    while True:
        now = time.ticks_ms()
        if poll.poll(5):
            data = stdin.read(1)
            if data:
                panel.feed(data, now)
        for b, pin in buttons.items():
            v = pin.value()
            if v != last[b] and time.ticks_diff(now, since[b]) > config.DEBOUNCE_MS:
                since[b] = now
                last[b] = v
                if v == 0:
                    panel.button(b, now)
        panel.tick(now)
        hw.tick(now)


while True:
    try:
        main()
    except Exception as exc:  # never fall back to the REPL on the host's line: show it and start again
        sys.print_exception(exc)
        time.sleep(1)
