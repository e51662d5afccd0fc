"""What operators and admins see on each page (Flask test client over https, real results and scans)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import time
from pathlib import Path

from tests.web.conftest import Client

PLANTED = ("Pictures/misc/known-image-a.jpg", "Downloads/renamed.dat", "Documents/.hidden/known-text.txt")


def test_every_page_renders_for_an_admin_and_says_what_is_missing(admin: Client, scanned: dict[str, str]) -> None:
    sid = scanned["demo"]
    for path in ("/", "/scan", "/results", f"/results/{sid}", f"/results/{sid}/problems", f"/reports/{sid}",
                 f"/reports/{sid}/summary", "/hashlists", "/updates", "/audit", "/settings", "/account"):
        r = admin.get(path)
        assert r.status_code == 200, path
        assert r.headers["Content-Type"].startswith("text/html")
    dashboard = admin.get("/").get_data(as_text=True)
    assert "Accelerator" in dashboard and ("numpy" in dashboard or "cuda" in dashboard)
    assert "Disk free" in dashboard and sid in dashboard
    if importlib.util.find_spec("appliance.hashlist.store") is None:
        assert "hash-list store not available" in admin.get("/hashlists").get_data(as_text=True)
    if importlib.util.find_spec("appliance.update") is None:
        assert "update engine not available" in admin.get("/updates").get_data(as_text=True)
    if importlib.util.find_spec("appliance.media") is None:
        assert "media layer not available" in dashboard


def test_results_list_hits_with_metadata_and_never_content(admin: Client, scanned: dict[str, str]) -> None:
    html = admin.get(f"/results/{scanned['demo']}").get_data(as_text=True)
    for path in PLANTED:
        assert path in html
    known = (Path(admin.app.config["GAPSCAN_STATE_DIR"]) / "demo/media" / PLANTED[2]).read_bytes()
    assert hashlib.sha256(known).hexdigest() in html
    assert "demo-hashlist.txt v1" in html and "demo-category-" in html
    assert "<img" not in html and "download" not in html.split("<main>")[1].split("Reports")[0]
    assert known.decode().strip() not in html  # the file's content never reaches the page


def test_hits_sort_and_filter(admin: Client, scanned: dict[str, str]) -> None:
    sid = scanned["demo"]

    def paths(query: str) -> list[str]:
        html = admin.get(f"/results/{sid}?{query}").get_data(as_text=True)
        return re.findall(r'<td class="path"><bdi>([^<]*)</bdi>', html)

    by_size = paths("sort=size&dir=desc")
    assert sorted(by_size) == sorted(PLANTED) and by_size[-1] == PLANTED[2]  # the 10-byte text is smallest
    assert paths("sort=size&dir=asc") == list(reversed(by_size))
    assert paths("q=renamed") == [PLANTED[1]]
    assert paths("category=demo-category-2") == [PLANTED[1]]
    assert paths("q=nothing-like-this") == []


def test_hostile_names_render_as_inert_text(admin: Client, scanned: dict[str, str]) -> None:
    sid = scanned["hostile"]
    html = admin.get(f"/results/{sid}").get_data(as_text=True)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;script&gt;.txt" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;.txt" in html
    assert "invoice-\\u202etxt.exe" in html and "\u202e" not in html
    assert "bad-\\xff\\xfe-utf8.txt" in html
    problems = admin.get(f"/results/{sid}/problems").get_data(as_text=True)
    assert "a-fifo" in problems and "skipped" in problems
    for path in ("/results", "/", f"/reports/{sid}/summary"):
        page = admin.get(path).get_data(as_text=True)
        assert "<script>alert" not in page and "<img src=x" not in page


def test_report_downloads_match_their_published_digest(admin: Client, scanned: dict[str, str]) -> None:
    sid = scanned["demo"]
    page = admin.get(f"/reports/{sid}").get_data(as_text=True)
    for fmt in ("json", "csv", "dfxml"):
        r = admin.get(f"/reports/{sid}/download/{fmt}")
        assert r.status_code == 200
        body = r.get_data()
        digest = hashlib.sha256(body).hexdigest()
        assert r.headers["X-Report-SHA256"] == digest and digest in page
        assert f'filename="gapscan-{sid}.' in r.headers["Content-Disposition"]
    report = json.loads(admin.get(f"/reports/{sid}/download/json").get_data())
    hits = {f["path"] for f in report["files"] if f["hits"]}
    assert hits == set(PLANTED)
    summary = admin.get(f"/reports/{sid}/summary").get_data(as_text=True)
    for fact in ("Appliance", "demo-hashlist.txt version 1", "3 hit(s)", "Started", "Finished",
                 hashlib.sha256(admin.get(f"/reports/{sid}/download/csv").get_data()).hexdigest()):
        assert fact in summary
    assert admin.get(f"/reports/{sid}/download/exe").status_code == 404
    assert admin.get("/reports/no-such-scan/download/json").status_code == 404


def test_scan_from_the_ui_runs_in_a_subprocess_and_streams_progress(admin: Client, state_dir: Path) -> None:
    import os

    from appliance.demo import make_demo
    from appliance.settings import update_settings

    demo = make_demo(state_dir / "demo")
    update_settings(state_dir, demo_hashlist=str(demo.hashlist))
    r = admin.post("/scan", {"kind": "demo"})
    assert r.status_code == 303 and "/scans/" in r.headers["Location"]
    sid = r.headers["Location"].rsplit("/", 1)[1]
    controller = admin.app.extensions["gapscan.services"].scans
    assert controller.wait(sid, 120) == 1  # exit 1 = finished with hits, in its own process
    assert controller._procs[sid].pid != os.getpid()
    events = admin.get(f"/scans/{sid}/events").get_data(as_text=True)
    assert "event: end" in events
    last = json.loads(events.split("event: end\ndata: ")[1].split("\n")[0])
    assert last["percent"] == 100.0 and last["hits"] == 3 and last["status"] == "finished"
    assert last["files"] == last["total_files"] == 9
    progress = admin.get(f"/scans/{sid}").get_data(as_text=True)
    assert "100.0%" in progress and "See results" in progress
    audit = admin.get("/audit").get_data(as_text=True)
    assert "scan.start" in audit and sid in audit


def test_progress_events_stream_while_a_scan_runs(admin: Client, tmp_path: Path) -> None:
    big = tmp_path / "many"
    big.mkdir()
    for i in range(60):
        (big / f"f{i}.bin").write_bytes(bytes([i]) * (3 << 20))
    r = admin.post("/scan", {"kind": "directory", "directory": str(big)})
    sid = r.headers["Location"].rsplit("/", 1)[1]
    events = admin.get(f"/scans/{sid}/events").get_data(as_text=True)
    progress = [json.loads(line[6:]) for line in events.splitlines() if line.startswith("data: {")]
    assert progress[-1]["done"] and progress[-1]["percent"] == 100.0 and progress[-1]["files"] == 60
    running = [p for p in progress if p["status"] == "running"]
    assert running, "no progress event was sent while the scan ran"
    assert all(p["stage"] for p in progress) and running[0]["total_files"] == 60
    files = [p["files"] for p in progress]
    assert files == sorted(files)


def test_cancel_stops_a_running_scan(admin: Client, state_dir: Path, tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.mkdir()
    for i in range(40):
        (big / f"f{i}.bin").write_bytes(os.urandom(1) * (4 << 20))
    r = admin.post("/scan", {"kind": "directory", "directory": str(big)})
    sid = r.headers["Location"].rsplit("/", 1)[1]
    r = admin.post(f"/scans/{sid}/cancel")
    assert r.status_code == 303
    controller = admin.app.extensions["gapscan.services"].scans
    controller.wait(sid, 60)
    deadline = time.monotonic() + 10
    while controller.status(sid).status == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert controller.status(sid).status == "interrupted"
    assert "scan.cancel" in admin.get("/audit").get_data(as_text=True)


def test_bad_source_is_refused_with_a_clear_message(admin: Client) -> None:
    r = admin.post("/scan", {"kind": "directory", "directory": "relative/path"}, follow_redirects=True)
    assert "Scan not started: enter an absolute directory path" in r.get_data(as_text=True)
    r = admin.post("/scan", {"kind": "directory", "directory": "/no/such/dir"}, follow_redirects=True)
    assert "is not a directory" in r.get_data(as_text=True)


def test_settings_auto_scan_and_users(admin: Client, state_dir: Path) -> None:
    from appliance.settings import load_settings

    assert admin.post("/settings/auto-scan", {"auto_scan": "on"}).status_code == 303
    assert load_settings(state_dir).auto_scan is True
    admin.post("/settings/auto-scan", {})
    assert load_settings(state_dir).auto_scan is False
    r = admin.post("/settings/users", {"username": "op2", "role": "operator", "password": "weak",
                                       "password2": "weak"}, follow_redirects=True)
    assert "User not created: password must be at least 12 characters long" in r.get_data(as_text=True)
    r = admin.post("/settings/users/admin/remove", follow_redirects=True)
    assert "cannot delete the last admin account" in r.get_data(as_text=True)




def test_unreachable_share_is_refused_and_its_password_never_recorded(admin: Client, state_dir: Path) -> None:
    secret = "Adhoc-Secret-4711"
    r = admin.post("/scan", {"kind": "adhoc", "url": "smb://127.0.0.1:9/evidence", "username": "scanner",
                             "domain": "LAB", "password": secret}, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "Scan not started:" in page and "127.0.0.1" in page
    assert secret not in page
    audit = admin.get("/audit").get_data(as_text=True)
    assert "scan.start" in audit and "refused" in audit and secret not in audit
    assert not any(secret.encode() in p.read_bytes() for p in state_dir.rglob("*") if p.is_file())
    r = admin.post("/scan", {"kind": "adhoc", "url": "smb://user@host/share", "password": "x"}, follow_redirects=True)
    assert "user name in its own field" in r.get_data(as_text=True)


def test_admin_resets_an_operator_password_and_ends_its_sessions(admin: Client, operator: Client) -> None:
    from tests.web.conftest import OPERATOR

    new = "Fresh-Console-Pass-9"
    assert operator.get("/").status_code == 200
    r = admin.post(f"/settings/users/{OPERATOR}/password", {"password": new, "password2": new},
                   follow_redirects=True)
    assert f"New password set for {OPERATOR}" in r.get_data(as_text=True)
    assert operator.get("/").status_code == 303  # the old session is gone
    assert Client(admin.app).login(OPERATOR, new).status_code == 303
