"""Appliance settings the operator changes in the web UI: auto-scan on insert, saved SMB shares.

``settings.json`` holds everything but secrets in plain JSON; a share's password is stored beside its entry
encrypted with AES-256-GCM under a device key (``settings.key``, 0600, 32 random bytes) and is only ever
decrypted to hand it to a scan subprocess through its environment.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from appliance.errors import GapscanError
from firmware.atomic import write_atomic

SETTINGS_NAME, KEY_NAME = "settings.json", "settings.key"
_SHARE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


@dataclass(frozen=True)
class SmbShare:
    name: str
    url: str  # smb://host[:port]/share[/sub]
    username: str
    domain: str = ""


@dataclass(frozen=True)
class Settings:
    auto_scan: bool = False
    smb_shares: list[SmbShare] = field(default_factory=list)
    key_protection: str | None = None  # "passphrase" | "tpm", chosen at first boot
    demo_hashlist: str | None = None   # set by ``gapscan serve --demo`` when no hash-list store is available


def device_key(state_dir: Path, purpose: bytes) -> bytes:
    """A 32-byte key for ``purpose`` derived (HKDF-SHA256) from the device secret, created on first use."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    path = Path(state_dir) / KEY_NAME
    if not path.exists():
        write_atomic(path, os.urandom(32), mode=0o600)
    secret = path.read_bytes()
    if len(secret) != 32:
        raise GapscanError(f"device key {path} is damaged ({len(secret)} bytes, expected 32)")
    return HKDF(hashes.SHA256(), 32, salt=b"gapscan", info=purpose).derive(secret)


def _read(state_dir: Path) -> dict[str, Any]:
    path = Path(state_dir) / SETTINGS_NAME
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GapscanError(f"settings file {path} is unreadable: {exc}") from None
    return data if isinstance(data, dict) else {}


def _write(state_dir: Path, data: dict[str, Any]) -> None:
    write_atomic(Path(state_dir) / SETTINGS_NAME, json.dumps(data, indent=2, sort_keys=True).encode(), mode=0o600)


def load_settings(state_dir: Path) -> Settings:
    data = _read(state_dir)
    shares = [SmbShare(s["name"], s["url"], s.get("username", ""), s.get("domain", ""))
              for s in data.get("smb_shares", []) if isinstance(s, dict) and "name" in s and "url" in s]
    return Settings(auto_scan=bool(data.get("auto_scan", False)), smb_shares=shares,
                    key_protection=data.get("key_protection"), demo_hashlist=data.get("demo_hashlist"))


def update_settings(state_dir: Path, **values: Any) -> Settings:
    """Set plain (non-secret) fields: ``auto_scan``, ``key_protection``, ``demo_hashlist``."""
    allowed = {"auto_scan", "key_protection", "demo_hashlist"}
    unknown = set(values) - allowed
    if unknown:
        raise GapscanError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    data = _read(state_dir)
    data.update(values)
    _write(state_dir, data)
    return load_settings(state_dir)


def validate_share(share: SmbShare) -> None:
    if not _SHARE_NAME.match(share.name):
        raise GapscanError("share name: 1-64 letters, digits, space, dot, dash or underscore")
    if not re.match(r"^smb://[A-Za-z0-9.\-\[\]:]+(:\d+)?/[^\x00-\x1f]+$", share.url) or "@" in share.url:
        raise GapscanError("share URL must look like smb://host/share[/folder] (user name goes in its own field)")
    if any(c in share.username + share.domain for c in "\x00\r\n@/"):
        raise GapscanError("share user name or domain contains a character that is not allowed")


def save_share(state_dir: Path, share: SmbShare, password: str | None) -> None:
    """Add or replace a share; ``password`` None keeps the stored one."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    validate_share(share)
    data = _read(state_dir)
    shares = [s for s in data.get("smb_shares", []) if s.get("name") != share.name]
    old = next((s for s in data.get("smb_shares", []) if s.get("name") == share.name), None)
    entry: dict[str, Any] = asdict(share)
    if password is not None:
        nonce = os.urandom(12)
        sealed = AESGCM(device_key(state_dir, b"smb-credentials")).encrypt(
            nonce, password.encode(), share.name.encode())
        entry["password_enc"] = base64.b64encode(nonce + sealed).decode()
    elif old and "password_enc" in old:
        entry["password_enc"] = old["password_enc"]
    shares.append(entry)
    data["smb_shares"] = sorted(shares, key=lambda s: s["name"])
    _write(state_dir, data)


def remove_share(state_dir: Path, name: str) -> bool:
    data = _read(state_dir)
    before = data.get("smb_shares", [])
    data["smb_shares"] = [s for s in before if s.get("name") != name]
    _write(state_dir, data)
    return len(before) != len(data["smb_shares"])


def smb_password(state_dir: Path, share_name: str) -> str:
    """Decrypt a saved share's password (empty if none was stored)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    entry = next((s for s in _read(state_dir).get("smb_shares", []) if s.get("name") == share_name), None)
    if entry is None:
        raise GapscanError(f"no saved SMB share named {share_name!r}")
    blob = entry.get("password_enc")
    if not blob:
        return ""
    raw = base64.b64decode(blob)
    try:
        return AESGCM(device_key(state_dir, b"smb-credentials")).decrypt(
            raw[:12], raw[12:], share_name.encode()).decode()
    except InvalidTag:
        raise GapscanError(f"stored password of share {share_name!r} cannot be decrypted with this device's "
                           "key; enter it again in Settings") from None
