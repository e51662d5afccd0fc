"""The web UI's TLS certificate: self-signed, generated once on first start, kept under ``state_dir/tls``.

Operators check the SHA-256 fingerprint printed on the console (and the front panel) against what the browser
shows, since no CA can vouch for an air-gapped appliance.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from pathlib import Path

from appliance.errors import GapscanError
from firmware.atomic import write_atomic

CERT_NAME, KEY_NAME = "cert.pem", "key.pem"


def ensure_certificate(state_dir: Path) -> tuple[Path, Path, str]:
    """Return ``(cert_path, key_path, sha256_fingerprint)``, creating the pair on first use."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    tls_dir = Path(state_dir) / "tls"
    cert_path, key_path = tls_dir / CERT_NAME, tls_dir / KEY_NAME
    if not (cert_path.exists() and key_path.exists()):
        tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        host = socket.gethostname() or "gapscan"
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"gapscan appliance {host}"[:64]),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gapscan")])
        now = dt.datetime.now(dt.UTC)
        alt = x509.SubjectAlternativeName([
            x509.DNSName(host), x509.DNSName("localhost"), x509.DNSName("gapscan.local"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("::1"))])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(alt, critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        write_atomic(key_path, key_pem, mode=0o600)
        write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise GapscanError(f"TLS certificate {cert_path} is unreadable ({exc}); delete {tls_dir} to "
                           "generate a new one") from None
    return cert_path, key_path, format_fingerprint(cert.fingerprint(hashes.SHA256()))


def format_fingerprint(raw: bytes) -> str:
    """``AB:CD:...`` as browsers show it."""
    return ":".join(f"{b:02X}" for b in raw)

