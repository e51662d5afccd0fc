"""The keystore: where the key-encryption key (KEK) of the hash-list store comes from.

The KEK is 32 random bytes made once. It is kept only wrapped: by a key derived from the unlock passphrase
(Argon2id; scrypt where this ``cryptography`` lacks Argon2id) and, where a TPM 2.0 is present, sealed by it too.
Unlocking for one boot leaves the KEK in a per-boot runtime directory (tmpfs), never under the state dir.
Firmware layer: no ``appliance`` imports; errors are :class:`KeystoreError` subclasses the caller turns into
user-facing messages.
"""

from firmware.keystore.errors import KeystoreError, NotInitialised, TpmError, WrongPassphrase
from firmware.keystore.keystore import Keystore
from firmware.keystore.token import RuntimeToken, runtime_dir

__all__ = ["Keystore", "KeystoreError", "NotInitialised", "RuntimeToken", "TpmError", "WrongPassphrase",
           "runtime_dir"]
