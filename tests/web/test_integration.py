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
    pytest.importorskip("appliance.hashlist.store", reason="hash-list store (issue 3) not on this branch")
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
    pytest.importorskip("appliance.update", reason="update engine (issue 7) not on this branch")
    r = admin.post("/updates/upload", {"bundle": (io.BytesIO(b"not a bundle at all" * 10), "x.gapscan")},
                   content_type="multipart/form-data", follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "Bundle refused (" in page
    assert "Apply" not in page.split("Bundles on USB")[0]
    assert "update.verify" in admin.get("/audit").get_data(as_text=True)


def test_signed_hash_list_bundle_is_verified_shown_then_applied(admin: Client, state_dir: Path,
                                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    pytest.importorskip("appliance.update", reason="update engine (issue 7) not on this branch")
    pytest.importorskip("appliance.hashlist.store", reason="hash-list store (issue 3) not on this branch")
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
    lists = admin.get("/hashlists").get_data(as_text=True)
    assert "vic" in lists and "md5: 5" in lists
