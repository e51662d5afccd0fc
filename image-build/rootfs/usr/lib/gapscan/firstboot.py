"""First-boot identity and console banner for the gapscan appliance (runs every boot; idempotent).

``identity`` (as the gapscan user): makes sure the web UI's TLS certificate exists (``appliance.tls``) and
writes ``device.json`` (a random device id, created once) into the state directory.
``banner`` (as root): shows the certificate's SHA-256 fingerprint on the console and in the login banner
(``/run/issue.d``), so that an operator can compare it with what the browser shows on first connection.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import sys
import time
from pathlib import Path

IDENTITY_FILE = "device.json"


def _write_atomically(path: Path, text: str, mode: int = 0o600) -> None:
    """Temp file in the same directory, fsync, rename, fsync the directory: old or new, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def new_device_id() -> str:
    """80 random bits as 16 base32 characters in groups of four: easy to read aloud and type."""
    raw = base64.b32encode(secrets.token_bytes(10)).decode()
    return "GS-" + "-".join(raw[i:i + 4] for i in range(0, 16, 4))


def format_fingerprint(hex_digest: str) -> str:
    """AA:BB:... as browsers show a certificate's SHA-256 fingerprint."""
    clean = hex_digest.replace(":", "").upper()
    return ":".join(clean[i:i + 2] for i in range(0, len(clean), 2))


def ensure_identity(state_dir: Path, fingerprint: str) -> dict[str, str | float]:
    """Create device.json once; keep its id forever, refresh the fingerprint if the certificate changed."""
    path = state_dir / IDENTITY_FILE
    identity: dict[str, str | float] = {}
    if path.exists():
        try:
            identity = json.loads(path.read_text())
        except (OSError, ValueError):
            identity = {}  # unreadable: start again rather than refuse to boot the UI
    if not isinstance(identity.get("device_id"), str):
        identity = {"device_id": new_device_id(), "created_at": time.time()}
    if identity.get("tls_sha256") != fingerprint:
        identity["tls_sha256"] = fingerprint
        _write_atomically(path, json.dumps(identity, indent=1, sort_keys=True) + "\n")
    return identity


def render_banner(identity: dict[str, str | float]) -> str:
    """The login banner; ``\\4`` is agetty's escape for the current IPv4 address (filled in when shown)."""
    return (
        "\n  gapscan appliance  " + str(identity["device_id"]) + "\n"
        "  Web UI:  https://\\4/\n"
        "  TLS certificate SHA-256 fingerprint (check it in your browser before logging in):\n"
        "  " + format_fingerprint(str(identity["tls_sha256"])) + "\n"
        "  There is no console login on this appliance.\n\n"
    )


def cmd_identity(state_dir: Path) -> int:
    from appliance.tls import ensure_certificate  # the web area's certificate maker (same one `serve` uses)

    _cert, _key, fingerprint = ensure_certificate(state_dir)
    identity = ensure_identity(state_dir, fingerprint)
    print(f"gapscan: device {identity['device_id']}, TLS SHA-256 {format_fingerprint(fingerprint)}")
    return 0


def cmd_banner(state_dir: Path, issue_dir: Path) -> int:
    try:
        identity = json.loads((state_dir / IDENTITY_FILE).read_text())
    except (OSError, ValueError) as exc:
        print(f"gapscan: no device identity in {state_dir / IDENTITY_FILE}: {exc}", file=sys.stderr)
        return 2
    banner = render_banner(identity)
    issue_dir.mkdir(parents=True, exist_ok=True)
    (issue_dir / "gapscan.issue").write_text(banner)
    print(banner.replace("\\4", "<this appliance's address>"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gapscan-firstboot", description=__doc__)
    parser.add_argument("action", choices=["identity", "banner"])
    parser.add_argument("--state-dir", type=Path, default=Path("/var/lib/gapscan"))
    parser.add_argument("--issue-dir", type=Path, default=Path("/run/issue.d"))
    args = parser.parse_args(argv)
    if args.action == "identity":
        return cmd_identity(args.state_dir)
    return cmd_banner(args.state_dir, args.issue_dir)


if __name__ == "__main__":
    sys.exit(main())
