"""Passphrase → wrapping key. Argon2id (RFC 9106 "second recommended" shape, 64 MiB) when the installed
``cryptography`` has it, else scrypt (n=2^15, r=8). The parameters travel with the wrapped key, so a stronger
setting later still opens old stores."""

from __future__ import annotations

import os
from typing import Any

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

try:  # cryptography >= 44
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
except ImportError:  # pragma: no cover - older cryptography
    Argon2id = None  # type: ignore[assignment,misc]

ARGON2 = {"kdf": "argon2id", "iterations": 3, "lanes": 4, "memory_kib": 64 * 1024}
SCRYPT = {"kdf": "scrypt", "n": 1 << 15, "r": 8, "p": 1}


def new_params() -> dict[str, Any]:
    base = ARGON2 if Argon2id is not None else SCRYPT
    return {**base, "salt": os.urandom(16).hex()}


def derive(passphrase: str, params: dict[str, Any]) -> bytes:
    salt = bytes.fromhex(params["salt"])
    secret = passphrase.encode("utf-8")
    if params["kdf"] == "argon2id":
        if Argon2id is None:
            raise RuntimeError("this store was set up with Argon2id, which this cryptography build lacks")
        return Argon2id(salt=salt, length=32, iterations=params["iterations"], lanes=params["lanes"],
                        memory_cost=params["memory_kib"]).derive(secret)
    if params["kdf"] == "scrypt":
        return Scrypt(salt=salt, length=32, n=params["n"], r=params["r"], p=params["p"]).derive(secret)
    raise RuntimeError(f"unknown key-derivation function {params['kdf']!r}")
