"""The KEK, wrapped at rest in ``state_dir/keys/``: ``kek.passphrase.json`` (AES-256-GCM under a key derived
from the passphrase) and, where a TPM is present, ``kek.tpm.json`` (sealed by the TPM)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from firmware.atomic import write_atomic
from firmware.keystore import kdf
from firmware.keystore.errors import NotInitialised, TpmError, WrongPassphrase
from firmware.keystore.tpm import Tpm, tpm_tcti

_AD = b"gapscan-kek-v1"


class Keystore:
    def __init__(self, keys_dir: Path) -> None:
        self.dir = keys_dir
        self.passphrase_file = keys_dir / "kek.passphrase.json"
        self.tpm_file = keys_dir / "kek.tpm.json"
        self.id_file = keys_dir / "store-id"

    @property
    def initialised(self) -> bool:
        return self.passphrase_file.is_file()

    @property
    def store_id(self) -> str:
        if not self.id_file.is_file():
            raise NotInitialised("the hash-list store has no key yet")
        return self.id_file.read_text(encoding="ascii").strip()

    @property
    def tpm_sealed(self) -> bool:
        return self.tpm_file.is_file()

    def create(self, passphrase: str) -> bytes:
        """Make the KEK, wrap it with ``passphrase``, seal it to the TPM where there is one."""
        if not passphrase:
            raise WrongPassphrase("an empty passphrase cannot protect the hash-list store")
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        kek = AESGCM.generate_key(256)
        write_atomic(self.id_file, os.urandom(16).hex().encode())
        self._wrap_passphrase(kek, passphrase)
        if tpm_tcti():
            self.seal_to_tpm(kek)
        return kek

    def _wrap_passphrase(self, kek: bytes, passphrase: str) -> None:
        params = kdf.new_params()
        nonce = os.urandom(12)
        wrapped = AESGCM(kdf.derive(passphrase, params)).encrypt(nonce, kek, _AD)
        body = {"params": params, "nonce": nonce.hex(), "wrapped": wrapped.hex()}
        write_atomic(self.passphrase_file, json.dumps(body).encode())

    def unlock_passphrase(self, passphrase: str) -> bytes:
        if not self.initialised:
            raise NotInitialised("the hash-list store has no key yet")
        body = json.loads(self.passphrase_file.read_text(encoding="utf-8"))
        key = kdf.derive(passphrase, body["params"])
        try:
            return AESGCM(key).decrypt(bytes.fromhex(body["nonce"]), bytes.fromhex(body["wrapped"]), _AD)
        except InvalidTag:
            raise WrongPassphrase("wrong passphrase for the hash-list store") from None

    def change_passphrase(self, kek: bytes, new_passphrase: str) -> None:
        self._wrap_passphrase(kek, new_passphrase)

    def seal_to_tpm(self, kek: bytes) -> None:
        tcti = tpm_tcti()
        if tcti is None:
            raise TpmError("no TPM 2.0 found (set GAPSCAN_TPM_TCTI or provide /dev/tpmrm0)")
        write_atomic(self.tpm_file, Tpm(tcti).seal(kek))

    def unlock_tpm(self) -> bytes:
        if not self.tpm_sealed:
            raise TpmError("the store key is not sealed to a TPM")
        tcti = tpm_tcti()
        if tcti is None:
            raise TpmError("the store key is sealed to a TPM, but no TPM is reachable")
        kek = Tpm(tcti).unseal(self.tpm_file.read_bytes())
        if len(kek) != 32:
            raise TpmError("the TPM returned a key of the wrong length")
        return kek
