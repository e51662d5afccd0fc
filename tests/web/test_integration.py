"""Pages that drive other areas' engines (hash-list store, update engine). Each test runs where that engine is
installed and is skipped, saying so, on a branch without it (the page then says "not available", tested in
test_pages)."""

from __future__ import annotations

import io
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
