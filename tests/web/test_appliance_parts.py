"""The appliance-side modules the UI stands on: TLS certificate, settings with encrypted credentials, health,
paged result queries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.errors import GapscanError


def test_certificate_is_created_once_and_kept(state_dir: Path) -> None:
    from cryptography import x509

    from appliance.tls import ensure_certificate

    cert, key, fp = ensure_certificate(state_dir)
    assert key.stat().st_mode & 0o777 == 0o600
    again = ensure_certificate(state_dir)
    assert again == (cert, key, fp)  # same certificate on every start: the fingerprint operators noted stays valid
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    names = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    cert.write_text("garbage")
    with pytest.raises(GapscanError, match="unreadable"):
        ensure_certificate(state_dir)


def test_share_password_is_bound_to_the_device_key(state_dir: Path) -> None:
    from appliance.settings import SmbShare, load_settings, save_share, smb_password

    save_share(state_dir, SmbShare("cases", "smb://10.0.0.5/cases", "scan", "LAB"), "p@ss word")
    assert load_settings(state_dir).smb_shares == [SmbShare("cases", "smb://10.0.0.5/cases", "scan", "LAB")]
    save_share(state_dir, SmbShare("cases", "smb://10.0.0.5/cases/2024", "scan", "LAB"), None)  # keeps password
    assert smb_password(state_dir, "cases") == "p@ss word"
    (state_dir / "settings.key").write_bytes(b"\x01" * 32)  # another device's key
    with pytest.raises(GapscanError, match="cannot be decrypted with this device's key"):
        smb_password(state_dir, "cases")
    with pytest.raises(GapscanError, match="share URL"):
        save_share(state_dir, SmbShare("x", "smb://user@host/share", "", ""), "pw")
    data = json.loads((state_dir / "settings.json").read_text())
    assert "p@ss word" not in json.dumps(data)


def test_health_reports_what_the_board_has(state_dir: Path) -> None:
    from appliance.health import health

    h = health(state_dir)
    assert h.accelerator in ("numpy", "cuda", "unknown") and h.accelerator_detail
    assert h.cpu_count >= 1 and h.disk_total > h.disk_free > 0
    assert h.temperature_c is None or -40 < h.temperature_c < 150


def test_browse_refuses_to_paste_sort_keys(state_dir: Path, scanned: dict[str, str]) -> None:
    from appliance.results import browse

    page = browse.hits(state_dir, scanned["demo"], sort="size; DROP TABLE hits", per_page=2)
    assert page.total == 3 and page.pages == 2 and len(page.rows) == 2
    assert browse.hits(state_dir, scanned["demo"], page=99, per_page=2).page == 2
    problems = browse.problems(state_dir, scanned["hostile"], status="skipped")
    assert [p.path for p in problems.rows] == [b"a-fifo"]
