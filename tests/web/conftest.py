"""Web UI fixtures: the Flask app on a real state dir (test client over https), a real ``gapscan serve``
subprocess, and real headless Chromium (Debian's, driven by playwright)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, gapscan_env

ADMIN, ADMIN_PW = "admin", "Correct-Horse-42"
OPERATOR, OPERATOR_PW = "oper", "Battery-Staple-77"
PASSPHRASE = "Hash-List-Key-2026!"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def csrf_from(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert m, "page has no CSRF field"
    return m.group(1)


class Client:
    """A Flask test client over https that knows how to fetch a CSRF token and log in."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.http = app.test_client()

    def get(self, path: str, **kw: Any) -> Any:
        return self.http.get(path, base_url="https://localhost", **kw)

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kw: Any) -> Any:
        data = dict(data or {})
        if csrf:
            data["csrf_token"] = self.csrf()
        return self.http.post(path, data=data, base_url="https://localhost", **kw)

    def csrf(self) -> str:
        page = self.get("/account" if self.logged_in else "/login")
        if page.status_code != 200:
            page = self.get("/setup")
        return csrf_from(page.get_data(as_text=True))

    @property
    def logged_in(self) -> bool:
        return self.http.get_cookie("__Host-gapscan-session", domain="localhost") is not None

    def setup(self) -> Any:
        page = self.get("/setup").get_data(as_text=True)
        return self.http.post("/setup", base_url="https://localhost", data={
            "csrf_token": csrf_from(page), "username": ADMIN, "password": ADMIN_PW, "password2": ADMIN_PW,
            "key_protection": "passphrase", "passphrase": PASSPHRASE, "passphrase2": PASSPHRASE})

    def login(self, username: str, password: str) -> Any:
        page = self.get("/login").get_data(as_text=True)
        return self.http.post("/login", base_url="https://localhost",
                              data={"csrf_token": csrf_from(page), "username": username, "password": password})


@pytest.fixture
def app(state_dir: Path) -> Any:
    from web import create_app

    # Cheap Argon2id parameters keep unit tests fast on a 2-core CI box; the served app (test_browser) and
    # test_production_password_hash use the library defaults.
    return create_app(state_dir, config={"TESTING": False, "SSE_INTERVAL": 0.05,
                                         "ARGON2": {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}})


@pytest.fixture
def anon(app: Any) -> Client:
    return Client(app)


@pytest.fixture
def admin(app: Any) -> Client:
    c = Client(app)
    assert c.setup().status_code == 303
    return c


@pytest.fixture
def operator(app: Any, admin: Client) -> Client:
    r = admin.post("/settings/users", {"username": OPERATOR, "role": "operator", "password": OPERATOR_PW,
                                       "password2": OPERATOR_PW})
    assert r.status_code == 303
    c = Client(app)
    assert c.login(OPERATOR, OPERATOR_PW).status_code == 303
    return c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    fingerprint: str
    state_dir: Path
    proc: subprocess.Popen[str]
    console: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The real ``gapscan serve --demo`` in a subprocess (cheroot, TLS), on a free port; one per test module."""
    state = tmp_path_factory.mktemp("serve") / "serve-state"
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "appliance", "--state-dir", str(state), "serve", "--demo",
                             "--port", str(port)], cwd=REPO, env=gapscan_env(state), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    deadline = time.monotonic() + 60
    fingerprint = ""
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("TLS certificate SHA-256 fingerprint:"):
            fingerprint = line.split(":", 1)[1].strip()
            break
    if not fingerprint:
        proc.kill()
        pytest.fail("gapscan serve did not start:\n" + "".join(lines) + (proc.stdout.read() or ""))
    try:
        yield Server(f"https://127.0.0.1:{port}", fingerprint, state, proc, "".join(lines))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: install Debian's chromium (deps/apt/test/web.txt)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, dirs_exist_ok=True)


KNOWN = b"example-3\n"  # the demo list names this content's SHA-256
HOSTILE_NAMES: list[bytes] = [
    b"<script>alert(1)<script>.txt",
    b'"><img src=x onerror=alert(2)>.txt',
    "invoice-\u202etxt.exe".encode(),           # RTL override disguises the extension
    b"bad-\xff\xfe-utf8.txt",                     # invalid UTF-8
]


def make_hostile_media(root: Path) -> Path:
    """A directory whose file names are attacks on a web page; every one holds a known (listed) content."""
    media = root / "hostile"
    media.mkdir(parents=True, exist_ok=True)
    for name in HOSTILE_NAMES:
        with open(os.path.join(os.fsencode(media), name), "wb") as fh:
            fh.write(KNOWN)
    os.mkfifo(media / "a-fifo")  # recorded as skipped
    (media / "plain.txt").write_bytes(b"nothing known\n")
    return media


@pytest.fixture(scope="session")
def scanned_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Two real finished scans (the real CLI in a subprocess), made once: demo media and hostile names."""
    from appliance.demo import make_demo

    root = tmp_path_factory.mktemp("scanned")
    state = root / "state"
    demo = make_demo(state / "demo")
    hostile = make_hostile_media(root)
    ids = {}
    for key, src in (("demo", demo.media), ("hostile", hostile)):
        id_file = root / f"{key}.id"
        r = subprocess.run([sys.executable, "-m", "appliance", "scan", str(src), "--hashlist", str(demo.hashlist),
                            "--id-file", str(id_file), "--no-progress"], capture_output=True, text=True, cwd=REPO,
                           env=gapscan_env(state), timeout=120)
        assert r.returncode == 1, r.stderr
        ids[key] = id_file.read_text().strip()
    return state, ids


@pytest.fixture
def scanned(state_dir: Path, scanned_template: tuple[Path, dict[str, str]]) -> dict[str, str]:
    """This test's state dir holding a copy of the template's results (scan ids as returned) and demo media."""
    template, ids = scanned_template
    for name in ("results.sqlite", "results.sqlite-wal", "results.sqlite-shm"):
        if (template / name).exists():
            shutil.copy2(template / name, state_dir / name)
    copy_tree(template / "demo", state_dir / "demo")
    return dict(ids)
