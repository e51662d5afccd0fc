"""Security properties of the web UI, through Flask's own routing (every route, not a sample)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.web.conftest import ADMIN, ADMIN_PW, OPERATOR, Client

PUBLIC = {"auth.login", "auth.setup", "static"}
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def _routes(app: Any) -> list[tuple[str, str, str]]:
    """(endpoint, method, concrete URL) for every rule, placeholders filled with harmless values."""
    out = []
    for rule in app.url_map.iter_rules():
        values = {arg: "20260101-000000-abcdef" if arg == "scan_id" else "x" for arg in rule.arguments}
        if "fmt" in rule.arguments:
            values["fmt"] = "json"
        if rule.endpoint == "static":
            values["filename"] = "app.css"
        with app.test_request_context(base_url="https://localhost"):
            from flask import url_for

            url = url_for(rule.endpoint, **values)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, url))
    return out


def _view(app: Any, endpoint: str) -> Any:
    return app.view_functions[endpoint]


def test_every_route_except_login_setup_static_requires_authentication(admin: Client) -> None:
    anon = Client(admin.app)
    routes = _routes(admin.app)
    assert len(routes) > 25
    for endpoint, method, url in routes:
        if endpoint in PUBLIC:
            continue
        r = anon.http.open(url, method=method, base_url="https://localhost",
                           data={"csrf_token": anon.csrf()} if method in STATE_CHANGING else None)
        assert r.status_code in (303, 401), f"{method} {url} answered {r.status_code} without login"
        if r.status_code == 303:
            assert "/login" in r.headers["Location"], f"{method} {url} redirected elsewhere"


def test_every_state_changing_route_needs_csrf_and_the_right_role(admin: Client, operator: Client) -> None:
    checked = 0
    routes = sorted(_routes(admin.app), key=lambda r: r[0] == "auth.logout")  # logging out last
    for endpoint, method, url in routes:
        if method not in STATE_CHANGING or endpoint in PUBLIC:
            continue
        checked += 1
        # Without a token, even the admin is refused before the view runs.
        r = admin.http.open(url, method=method, base_url="https://localhost", data={"x": "1"})
        assert r.status_code == 400, f"{method} {url} without CSRF answered {r.status_code}"
        r = admin.http.open(url, method=method, base_url="https://localhost", data={"csrf_token": "0" * 64})
        assert r.status_code == 400, f"{method} {url} with a wrong CSRF token answered {r.status_code}"
        # With a valid token, an operator reaches only operator views.
        role = getattr(_view(admin.app, endpoint), "gapscan_role", "operator")
        r = operator.http.open(url, method=method, base_url="https://localhost",
                               data={"csrf_token": operator.csrf()})
        if role == "admin":
            assert r.status_code == 403, f"operator reached admin-only {method} {url}"
        else:
            assert r.status_code not in (400, 401, 403), f"operator refused at {method} {url}: {r.status_code}"
    assert checked >= 14


def test_admin_pages_are_refused_to_operators(operator: Client) -> None:
    for path in ("/hashlists", "/updates", "/audit", "/settings"):
        assert operator.get(path).status_code == 403
    for path in ("/", "/scan", "/results"):
        assert operator.get(path).status_code == 200


def test_first_boot_redirects_everything_to_setup_and_happens_once(anon: Client) -> None:
    for path in ("/", "/login", "/results", "/settings"):
        r = anon.get(path)
        assert r.status_code == 303 and r.headers["Location"].endswith("/setup")
    weak = anon.http.post("/setup", base_url="https://localhost", data={
        "csrf_token": anon.csrf(), "username": "admin", "password": "short", "password2": "short",
        "key_protection": "passphrase", "passphrase": "Hash-List-Key-2026!", "passphrase2": "Hash-List-Key-2026!"})
    assert weak.status_code == 200 and "at least 12 characters" in weak.get_data(as_text=True)
    assert anon.setup().status_code == 303
    assert anon.get("/").status_code == 200  # logged in as the new admin
    again = Client(anon.app)
    assert again.get("/setup").headers["Location"].endswith("/login")


def test_security_headers_and_cookie_flags(admin: Client) -> None:
    r = admin.get("/")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    html = r.get_data(as_text=True)
    assert "<script>" not in html and "onclick" not in html and "style=" not in html
    fresh = Client(admin.app)
    page = fresh.get("/login")
    cookies = page.headers.getlist("Set-Cookie")
    login = fresh.http.post("/login", base_url="https://localhost",
                            data={"csrf_token": fresh.csrf(), "username": ADMIN, "password": ADMIN_PW})
    cookies += login.headers.getlist("Set-Cookie")
    session = [c for c in cookies if c.startswith("__Host-gapscan-session=")]
    assert session, cookies
    for c in cookies:
        assert "Secure" in c and "HttpOnly" in c and "SameSite=Strict" in c and "Path=/" in c, c


def test_login_is_throttled_per_account_and_per_address(admin: Client) -> None:
    c = Client(admin.app)
    for _ in range(5):
        assert c.login(ADMIN, "wrong password!").status_code == 401
    r = c.login(ADMIN, ADMIN_PW)
    assert r.status_code == 429 and "Too many failed logins" in r.get_data(as_text=True)
    # A different account from the same address is refused too (per-address limit).
    assert c.login("someone", "whatever").status_code == 429
    records = admin.get("/audit").get_data(as_text=True)
    assert records.count("refused") >= 5 and "throttled" in records


def test_idle_session_expires(app: Any, admin: Client) -> None:
    app.config["IDLE_TIMEOUT"] = 0.3
    assert admin.get("/").status_code == 200
    time.sleep(0.5)
    r = admin.get("/")
    assert r.status_code == 303 and "/login" in r.headers["Location"] and "ended=1" in r.headers["Location"]
    assert "Your session ended" in admin.get(r.headers["Location"]).get_data(as_text=True)


def test_logout_ends_the_session_server_side(admin: Client) -> None:
    token = admin.http.get_cookie("__Host-gapscan-session", domain="localhost").value
    assert admin.post("/logout").status_code == 303
    other = Client(admin.app)
    other.http.set_cookie("__Host-gapscan-session", token, domain="localhost")
    assert other.get("/").status_code == 303  # a stolen copy of the cookie is worthless after logout


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_login_next_never_leaves_the_site(admin: Client, target: str) -> None:
    c = Client(admin.app)
    page = c.get("/login")
    r = c.http.post("/login", base_url="https://localhost", query_string={"next": target},
                    data={"csrf_token": c.csrf(), "username": ADMIN, "password": ADMIN_PW})
    assert r.status_code == 303 and r.headers["Location"] == "/"
    assert page.status_code == 200


def test_passwords_are_argon2id_and_share_passwords_encrypted(admin: Client, state_dir: Any) -> None:
    import sqlite3

    db = sqlite3.connect(state_dir / "users.sqlite")
    (pw_hash,) = db.execute("SELECT pw_hash FROM users WHERE username = ?", (ADMIN,)).fetchone()
    assert pw_hash.startswith("$argon2id$") and ADMIN_PW not in pw_hash
    r = admin.post("/settings/shares", {"name": "evidence", "url": "smb://nas.local/evidence",
                                        "username": "scanner", "domain": "LAB", "password": "Share-Secret-99"})
    assert r.status_code == 303
    raw = (state_dir / "settings.json").read_text()
    assert "Share-Secret-99" not in raw and "password_enc" in raw
    from appliance.settings import smb_password

    assert smb_password(state_dir, "evidence") == "Share-Secret-99"
    assert "Share-Secret-99" not in admin.get("/settings").get_data(as_text=True)


def test_operator_cannot_escalate_through_settings(operator: Client, state_dir: Any) -> None:
    r = operator.post("/settings/users", {"username": "mallory", "role": "admin", "password": "Mallory-Pass-123",
                                          "password2": "Mallory-Pass-123"})
    assert r.status_code == 403
    from appliance.users import UserStore

    assert OPERATOR in [u.username for u in UserStore(state_dir).users()]
    assert "mallory" not in [u.username for u in UserStore(state_dir).users()]


def test_production_password_hash_uses_argon2id_defaults(tmp_path: Any) -> None:
    from argon2 import PasswordHasher, extract_parameters

    from appliance.users import UserStore

    store = UserStore(tmp_path)
    store.create("admin", ADMIN_PW, "admin")
    (pw_hash,) = store._db.execute("SELECT pw_hash FROM users").fetchone()
    params = extract_parameters(pw_hash)
    default = PasswordHasher()
    assert pw_hash.startswith("$argon2id$")
    assert (params.time_cost, params.memory_cost) == (default.time_cost, default.memory_cost)
    assert store.authenticate("admin", ADMIN_PW, "127.0.0.1") is not None


def test_per_account_lockout_holds_across_addresses(admin: Client) -> None:
    def attempt(address: str, password: str) -> int:
        c = Client(admin.app)
        page = c.http.get("/login", base_url="https://localhost", environ_base={"REMOTE_ADDR": address})
        from tests.web.conftest import csrf_from

        return c.http.post("/login", base_url="https://localhost", environ_base={"REMOTE_ADDR": address},
                           data={"csrf_token": csrf_from(page.get_data(as_text=True)), "username": ADMIN,
                                 "password": password}).status_code

    for i in range(5):
        assert attempt(f"10.0.0.{i + 1}", "wrong password!") == 401
    assert attempt("10.0.0.99", ADMIN_PW) == 429  # a fresh address does not reset the account's lockout
