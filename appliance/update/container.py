"""The bundle file format (``.gsb``): a strictly bounded, length-prefixed container parsed by hand.

::

    b"GSBUNDL1"                       8-byte magic
    u32 big-endian  manifest length   (<= MAX_MANIFEST_BYTES)
    manifest                          canonical JSON, see manifest.py
    u32 big-endian  signatures length (<= MAX_SIGNATURE_BYTES)
    signatures                        canonical JSON {"signatures": [{"keyid", "sig"}]}
    member bytes                      concatenated in manifest order, sizes from the manifest; then EOF

There are no per-member headers: names, sizes, modes and digests exist only in the signed manifest, so
nothing about a member is believed before the manifest's signatures verified, and there is nothing to
decompress, link or extract. Anything after the last member is refused.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from appliance.update.errors import BundleRefused

MAGIC = b"GSBUNDL1"
MAX_MANIFEST_BYTES = 256 * 1024
MAX_SIGNATURE_BYTES = 16 * 1024
_LEN = struct.Struct(">I")


def _read_exact(fh: BinaryIO, n: int, what: str) -> bytes:
    try:
        data = fh.read(n)
    except OSError as exc:
        raise BundleRefused("read-error", f"reading the {what} failed: {exc.strerror or exc} "
                                          "(was the drive removed?)") from None
    if len(data) != n:
        raise BundleRefused("truncated", f"file ends inside the {what} ({len(data)} of {n} bytes)")
    return data


def read_header(fh: BinaryIO) -> tuple[bytes, bytes]:
    """Read magic, manifest and signature block; both lengths are checked before anything is read."""
    magic = _read_exact(fh, len(MAGIC), "magic")
    if magic != MAGIC:
        raise BundleRefused("malformed", "not a gapscan bundle (bad magic)")
    (mlen,) = _LEN.unpack(_read_exact(fh, 4, "manifest length"))
    if mlen == 0 or mlen > MAX_MANIFEST_BYTES:
        raise BundleRefused("too-large" if mlen else "malformed",
                            f"manifest length {mlen} is outside 1..{MAX_MANIFEST_BYTES}")
    manifest = _read_exact(fh, mlen, "manifest")
    (slen,) = _LEN.unpack(_read_exact(fh, 4, "signature length"))
    if slen > MAX_SIGNATURE_BYTES:
        raise BundleRefused("too-large", f"signature block length {slen} exceeds {MAX_SIGNATURE_BYTES}")
    signatures = _read_exact(fh, slen, "signature block")
    return manifest, signatures


def write_bundle(out: BinaryIO, manifest: bytes, signatures: bytes, members: list[bytes]) -> None:
    out.write(MAGIC + _LEN.pack(len(manifest)) + manifest + _LEN.pack(len(signatures)) + signatures)
    for data in members:
        out.write(data)


def header_size(manifest: bytes, signatures: bytes) -> int:
    return len(MAGIC) + 8 + len(manifest) + len(signatures)
