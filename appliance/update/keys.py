"""Ed25519 keys: ids, files, and domain-separated signatures.

A key id is the SHA-256 of the raw 32-byte public key (hex). Each signed document type has its own
signing prefix, so a signature over a manifest can never be replayed as a signature over a root.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.errors import GapscanError

MANIFEST_DOMAIN = b"gapscan-bundle-manifest-v1\x00"
ROOT_DOMAIN = b"gapscan-root-v1\x00"


def key_id(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()


@dataclass(frozen=True)
class SigningKey:
    """A private key as the vendor's offline machine holds it (``KEYDIR/<role>.key``)."""

    private: Ed25519PrivateKey
    role: str
    dev: bool = False

    @classmethod
    def generate(cls, role: str, *, dev: bool = False) -> SigningKey:
        return cls(Ed25519PrivateKey.generate(), role, dev)

    @property
    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def keyid(self) -> str:
        return key_id(self.public_raw)

    def sign(self, domain: bytes, data: bytes) -> dict[str, str]:
        return {"keyid": self.keyid, "sig": self.private.sign(domain + data).hex()}

    def save(self, path: Path) -> None:
        """PKCS#8 PEM with the role (and dev flag) in a comment line; mode 0600, never overwritten."""
        pem = self.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
        header = f"# gapscan {self.role} key{' (development)' if self.dev else ''} {self.keyid}\n".encode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(header + pem)

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise GapscanError(f"cannot read key {path}: {exc.strerror or exc}") from None
        first, _, pem = data.partition(b"\n")
        parts = first.decode("ascii", "replace").split()
        if len(parts) < 3 or parts[:2] != ["#", "gapscan"]:
            raise GapscanError(f"{path} is not a gapscan key file (made by `gapscan bundle keygen`)")
        try:
            private = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise GapscanError(f"{path}: unreadable private key: {exc}") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise GapscanError(f"{path}: not an Ed25519 key")
        return cls(private, parts[2], "(development)" in first.decode("ascii", "replace"))


def verify_signature(public_hex: str, domain: bytes, data: bytes, sig_hex: str) -> bool:
    try:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))
        public.verify(bytes.fromhex(sig_hex), domain + data)
    except (InvalidSignature, ValueError):
        return False
    return True
