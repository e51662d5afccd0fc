"""The vendor side: keygen writes a self-signed root and 0600 keys; a role rotation yields root v+1 signed as
TUF requires; build refuses links and special files in a software payload."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from appliance.errors import GapscanError
from appliance.update import BundleRefused, apply_bundle, provision_root
from appliance.update.build import build_bundle, keygen
from appliance.update.keys import SigningKey
from appliance.update.trust import check_rotation, load_root_file


def test_keygen_and_role_rotation(tmp_path: Path, state_dir: Path) -> None:
    keys = tmp_path / "keys"
    root1 = keygen(keys)
    assert root1.version == 1 and oct(os.stat(keys / "lists.key").st_mode & 0o777) == "0o600"
    with pytest.raises(GapscanError, match="exists"):
        keygen(keys)
    provision_root(state_dir, (keys / "root.json").read_bytes(), production=True)
    old_lists = SigningKey.load(keys / "lists.key")
    src = tmp_path / "l.txt"
    src.write_text("0" * 32 + " a\n")
    build_bundle(tmp_path / "l5.gsb", kind="hashlist", version=5, keys=[old_lists], payloads=[src], list_name="l")
    root2 = keygen(keys, role="lists")
    assert root2.version == 2 and old_lists.keyid in root2.revoked
    assert (keys / "lists.v1.key").exists() and SigningKey.load(keys / "lists.key").keyid != old_lists.keyid
    assert check_rotation(root1, load_root_file(keys / "root.json"), production=True)
    build_bundle(tmp_path / "root2.gsb", kind="root", version=2, keys=[SigningKey.load(keys / "root.key")],
                 payloads=[keys / "root.json"])
    apply_bundle(tmp_path / "root2.gsb", state_dir=state_dir, actor="vendor")
    with pytest.raises(BundleRefused) as info:
        apply_bundle(tmp_path / "l5.gsb", state_dir=state_dir, actor="t")
    assert info.value.reason == "revoked-key" and old_lists.keyid[:16] in str(info.value)


def test_build_refuses_links_and_special_files(tmp_path: Path) -> None:
    src = tmp_path / "release"
    src.mkdir()
    (src / "ok").write_text("x")
    (src / "link").symlink_to("/etc/passwd")
    key = SigningKey.generate("software")
    with pytest.raises(GapscanError, match="only regular files"):
        build_bundle(tmp_path / "x.gsb", kind="software", version=1, keys=[key], payloads=[src])
    (src / "link").unlink()
    os.mkfifo(src / "fifo")
    with pytest.raises(GapscanError, match="only regular files"):
        build_bundle(tmp_path / "x.gsb", kind="software", version=1, keys=[key], payloads=[src])
