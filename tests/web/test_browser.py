"""End to end in real headless Chromium against the real ``gapscan serve --demo`` (cheroot, TLS):
first boot → login → scan demo media → progress reaches 100% → planted hits → report download; hostile
names inert in the browser; screenshots of every page at 1280×800 and tablet width under test-artifacts/."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import ADMIN, ADMIN_PW, HOSTILE_NAMES, PASSPHRASE, Server, make_hostile_media

PLANTED = ("Pictures/misc/known-image-a.jpg", "Downloads/renamed.dat", "Documents/.hidden/known-text.txt")
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "tablet": {"width": 820, "height": 1180}}

pytestmark = pytest.mark.slow


class Watch:
    """Everything the page does that it must not: dialogs (alert), CSP violations, script errors."""

    def __init__(self, page: Any) -> None:
        self.dialogs: list[str] = []
        self.console_errors: list[str] = []
        self.requests: list[str] = []
        page.on("request", lambda req: self.requests.append(req.url))
        page.on("dialog", self._dialog)
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        if dialog.type == "confirm":
            dialog.accept()  # our own "cancel this scan?" confirmations
        else:
            dialog.dismiss()


def shoot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def wait_done(page: Any) -> None:
    page.wait_for_function("document.getElementById('bar') && document.getElementById('bar').value === 100 && "
                           "!document.getElementById('results-link').classList.contains('hidden')", timeout=90_000)


def test_first_boot_to_report_in_a_real_browser(server: Server, browser: Any, artifacts_dir: Path,
                                                tmp_path: Path) -> None:
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", server.fingerprint)
    for old in artifacts_dir.glob("*.png"):
        old.unlink()
    ctx = browser.new_context(ignore_https_errors=True, viewport=VIEWPORTS["desktop"], accept_downloads=True)
    page = ctx.new_page()
    watch = Watch(page)
    page.set_default_timeout(30_000)

    # First boot: every page leads to setup.
    page.goto(server.url + "/results")
    assert page.url.endswith("/setup")
    shoot(page, artifacts_dir, "desktop-01-setup")
    page.fill("input[name=username]", ADMIN)
    page.fill("input[name=password]", ADMIN_PW)
    page.fill("input[name=password2]", ADMIN_PW)
    page.fill("input[name=passphrase]", PASSPHRASE)
    page.fill("input[name=passphrase2]", PASSPHRASE)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/")

    # Log out and back in.
    page.click("text=Log out")
    page.wait_for_url(re.compile(r".*/login$"))
    shoot(page, artifacts_dir, "desktop-02-login")
    page.fill("input[name=username]", ADMIN)
    page.fill("input[name=password]", ADMIN_PW)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/")
    assert page.is_visible("text=Appliance health")
    cookies = {c["name"]: c for c in ctx.cookies()}
    session = cookies["__Host-gapscan-session"]
    assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Strict"

    # Scan the demo media and watch live progress reach 100 %.
    page.click("nav.main >> text=Scan")
    shoot(page, artifacts_dir, "desktop-03-scan")
    page.click("#start-demo")
    page.wait_for_url(re.compile(r".*/scans/[0-9-a-f]+$"))
    scan_id = page.url.rsplit("/", 1)[1]
    wait_done(page)
    assert page.inner_text("[data-field=percent]").startswith("100")
    assert page.inner_text("[data-field=hits]") == "3"
    assert page.inner_text("[data-field=status]") == "finished"
    assert int(page.get_attribute("#progress", "data-updates") or 0) >= 1  # applied from server-sent events
    shoot(page, artifacts_dir, "desktop-04-progress-done")

    # The planted hits, with metadata.
    page.click("#results-link")
    page.wait_for_url(re.compile(f".*/results/{scan_id}$"))
    shown = page.locator("td.path").all_inner_texts()
    assert sorted(shown) == sorted(PLANTED)
    assert page.locator("img").count() == 0
    shoot(page, artifacts_dir, "desktop-05-hits")

    # Reports: download JSON, check contents and the digest the page publishes.
    page.click("nav.tabs >> text=Reports")
    shoot(page, artifacts_dir, "desktop-06-reports")
    with page.expect_download() as info:
        page.click("#download-json")
    data = Path(info.value.path()).read_bytes()
    assert hashlib.sha256(data).hexdigest() in page.inner_text("table")
    report = json.loads(data)
    assert report["scan"]["scan_id"] == scan_id and report["scan"]["counts"]["hits"] == 3
    assert {f["path"] for f in report["files"] if f["hits"]} == set(PLANTED)
    page.click("#summary-link")
    assert "3 hit(s)" in page.inner_text("main")
    shoot(page, artifacts_dir, "desktop-07-summary")

    # Hostile names, from a directory whose own name is hostile too, scanned through the UI.
    hostile = make_hostile_media(tmp_path / '"><img src=x onerror=alert(9)>')
    page.goto(server.url + "/scan")
    page.fill("input[name=directory]", str(hostile))
    page.click("text=Scan directory")
    page.wait_for_url(re.compile(r".*/scans/[0-9-a-f]+$"))
    hostile_id = page.url.rsplit("/", 1)[1]
    wait_done(page)
    page.goto(f"{server.url}/results/{hostile_id}")
    texts = page.locator("td.path").all_inner_texts()
    expected = {"<script>alert(1)<script>.txt", '"><img src=x onerror=alert(2)>.txt', "invoice-\\u202etxt.exe",
                "bad-\\xff\\xfe-utf8.txt"}
    assert set(texts) == expected, texts
    assert len(HOSTILE_NAMES) == len(expected)
    assert page.locator("img").count() == 0 and page.locator("main script").count() == 0
    shoot(page, artifacts_dir, "desktop-08-hostile-hits")
    for path in ("/", "/results", "/audit", f"/reports/{hostile_id}/summary", f"/results/{hostile_id}/problems"):
        page.goto(server.url + path)
        assert page.locator("img").count() == 0, path
        assert "onerror=alert(9)" in page.inner_text("body") or path.endswith("problems"), path
    shoot(page, artifacts_dir, "desktop-09-problems")

    # Add an operator through the Settings form.
    page.goto(server.url + "/settings")
    form = page.locator("form", has=page.locator("text=Add a user"))
    form.locator("input[name=username]").fill("operator1")
    form.locator("input[name=password]").fill("Night-Shift-Op-2026")
    form.locator("input[name=password2]").fill("Night-Shift-Op-2026")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("text=Created operator operator1")

    # The remaining pages, for the record.
    for n, path in enumerate(("/", "/results", "/hashlists", "/updates", "/audit", "/settings", "/account"), 10):
        page.goto(server.url + path)
        shoot(page, artifacts_dir, f"desktop-{n:02d}-{path.strip('/') or 'dashboard'}")

    # Tablet width: every page still usable (no horizontal overflow of the page itself).
    page.set_viewport_size(VIEWPORTS["tablet"])
    tablet_pages = {"dashboard": "/", "scan": "/scan", "progress": f"/scans/{scan_id}", "hits": f"/results/{scan_id}",
                    "reports": f"/reports/{scan_id}", "results": "/results", "hashlists": "/hashlists",
                    "updates": "/updates", "audit": "/audit", "settings": "/settings"}
    for n, (name, path) in enumerate(tablet_pages.items(), 1):
        page.goto(server.url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} overflows the tablet width by {overflow}px"
        shoot(page, artifacts_dir, f"tablet-{n:02d}-{name}")

    assert watch.dialogs == [], f"a hostile name ran script: {watch.dialogs}"
    assert [e for e in watch.console_errors if "Content Security Policy" in e] == []
    assert watch.console_errors == [], watch.console_errors
    foreign = [u for u in watch.requests if not u.startswith(server.url + "/")]
    assert foreign == [], f"external assets requested: {foreign}"  # the site has no internet
    assert any(u.endswith("/static/app.js") for u in watch.requests)
    ctx.close()


def test_console_prints_the_certificate_fingerprint_the_browser_sees(server: Server) -> None:
    import ssl

    pem = ssl.get_server_certificate(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    der = ssl.PEM_cert_to_DER_cert(pem)
    assert ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest()) == server.fingerprint
    assert "gapscan web UI: https://" in server.console
    assert os.path.exists(server.state_dir / "tls" / "key.pem")
    assert (server.state_dir / "tls" / "key.pem").stat().st_mode & 0o077 == 0
