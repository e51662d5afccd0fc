"""The keystore against a real software TPM 2.0 (swtpm started by the fixture, driven with tpm2-tools)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from appliance.hashlist.index import Matcher
from appliance.hashlist.store import HashListStore, StoreLocked
from tests.hashlist.conftest import PASSPHRASE, digests_of


def test_store_key_sealed_to_tpm_unlocks_without_passphrase_until_the_tpm_is_cleared(
        swtpm: str, state_dir: Path, formats: Path) -> None:
    store = HashListStore.open(state_dir, passphrase=PASSPHRASE)  # first use: makes the key, seals it
    assert store.keystore.tpm_sealed
    store.import_file(formats / "clamav.hdb", name="clam")

    tpm_only = HashListStore.open(state_dir)  # no passphrase, no token: the TPM unseals
    assert tpm_only.unlocked_by == "tpm"
    lists, errors = tpm_only.load_active()
    assert errors == [] and Matcher(lists).match(digests_of(1))

    subprocess.run(["tpm2_clear", "-c", "p"], check=True, capture_output=True,
                   env={**os.environ, "TPM2TOOLS_TCTI": swtpm})
    with pytest.raises(StoreLocked, match="TPM") as err:
        HashListStore.open(state_dir)
    assert "gapscan unlock" in str(err.value)
    recovered = HashListStore.open(state_dir, passphrase=PASSPHRASE)  # the passphrase still opens it
    assert recovered.load_active()[1] == []
    recovered.seal_to_tpm()  # re-seal to the new TPM owner seed
    assert HashListStore.open(state_dir).unlocked_by == "tpm"


def test_cli_unlock_with_tpm(swtpm: str, cli, state_dir: Path, passphrase_file: Path, formats: Path) -> None:
    assert cli("hashlist", "import", formats / "clamav.hdb", "--name", "clam", "--passphrase-file",
               passphrase_file).returncode == 0
    r = cli("unlock", "--tpm")
    assert r.returncode == 0, r.stderr
    assert "unlocked (tpm)" in r.stdout
