# Minimal HD44780 16x2 driver over a PCF8574 I2C backpack (4-bit mode). MicroPython only.
import time

_RS = 0x01
_EN = 0x04
_BACKLIGHT = 0x08


class Lcd:
    def __init__(self, i2c, addr):
        self.i2c = i2c
        self.addr = addr
        time.sleep_ms(50)
        for nibble in (0x30, 0x30, 0x30, 0x20):  # reset into 4-bit mode
            self._write4(nibble, 0)
            time.sleep_ms(5)
        for cmd in (0x28, 0x0C, 0x06, 0x01):  # 2 lines, display on, entry mode, clear
            self._cmd(cmd)
        time.sleep_ms(2)

    def _write4(self, nibble, mode):
        data = (nibble & 0xF0) | mode | _BACKLIGHT
        self.i2c.writeto(self.addr, bytes((data | _EN,)))
        self.i2c.writeto(self.addr, bytes((data,)))

    def _send(self, value, mode):
        self._write4(value & 0xF0, mode)
        self._write4((value << 4) & 0xF0, mode)

    def _cmd(self, cmd):
        self._send(cmd, 0)

    def line(self, row, text):
        self._cmd(0x80 | (0x40 if row else 0x00))
        for b in text:
            self._send(b, _RS)
