# Pin map of the gapscan panel board (RP2040, e.g. a Raspberry Pi Pico). Change here for another layout.
I2C_ID = 0
I2C_SDA = 4
I2C_SCL = 5
LCD_ADDR = 0x27  # HD44780 behind a PCF8574 I2C backpack, 16x2
LED_PINS = {"ready": 10, "scanning": 11, "hit": 12, "error": 13}
BUZZER_PIN = 15
BUTTON_PINS = {"SCAN": 20, "EJECT": 21}  # to ground, internal pull-up
DEBOUNCE_MS = 30
