"""The command-line flags of ``gapscand`` / ``gapscan daemon``: plain argparse, kept apart from the service so
that building the ``gapscan`` parser (every command, ``scan`` included) does not import the whole daemon."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--panel", default=None, metavar="PORT",
                   help="front panel serial port or glob (default: /dev/serial/by-id/usb-*gapscan*panel*; "
                        "'none' to run without)")
    p.add_argument("--watchdog", default=None, metavar="DEVICE",
                   help="watchdog device to pet (default: /dev/watchdog when present; 'none' to disable)")
    p.add_argument("--watchdog-interval", type=float, default=5.0, metavar="SECONDS")
    p.add_argument("--hang-timeout", type=float, default=120.0, metavar="SECONDS",
                   help="a thread silent this long counts as hung: the watchdog is no longer petted")
    p.add_argument("--auto-scan", choices=("settings", "on", "off"), default="settings",
                   help="scan inserted drives at once (default: as the web UI's settings say)")
    p.add_argument("--media-events", metavar="FILE",
                   help="read media events as JSON lines from FILE or FIFO instead of udev (development, tests)")
    p.add_argument("--hashlist", action="append", default=[], metavar="FILE",
                   help="hash-list file every scan also uses (default: the installed lists only)")
    p.add_argument("--web-url", help="the web UI address the panel shows (default: first global IPv4)")
    p.add_argument("--page-seconds", type=float, default=3.0, help="how long each panel page shows")
