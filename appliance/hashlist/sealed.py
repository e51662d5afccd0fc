"""The encrypted list file: AES-256-GCM in independently sealed chunks.

Layout: ``MAGIC``, a 4-byte header length, a JSON header (list id, version, plaintext size, chunk size, the data
key wrapped by the KEK), then chunks, each ``4-byte length || ciphertext+tag``. Every chunk is sealed under
the list's fresh data key with associated data = list id, version, chunk index, final flag and the header's
SHA-256, with the chunk index as nonce (unique: one data key per file). So a flipped byte, reordered or
dropped chunks, a truncated file (no final chunk), appended bytes, or a file of another version or list each
fail authentication. The wrapped data key is bound to list id and version the same way.

Plaintext never reaches disk: the writer takes plaintext pieces from memory and writes ciphertext only; the
reader decrypts straight into one pre-sized in-memory buffer (``decrypt_into``: no per-chunk plaintext copy)
that the index then uses in place (so only ciphertext passes through the page cache; the appliance has no swap).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"GAPSHL\x00\x01"
CHUNK = 4 << 20
TAG = 16
_LEN = struct.Struct(">I")


class SealedError(ValueError):
    """The file is not a valid sealed list for this id/version/key; the message says which check failed."""


@dataclass(frozen=True)
class SealedHeader:
    list_id: str
    version: int
    plaintext_size: int
    chunk_size: int
    raw: bytes  # the header JSON as stored (its digest is bound into every chunk)

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.raw).digest()


def _key_ad(list_id: str, version: int) -> bytes:
    return b"gapscan-dk\x00" + list_id.encode() + struct.pack(">Q", version)


def _chunk_ad(list_id: str, version: int, index: int, final: bool, header_digest: bytes) -> bytes:
    return (b"gapscan-chunk\x00" + list_id.encode() + struct.pack(">QQB", version, index, final)
            + header_digest)


def _nonce(index: int) -> bytes:
    return struct.pack(">IQ", 0, index)


def write_sealed(fh: BinaryIO, kek: bytes, list_id: str, version: int, pieces: Iterable[memoryview | bytes],
                 plaintext_size: int, chunk_size: int = CHUNK) -> None:
    """Encrypt ``pieces`` (their total length must be ``plaintext_size``) into ``fh``."""
    dk = AESGCM.generate_key(256)
    key_nonce = os.urandom(12)
    wrapped = AESGCM(kek).encrypt(key_nonce, dk, _key_ad(list_id, version))
    header = json.dumps({"cipher": "AES-256-GCM", "list_id": list_id, "version": version,
                         "plaintext_size": plaintext_size, "chunk_size": chunk_size,
                         "key_nonce": key_nonce.hex(), "wrapped_key": wrapped.hex()}, sort_keys=True).encode()
    fh.write(MAGIC + _LEN.pack(len(header)) + header)
    hdigest = hashlib.sha256(header).digest()
    aead = AESGCM(dk)
    total_chunks = max(1, -(-plaintext_size // chunk_size))
    buf = bytearray()
    index = 0
    written = 0

    def emit(data: bytes | bytearray) -> None:
        nonlocal index
        final = index == total_chunks - 1
        ct = aead.encrypt(_nonce(index), bytes(data), _chunk_ad(list_id, version, index, final, hdigest))
        fh.write(_LEN.pack(len(ct)) + ct)
        index += 1

    for piece in pieces:
        view = memoryview(piece).cast("B")
        written += len(view)
        while view:
            take = min(chunk_size - len(buf), len(view))
            buf += view[:take]
            view = view[take:]
            if len(buf) == chunk_size and index < total_chunks - 1:
                emit(buf)
                buf.clear()
    if written != plaintext_size:
        raise ValueError(f"sealed list: {written} plaintext bytes given, {plaintext_size} announced")
    emit(buf)
    buf.clear()


def read_header(fh: BinaryIO) -> SealedHeader:
    magic = fh.read(len(MAGIC))
    if magic != MAGIC:
        raise SealedError("not a gapscan sealed list file (bad magic)")
    raw_len = fh.read(4)
    if len(raw_len) != 4:
        raise SealedError("truncated header")
    (hlen,) = _LEN.unpack(raw_len)
    if hlen > 1 << 16:
        raise SealedError("header too large")
    raw = fh.read(hlen)
    if len(raw) != hlen:
        raise SealedError("truncated header")
    try:
        h = json.loads(raw)
        return SealedHeader(str(h["list_id"]), int(h["version"]), int(h["plaintext_size"]), int(h["chunk_size"]),
                            raw)
    except (ValueError, KeyError, TypeError):
        raise SealedError("unreadable header") from None


def _read_into(fh: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``fh``; the count read (short only at the end of the file)."""
    got = 0
    while got < len(view):
        n = fh.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            break
        got += n
    return got


