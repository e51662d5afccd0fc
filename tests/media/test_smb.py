"""`gapscan scan smb://...` against a real Samba server started on loopback (tests/media/samba.py). No SMB mocks."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from appliance.results.store import ResultStore
from tests.media import images
from tests.media.samba import free_port, start_samba, stop_samba, why_no_samba
from tests.media.test_images import ODD

pytestmark = pytest.mark.skipif(why_no_samba() is not None, reason=why_no_samba() or "")


def _populate(root):
    for name in ("known.bin", "docs/report.txt", ODD, "innocent.txt"):
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(images.FILES[name])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("inside/deleted.bin", images.FILES["deleted.bin"])
    (root / "docs" / "bundle.zip").write_bytes(buf.getvalue())
    secret = root / "secret"
    secret.mkdir(mode=0o700)
    (secret / "deleted.bin").write_bytes(images.FILES["deleted.bin"])  # on the list, but the user may not read it
    secret.chmod(0o700)


@pytest.fixture(scope="module")
def samba():
    server, proc, base = start_samba(_populate)
    yield server
    stop_samba(proc, base)


def smb_env(samba, password=None):
    return {"GAPSCAN_SMB_PASSWORD": samba.password if password is None else password}


def test_share_hits_match_and_an_unreadable_folder_is_a_recorded_error(samba, gapscan, media_hashlist, state_dir):
    result = gapscan("scan", samba.url(), "--hashlist", media_hashlist, "--json", env=smb_env(samba))
    assert result.returncode == 1, result.stderr + samba.log.read_text(errors="replace")[-2000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    hits = {h["path"]: h.get("flags", []) for h in lines if "path" in h}
    assert hits == {"known.bin": [], "docs/report.txt": [], ODD: [], "docs/bundle.zip!inside/deleted.bin": ["archive"]}
    summary = lines[-1]["summary"]
    with ResultStore.in_state_dir(state_dir) as store:
        scan = store.get_scan(summary["scan_id"])
        errors = {f.path: f.error for f in store.iter_files(summary["scan_id"]) if f.error}
    assert errors == {b"secret": "cannot list folder: access denied"}
    assert scan.source == samba.url() and scan.source_info["type"] == "smb"
    recorded = json.dumps([scan.source, scan.source_info, scan.options, scan.extra])
    assert samba.password not in recorded + result.stdout + result.stderr


def test_subfolder_url_scans_only_that_folder(samba, gapscan, media_hashlist):
    result = gapscan("scan", samba.url("docs"), "--hashlist", media_hashlist, "--json", "--no-archives",
                     env=smb_env(samba))
    assert result.returncode == 1, result.stderr
    hits = [json.loads(line)["path"] for line in result.stdout.splitlines() if '"path"' in line]
    assert hits == ["report.txt"]


CASES = {
    "wrong-password": "logon failed",
    "no-password": "no SMB password",
    "missing-share": "share 'nosuchshare' not found",
    "missing-folder": "folder 'nope' not found",
    "unreachable": "cannot connect to 127.0.0.1 port",
    "password-in-url": "put no password in the smb:// URL",
}


def _case(case, samba):
    url, env = samba.url(), smb_env(samba)
    if case == "wrong-password":
        env = smb_env(samba, "wrong")
    elif case == "no-password":
        env = {}
    elif case == "missing-share":
        url = url.replace("/evidence", "/nosuchshare")
    elif case == "missing-folder":
        url = samba.url("nope")
    elif case == "unreachable":
        url = f"smb://nobody@127.0.0.1:{free_port()}/evidence"
    elif case == "password-in-url":
        url = url.replace("nobody@", f"nobody:{samba.password}@")
    return url, env


@pytest.mark.parametrize("case", ["wrong-password", "missing-share"])
def test_bad_connections_exit_two_with_a_clear_message(case, samba, gapscan, media_hashlist):
    url, env = _case(case, samba)
    result = gapscan("scan", url, "--hashlist", media_hashlist, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert CASES[case] in result.stderr
    assert samba.password not in result.stderr + result.stdout


def test_every_bad_connection_is_a_clear_error(samba, monkeypatch):
    """The same path ``gapscan scan`` takes (open_scan_source -> GapscanError -> exit 2), in-process for speed."""
    from appliance.errors import GapscanError
    from appliance.scan.sources import open_scan_source

    for case, expect in CASES.items():
        url, env = _case(case, samba)
        monkeypatch.delenv("GAPSCAN_SMB_PASSWORD", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        with pytest.raises(GapscanError) as err:
            open_scan_source(url, {"media": {}})
        assert expect in str(err.value), case
        assert samba.password not in str(err.value)


def test_server_gone_mid_scan_interrupts_the_scan_and_keeps_results(tmp_path, state_dir):
    """The SMB server is killed (SIGKILL, its whole process group) after 6 of the 12 files were handed out: the reader
    raises MediaGone, the scan ends ``interrupted`` with what was hashed before kept."""
    import os
    import signal
    import time

    from appliance.hashlist.index import Matcher
    from appliance.hashlist.loading import load_list_file
    from appliance.results.store import ResultStore
    from appliance.scan.job import ScanJob, ScanOptions
    from appliance.scan.sources import open_scan_source

    def populate(root):
        for i in range(12):
            (root / f"d{i:02}").mkdir()
            (root / f"d{i:02}" / "f.bin").write_bytes(images._blob(100 + i, 50_000))

    server, proc, base = start_samba(populate)
    try:
        hashlist = tmp_path / "l.txt"
        hashlist.write_text("".join(f"{images.md5(images._blob(100 + i, 50_000))}\n" for i in range(12)))
        os.environ["GAPSCAN_SMB_PASSWORD"] = server.password
        try:
            source = open_scan_source(server.url(), {"media": {"archives": False}})
        finally:
            del os.environ["GAPSCAN_SMB_PASSWORD"]
        inner = source.walk

        def walk_then_kill():
            for i, entry in enumerate(inner()):
                if i == 18:  # 12 folders, then one file per folder: 6 files handed out
                    time.sleep(1)  # let the workers finish the files already handed to them
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)
                yield entry

        source.walk = walk_then_kill
        loaded, _ = load_list_file(hashlist)
        with ResultStore.in_state_dir(state_dir) as store:
            job = ScanJob(source, Matcher([loaded]), store, ScanOptions(workers=2))
            counts = job.start({})
            scan = store.get_scan(job.scan_id)
            hits = list(store.iter_hits(job.scan_id))
        source.close()
        assert scan.status == "interrupted"
        assert 0 < len(hits) < 12 and counts.files < 12
    finally:
        stop_samba(proc, base)


def test_user_and_domain_from_the_environment(samba, gapscan, media_hashlist, state_dir):
    url = f"smb://{samba.host}:{samba.port}/{samba.share}/docs"
    env = {**smb_env(samba), "GAPSCAN_SMB_USER": samba.user, "GAPSCAN_SMB_DOMAIN": "WORKGROUP"}
    result = gapscan("scan", url, "--hashlist", media_hashlist, "--json", "--no-archives", env=env)
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])["summary"]
    with ResultStore.in_state_dir(state_dir) as store:
        scan = store.get_scan(summary["scan_id"])
    assert scan.source == f"smb://nobody@{samba.host}:{samba.port}/evidence/docs"
    assert samba.password not in json.dumps([scan.source_info, scan.options])


def test_password_prompt_on_a_terminal(samba, media_hashlist, state_dir):
    """No GAPSCAN_SMB_PASSWORD and a terminal: gapscan asks (getpass: not echoed), the scan runs."""
    import os
    import pty
    import select
    import subprocess
    import sys
    import time

    from tests.conftest import REPO, gapscan_env

    controller, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "appliance", "scan", samba.url("docs"), "--hashlist",
                             str(media_hashlist), "--no-archives", "--no-progress"], stdin=terminal,
                            stdout=terminal, stderr=terminal, cwd=REPO, env=gapscan_env(state_dir),
                            start_new_session=True)
    os.close(terminal)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"SMB password for" not in seen and time.monotonic() < deadline:
            if select.select([controller], [], [], 1)[0]:
                seen += os.read(controller, 4096)
        assert b"SMB password for" in seen, seen
        os.write(controller, samba.password.encode() + b"\n")
        while proc.poll() is None and time.monotonic() < deadline:
            if select.select([controller], [], [], 0.5)[0]:
                try:
                    seen += os.read(controller, 4096)
                except OSError:
                    break
        assert proc.wait(30) == 1, seen
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(controller)
    assert b"HIT report.txt" in seen and samba.password.encode() not in seen
