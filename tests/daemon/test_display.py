"""Panel screens: 16 columns, fixed words and numbers only (no media text can reach them)."""

from __future__ import annotations

import inspect

from appliance.daemon import display


def test_screens_fit_the_display_and_say_what_the_issue_asks():
    screens = [
        display.scanning(42, 1234), display.scanning(None, 5), display.scanning(250, 1),
        *display.result(3, 1234, 0), *display.result(0, 1234, 2),
        display.announced(2), display.announced(0), display.error("self-test failed"),
        *display.idle_pages([("ProjectVIC-with-a-long-name", 1234567)], "https://192.168.100.200",
                            "ab:cd:" * 16),
    ]
    for line1, line2 in screens:
        assert len(line1) <= 16 and len(line2) <= 16
        assert all(32 <= ord(c) < 127 for c in line1 + line2)
    assert display.scanning(42, 1234) == ("SCANNING 42%", "1234 files")
    assert display.scanning(250, 1)[0] == "SCANNING 99%"  # never 100% before it is done
    assert display.result(3, 10, 0)[0] == ("HITS: 3", "see web UI")
    assert display.result(0, 10, 0)[0] == ("CLEAN", "10 files")
    assert display.result(0, 10, 0)[-1][0] == "REMOVE DRIVE"
    assert display.result(0, 10, 0, complete=False)[0] == ("SCAN STOPPED", "10 files")  # never "CLEAN" then
    assert display.result(0, 10, 0, checked=False)[0] == ("NOT CHECKED", "no hash lists")  # nor without lists
    idle = display.idle_pages([("nsrl", 7)], "https://10.0.0.5", "AB:CD:EF")
    assert ("GAPSCAN READY", "nsrl v7") in idle and ("WEB UI", "10.0.0.5") in idle
    assert ("CERT SHA-256", "ABCDEF") in idle
    assert display.idle_pages([], None, None)[0] == ("GAPSCAN READY", "NO HASH LISTS")


def test_no_screen_takes_text_from_media():
    # Structural guarantee: the result/progress screens accept numbers only, so no file name can be passed.
    for fn in (display.scanning, display.result, display.announced):
        for name, param in inspect.signature(fn).parameters.items():
            assert param.annotation in ("int", "int | None", "bool"), (fn.__name__, name)
