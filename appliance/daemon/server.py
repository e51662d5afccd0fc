"""The command channel: a Unix socket speaking JSON lines, one request and one reply per line.

Request: ``{"op": "start", ...}``; reply: ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``. The socket
lives in ``state_dir/run/`` (mode 0700 directory, 0660 socket): only the service user and its group (the web
UI) can reach it, so no further authentication is done here; the web UI authenticates people.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import socketserver
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAX_REQUEST = 64 * 1024

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class DaemonAlreadyRunning(Exception):
    pass


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = False
    handle_request_fn: Handler


class _Conn(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        while True:
            line = self.rfile.readline(MAX_REQUEST + 1)
            if not line:
                return
            if len(line) > MAX_REQUEST:
                self._reply({"ok": False, "error": f"request longer than {MAX_REQUEST} bytes"})
                return
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("a request is a JSON object")
            except ValueError as exc:
                self._reply({"ok": False, "error": f"malformed request: {exc}"})
                continue
            try:
                reply = self.server.handle_request_fn(request)
            except Exception as exc:  # one bad request must not take the channel down
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            self._reply(reply)

    def _reply(self, reply: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            self.wfile.write(json.dumps(reply, default=str).encode() + b"\n")
            self.wfile.flush()


class CommandServer:
    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            if _answers(path):
                raise DaemonAlreadyRunning(f"another gapscand already answers on {path}")
            path.unlink()  # stale: left by a daemon that was killed
        self._server = _Server(str(path), _Conn)
        self._server.handle_request_fn = handler
        os.chmod(path, 0o660)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="commands", daemon=True)

    def start(self) -> CommandServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _answers(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()
