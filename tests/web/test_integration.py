"""Pages that drive other areas' engines (hash-list store, update engine). Each test runs where that engine is
installed and is skipped, saying so, on a branch without it (the page then says "not available", tested in
test_pages)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from tests.web.conftest import PASSPHRASE, Client


def test_hash_list_import_shows_metadata_only_and_remove(admin: Client, state_dir: Path) -> None:
    import hashlib

    digests = [hashlib.sha256(f"entry-{i}".encode()).hexdigest() for i in range(7)]
    upload = ("\n".join(f"{d}  cat-a" for d in digests) + "\n").encode()
    r = admin.post("/hashlists/import", {"name": "uploaded", "kind": "alert", "passphrase": PASSPHRASE,
                                         "file": (io.BytesIO(upload), "list.txt")},
                   content_type="multipart/form-data", follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "Imported uploaded version" in page, page[-2000:]
    assert "uploaded" in page and "sha256: 7" in page
    assert not any(d in page for d in digests)  # never an entry
    r = admin.post("/hashlists/uploaded/remove", follow_redirects=True)
    assert "Removed hash list" in r.get_data(as_text=True)
    audit = admin.get("/audit").get_data(as_text=True)
    assert "hashlist.import" in audit and "hashlist.remove" in audit
    assert not any(d in audit for d in digests)


def test_garbage_bundle_is_refused_with_its_reason(admin: Client) -> None:
    r = admin.post("/updates/upload", {"bundle": (io.BytesIO(b"not a bundle at all" * 10), "x.gapscan")},
                   content_type="multipart/form-data", follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "Bundle refused (" in page
    assert "Apply" not in page.split("Bundles on USB")[0]
    assert "update.verify" in admin.get("/audit").get_data(as_text=True)


def test_signed_hash_list_bundle_is_verified_shown_then_applied(admin: Client, state_dir: Path,
                                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    import hashlib

    from appliance.update.build import build_bundle
    from appliance.update.keys import SigningKey
    from appliance.update.state import provision_root
    from appliance.update.trust import ROLES, build_root

    monkeypatch.setenv("GAPSCAN_PASSPHRASE", PASSPHRASE)  # the store was created with it at first boot
    keys = {r: SigningKey.generate(r) for r in ROLES}
    root = build_root("gapscan", 1, keys)
    provision_root(state_dir, root.to_bytes(), production=False)
    src = tmp_path / "list.txt"
    src.write_text("".join(f"{hashlib.md5(f'w{i}'.encode()).hexdigest()} cat{i % 2}\n" for i in range(5)))
    bundle = tmp_path / "vic-v3.gsb"
    build_bundle(bundle, kind="hashlist", version=3, keys=[keys["lists"]], payloads=[src], list_name="vic",
                 product="gapscan", signed_at=1_790_000_000)

    r = admin.post("/updates/upload", {"bundle": (io.BytesIO(bundle.read_bytes()), "vic-v3.gsb")},
                   content_type="multipart/form-data", follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "Bundle verified" in page, page[-1500:]
    assert "hashlist" in page and ">3" in page and keys["lists"].keyid in page  # kind, version, signer
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    r = admin.post("/updates/apply", {"token": token}, follow_redirects=True)
    assert "Tick the confirmation box" in r.get_data(as_text=True)  # nothing applied without confirmation
    r = admin.post("/updates/upload", {"bundle": (io.BytesIO(bundle.read_bytes()), "vic-v3.gsb")},
                   content_type="multipart/form-data", follow_redirects=True)
    token = re.findall(r'name="token" value="([^"]+)"', r.get_data(as_text=True))[-1]
    r = admin.post("/updates/apply", {"token": token, "confirm": "yes"}, follow_redirects=True)
    assert "Update installed" in r.get_data(as_text=True), r.get_data(as_text=True)[-1500:]
    from appliance.audit import AuditLog

    with AuditLog.in_state_dir(state_dir) as log:  # one record per apply, written by the update engine
        assert [r.outcome for r in log.records() if r.action == "update.apply"] == ["ok"]
    lists = admin.get("/hashlists").get_data(as_text=True)
    assert "vic" in lists and "md5: 5" in lists


def test_hash_list_import_from_an_attached_usb_drive(admin: Client, state_dir: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from appliance.media import AttachedDrive
    from tests.media import images
    from web.views import hashlists

    # No udev and no USB stick here: the web layer's attached_media is swapped for one "drive" whose device
    # node is a real FAT image file, so listing and reading still go through appliance.media and pytsk3.
    img = tmp_path / "usb.img"
    with open(img, "wb") as fh:
        fh.truncate(8 << 20)
    images.run("mkfs.vfat", img)
    digests = [hashlib.sha256(f"usb-{i}".encode()).hexdigest() for i in range(5)]
    src = tmp_path / "list"
    src.write_text("".join(f"{d}  cat-u\n" for d in digests))
    env = {"MTOOLS_SKIP_CHECK": "1"}
    images.run("mmd", "-i", img, "::/lists", env=env)
    images.run("mcopy", "-i", img, src, "::/lists/a&b'c.sha256", env=env)
    drive = AttachedDrive(str(img), "Test Stick", None, None, None, 8 << 20, "8.4 MB", "usb", True, "disk", None)
    monkeypatch.setattr(hashlists, "attached_media", lambda: [drive])

    page = admin.get("/hashlists").get_data(as_text=True)
    assert "On attached USB drives" in page and "lists/a&amp;b&#39;c.sha256" in page
    key = re.search(r'<option value="([0-9a-f]{32})"', page)  # an opaque key, never a path
    assert key, page[-3000:]
    r = admin.post("/hashlists/import-media", {"file": "/etc/passwd", "name": "usb", "kind": "alert"},
                   follow_redirects=True)
    assert "no longer on an attached drive" in r.get_data(as_text=True)
    r = admin.post("/hashlists/import-media", {"file": key.group(1), "name": "usb", "kind": "ignore",
                                               "category": "from-usb", "passphrase": PASSPHRASE},
                   follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "Imported usb version 1: 5 entries." in page, page[-2000:]
    assert not any(d in page for d in digests)
    audit = admin.get("/audit").get_data(as_text=True)
    assert "hashlist.import" in audit and "usb:" in audit and not any(d in audit for d in digests)


def test_hash_list_upload_is_spooled_to_ram_not_a_temp_file(admin: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    import werkzeug.wrappers.request

    def no_disk(*a: object, **kw: object) -> None:
        raise AssertionError("hash-list upload would be spooled by werkzeug (to disk over 500 kB)")

    monkeypatch.setattr(werkzeug.wrappers.request, "default_stream_factory", no_disk)
    body = b"".join(f"{i:064x}\n".encode() for i in range(9000))  # ~585 kB: over werkzeug's in-memory limit
    r = admin.post("/hashlists/import", {"name": "big", "kind": "alert", "passphrase": PASSPHRASE,
                                         "file": (io.BytesIO(body), "big.txt")},
                   content_type="multipart/form-data", follow_redirects=True)
    assert "Imported big version 1: 9000 entries." in r.get_data(as_text=True)
