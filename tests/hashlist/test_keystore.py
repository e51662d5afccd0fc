"""Keystore pieces without a TPM: the per-boot unlock token and the passphrase wrap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.errors import GapscanError
from appliance.hashlist.store import HashListStore, StoreLocked
from firmware.keystore import Keystore, KeystoreError, RuntimeToken, WrongPassphrase
from tests.hashlist.conftest import PASSPHRASE


def test_fresh_store_without_passphrase_says_how_to_start(state_dir: Path, env: dict) -> None:
    with pytest.raises(StoreLocked, match="no key yet"):
        HashListStore.open(state_dir)


def test_token_unlocks_this_boot_only(state_dir: Path, env: dict, runtime_dir: Path) -> None:
    store = HashListStore.open(state_dir, passphrase=PASSPHRASE)
    assert store.unlocked_by == "initialised"
    token_path = store.remember_for_boot()
    assert HashListStore.open(state_dir).unlocked_by == "token"
    body = json.loads(token_path.read_text())
    body["boot_id"] = "another-boot"
    token_path.write_text(json.dumps(body))
    with pytest.raises(StoreLocked, match="locked"):
        HashListStore.open(state_dir)
    assert HashListStore.open(state_dir, passphrase=PASSPHRASE).unlocked_by == "passphrase"


def test_passphrase_from_environment(state_dir: Path, env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    HashListStore.open(state_dir, passphrase=PASSPHRASE)
    monkeypatch.setenv("GAPSCAN_PASSPHRASE", "wrong")
    with pytest.raises(StoreLocked, match="wrong passphrase"):
        HashListStore.open(state_dir)
    monkeypatch.setenv("GAPSCAN_PASSPHRASE", PASSPHRASE)
    assert HashListStore.open(state_dir).unlocked_by == "passphrase"


def test_runtime_dir_inside_state_dir_is_refused(state_dir: Path) -> None:
    with pytest.raises(KeystoreError, match="inside the state directory"):
        RuntimeToken("abc", state_dir, state_dir / "run")


def test_passphrase_wrap_rejects_wrong_passphrase(tmp_path: Path, env: dict) -> None:
    ks = Keystore(tmp_path / "keys")
    kek = ks.create("first")
    assert ks.unlock_passphrase("first") == kek
    with pytest.raises(WrongPassphrase):
        ks.unlock_passphrase("second")
    assert kek.hex() not in "".join(p.read_text() for p in (tmp_path / "keys").iterdir())


def test_lock_removes_the_token(state_dir: Path, env: dict, runtime_dir: Path) -> None:
    store = HashListStore.open(state_dir, passphrase=PASSPHRASE)
    store.remember_for_boot()
    assert HashListStore(state_dir).forget_for_boot() is True
    assert not list(runtime_dir.iterdir())
    with pytest.raises(GapscanError):
        HashListStore.open(state_dir)
