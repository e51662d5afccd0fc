"""The plaintext layout of a stored list (it exists only in memory, inside the encryption).

``4-byte manifest length || manifest JSON || sections``, each section a raw little-endian array aligned to 8
bytes. Loading maps each section as a NumPy view onto the one decrypted buffer: no parse, no copy.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np

from appliance.hashing.digests import DIGEST_KINDS
from appliance.hashlist.builder import ListArrays
from appliance.hashlist.index import ExactIndex


def _sections(arrays: ListArrays) -> list[tuple[str, np.ndarray]]:
    out: list[tuple[str, np.ndarray]] = []
    for alg, ix in arrays.exact.items():
        prefix, rest, payload = ix.arrays()
        out += [(f"{alg}.prefix", prefix.astype("<u8", copy=False)), (f"{alg}.rest", rest),
                (f"{alg}.buckets", ix.bucket_table().astype("<u8", copy=False))]
        if payload is not None:
            out.append((f"{alg}.payload", payload))
    if arrays.sizes is not None:
        little = "<u4" if arrays.sizes.dtype == np.uint32 else "<i8"
        out.append(("sizes", arrays.sizes.astype(little, copy=False)))
    if arrays.pdq_hashes is not None:
        out += [("pdq.hashes", arrays.pdq_hashes), ("pdq.payload", arrays.pdq_payload.astype("<u4", copy=False)),
                ("pdq.radii", arrays.pdq_radii.astype("<i2", copy=False))]
    return out


def _pad(n: int) -> int:
    return -n % 8


def encode(arrays: ListArrays) -> tuple[int, Iterator[memoryview | bytes]]:
    """(total size, pieces) of the plaintext; pieces are views on the arrays (no copy)."""
    sections = _sections(arrays)
    table: list[list[Any]] = []
    offset = 0
    for name, arr in sections:
        table.append([name, arr.dtype.str, list(arr.shape), offset, arr.nbytes])
        offset += arr.nbytes + _pad(arr.nbytes)
    manifest = json.dumps({"labels": arrays.labels, "sections": table, "sized": arrays.sizes is not None,
                           "categories": arrays.categories}).encode()
    head = struct.pack("<I", len(manifest)) + manifest
    head += b"\0" * _pad(len(head))
    total = len(head) + offset

    def pieces() -> Iterator[memoryview | bytes]:
        yield head
        for _name, arr in sections:
            yield memoryview(np.ascontiguousarray(arr).view(np.uint8).reshape(-1))
            if _pad(arr.nbytes):
                yield b"\0" * _pad(arr.nbytes)

    return total, pieces()


def _native_u64(view: np.ndarray | None) -> Any:
    """A stored little-endian uint64 section as native uint64 (no copy on a little-endian machine)."""
    return None if view is None else view.astype(np.uint64, copy=False)


def decode(buf: np.ndarray) -> ListArrays:
    """Views onto ``buf`` (the decrypted plaintext) as a :class:`ListArrays`."""
    (mlen,) = struct.unpack("<I", buf[:4].tobytes())
    manifest = json.loads(buf[4:4 + mlen].tobytes())
    base = 4 + mlen + _pad(4 + mlen)
    views: dict[str, np.ndarray] = {}
    for name, dtype, shape, offset, nbytes in manifest["sections"]:
        start = base + offset
        views[name] = buf[start:start + nbytes].view(np.dtype(dtype)).reshape(shape)
    exact = {}
    for alg in DIGEST_KINDS:
        if f"{alg}.prefix" in views:
            exact[alg] = ExactIndex.from_sorted(alg, _native_u64(views[f"{alg}.prefix"]),
                                                views[f"{alg}.rest"], views.get(f"{alg}.payload"),
                                                _native_u64(views.get(f"{alg}.buckets")))
    arrays = ListArrays(manifest["labels"], exact, views.get("sizes") if manifest["sized"] else None)
    if "pdq.hashes" in views:
        arrays.pdq_hashes = views["pdq.hashes"]
        arrays.pdq_payload = views["pdq.payload"]
        arrays.pdq_radii = views["pdq.radii"]
    arrays.categories = dict(manifest["categories"])
    return arrays