def read_sealed(fh: BinaryIO, kek: bytes, list_id: str, version: int) -> np.ndarray:
    """Decrypt the whole file into one uint8 array, verifying every chunk. Raises :class:`SealedError`."""
    header = read_header(fh)
    if header.list_id != list_id:
        raise SealedError(f"file belongs to another list (id {header.list_id}, expected {list_id})")
    if header.version != version:
        raise SealedError(f"file holds version {header.version} but the store expects version {version} "
                          "(an old or foreign file was put in place): refused")
    h = json.loads(header.raw)
    try:
        dk = AESGCM(kek).decrypt(bytes.fromhex(h["key_nonce"]), bytes.fromhex(h["wrapped_key"]),
                                 _key_ad(list_id, version))
    except InvalidTag:
        raise SealedError("the data key does not unwrap (wrong store key, or the header was altered)") from None
    aead = AESGCM(dk)
    size, chunk = header.plaintext_size, header.chunk_size
    if chunk <= 0 or size < 0:
        raise SealedError("bad sizes in header")
    total_chunks = max(1, -(-size // chunk))
    out = np.empty(size, dtype=np.uint8)
    out_view = memoryview(out)
    ct_buf = memoryview(bytearray(chunk + TAG))  # one ciphertext buffer, reused
    into = hasattr(aead, "decrypt_into")  # cryptography >= 45: decrypt straight into ``out`` (no copy)
    hdigest = header.digest
    offset = 0
    for index in range(total_chunks):
        raw_len = fh.read(4)
        if len(raw_len) != 4:
            raise SealedError(f"truncated: chunk {index} of {total_chunks} missing")
        (clen,) = _LEN.unpack(raw_len)
        if clen > chunk + TAG:
            raise SealedError(f"chunk {index}: bad length")
        ct = ct_buf[:clen]
        if _read_into(fh, ct) != clen:
            raise SealedError(f"truncated inside chunk {index} of {total_chunks}")
        final = index == total_chunks - 1
        n = clen - TAG
        ad = _chunk_ad(list_id, version, index, final, hdigest)
        try:
            if into and n >= 0 and offset + n <= size and (final or n == chunk):
                aead.decrypt_into(_nonce(index), ct, ad, out_view[offset:offset + n])
                offset += n
                continue
            pt = aead.decrypt(_nonce(index), bytes(ct), ad)
        except InvalidTag:
            raise SealedError(f"chunk {index} of {total_chunks} fails authentication (altered, reordered or "
                              "truncated ciphertext)") from None
        if offset + len(pt) > size or (not final and len(pt) != chunk):
            raise SealedError(f"chunk {index}: unexpected plaintext length")
        out[offset:offset + len(pt)] = np.frombuffer(pt, dtype=np.uint8)
        offset += len(pt)
        del pt
    if offset != size:
        raise SealedError("plaintext shorter than announced")
    if fh.read(1):
        raise SealedError("unexpected bytes after the final chunk")
    return out
