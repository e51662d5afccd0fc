"""`gapscan hashlist|unlock|lock|scan` as a user runs them (real CLI in a subprocess)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from appliance.audit import AuditLog
from tests.hashlist.conftest import PASSPHRASE, digests_of


def _all_hex(i: int) -> list[str]:
    return [d.hex() for d in digests_of(i).values()]


def test_import_info_unlock_scan_lock(cli, formats: Path, media: Path, passphrase_file: Path, runtime_dir: Path,
                                      state_dir: Path) -> None:
    r = cli("hashlist", "import", formats / "vics-2.0-cases.json", "--name", "vic", "--passphrase-file",
            passphrase_file)
    assert r.returncode == 0, r.stderr
    assert "imported vic v1 (alert, vics): 4 md5, 4 sha1, 2 sha256, 1 pdq" in r.stdout
    assert "left out 1 record" in r.stdout
    r = cli("hashlist", "import", formats / "NSRLFile.txt", "--name", "nsrl", "--kind", "ignore",
            extra_env={"GAPSCAN_PASSPHRASE": PASSPHRASE})
    assert r.returncode == 0, r.stderr

    info = cli("hashlist", "info")
    assert info.returncode == 0
    assert "vic  v1  alert  format vics" in info.stdout and "category 2: 1" in info.stdout
    info_json = json.loads(cli("hashlist", "info", "--json").stdout)
    assert info_json["locked"] is True
    vic = next(x for x in info_json["lists"] if x["name"] == "vic")
    assert vic["counts"] == {"md5": 4, "sha1": 4, "sha256": 2, "pdq": 1} and vic["size_filter"] is True
    for i in range(1, 6):  # info never prints an entry
        for h in _all_hex(i):
            assert h not in info.stdout.lower() and h not in json.dumps(info_json).lower()

    locked = cli("scan", media, "--no-progress")
    assert locked.returncode == 2 and "locked" in locked.stderr and "gapscan unlock" in locked.stderr

    r = cli("unlock", "--passphrase-file", passphrase_file)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(runtime_dir.stat().st_mode) == 0o700
    tokens = list(runtime_dir.iterdir())
    assert len(tokens) == 1 and stat.S_IMODE(tokens[0].stat().st_mode) == 0o600
    assert not any(runtime_dir.resolve() in p.parents for p in state_dir.rglob("*"))

    r = cli("scan", media, "--no-progress", "--json")
    assert r.returncode == 1, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    hits = {(Path(h["path"]).name, h["list"], h["list_version"], h["label"]) for h in lines if "path" in h}
    assert {(p, lst, v) for p, lst, v, _ in hits} == {(f"file{i}.bin", "vic", 1) for i in (1, 2, 3, 4)}
    assert ("file3.bin", "vic", 1, "category 2") in hits
    summary = lines[-1]["summary"]
    assert summary["known"] == 5  # every example content is in the NSRL (ignore) list
    assert summary["prefiltered"] == 1  # other.bin: no list entry has its size, so it is not hashed

    r = cli("scan", media, "--no-progress", "--json", "--hash-all")
    assert json.loads(r.stdout.splitlines()[-1])["summary"]["prefiltered"] == 0

    assert cli("lock").returncode == 0
    assert not list(runtime_dir.iterdir())
    again = cli("scan", media, "--no-progress")
    assert again.returncode == 2 and "locked" in again.stderr

    with AuditLog.in_state_dir(state_dir) as audit:
        actions = [rec.action for rec in audit.records(newest_first=False)]
        details = json.dumps([rec.details for rec in audit.records()])
    assert actions[:4] == ["hashlist.import", "hashlist.import", "store.unlock", "store.lock"]
    assert not any(h in details for i in range(1, 6) for h in _all_hex(i))


def test_malformed_import_names_line_and_lenient_reports_count(cli, tmp_path: Path, passphrase_file: Path) -> None:
    p = tmp_path / "sigs.hdb"
    p.write_text(f"{digests_of(1)['md5'].hex()}:10:One\n{digests_of(2)['md5'].hex()}:ten:Two\n")
    r = cli("hashlist", "import", p, "--name", "c", "--passphrase-file", passphrase_file)
    assert r.returncode == 2
    assert f"{p}: line 2: size" in r.stderr and "--lenient" in r.stderr
    r = cli("hashlist", "import", p, "--name", "c", "--lenient", "--passphrase-file", passphrase_file)
    assert r.returncode == 0 and "skipped 1 malformed record(s)" in r.stdout


def test_allow_list_suppresses_a_false_positive(cli, formats: Path, media: Path, passphrase_file: Path,
                                                state_dir: Path) -> None:
    pp = ("--passphrase-file", passphrase_file)
    assert cli("hashlist", "import", formats / "clamav.hdb", "--name", "clam", *pp).returncode == 0
    assert cli("unlock", *pp).returncode == 0
    before = cli("scan", media, "--no-progress")
    assert before.returncode == 1 and "file2.bin" in before.stdout
    r = cli("hashlist", "allow", digests_of(2)["md5"].hex(), "--algorithm", "md5", "--list", "clam",
            "--reason", "vendor driver, checked", "--actor", "alice")
    assert r.returncode == 0, r.stderr
    after = cli("scan", media, "--no-progress")
    assert after.returncode == 1 and "file2.bin" not in after.stdout and "file1.bin" in after.stdout
    with AuditLog.in_state_dir(state_dir) as audit:
        rec = next(x for x in audit.records() if x.action == "allowlist.add")
    assert rec.actor == "alice" and rec.details["list"] == "clam" and rec.details["reason"] == "vendor driver, checked"
    assert digests_of(2)["md5"].hex() not in json.dumps(rec.details)
    assert digests_of(2)["md5"] not in (state_dir / "hashlists" / "allow.sqlite").read_bytes()


def test_scan_with_a_damaged_list_exits_2_naming_it(cli, formats: Path, media: Path, passphrase_file: Path,
                                                     state_dir: Path) -> None:
    pp = ("--passphrase-file", passphrase_file)
    assert cli("hashlist", "import", formats / "clamav.hdb", "--name", "clam", *pp).returncode == 0
    assert cli("hashlist", "import", formats / "hashdeep.txt", "--name", "hd", *pp).returncode == 0
    f = state_dir / "hashlists" / "hd.v1.hl"
    f.write_bytes(f.read_bytes()[:-1])
    r = cli("scan", media, "--no-progress", *pp)
    assert r.returncode == 2 and "'hd'" in r.stderr and "truncated" in r.stderr
    assert cli("hashlist", "remove", "hd", *pp).returncode == 0
    r = cli("scan", media, "--no-progress", *pp)
    assert r.returncode == 1, r.stderr
