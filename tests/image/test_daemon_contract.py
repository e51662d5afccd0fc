"""What gapscand.service expects of the daemon: Type=notify and WatchdogSec=60s.

systemd starts gapscand with $NOTIFY_SOCKET (and $WATCHDOG_USEC); the daemon must send READY=1 once it
serves, then WATCHDOG=1 at least every WATCHDOG_USEC/2, or systemd kills and restarts it. This test plays
systemd's side with a real datagram socket and the real daemon process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from tests.conftest import gapscan_env


def test_daemon_reports_ready_and_pets_systemd_watchdog(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    notify_path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_path))
    sock.settimeout(0.5)
    env = gapscan_env(state, NOTIFY_SOCKET=str(notify_path), WATCHDOG_USEC="2000000")
    daemon = subprocess.Popen([sys.executable, "-c", "from appliance.daemon.service import main; main()"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    messages: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and messages.count("WATCHDOG=1") < 2:
            try:
                messages.extend(sock.recv(4096).decode().split("\n"))
            except TimeoutError:
                if daemon.poll() is not None:
                    break
    finally:
        daemon.terminate()
        try:
            _, err = daemon.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            daemon.kill()
            _, err = daemon.communicate()
        sock.close()
        os.unlink(notify_path)
    assert "READY=1" in messages, f"no READY=1 from gapscand (got {messages}); stderr: {err[-2000:]}"
    assert messages.count("WATCHDOG=1") >= 2, f"gapscand did not pet the systemd watchdog (got {messages})"
