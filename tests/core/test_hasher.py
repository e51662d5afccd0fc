"""One read per file feeds every digest: sizes around the read buffer, empty files and short reads all give the
digests hashlib gives for the whole content."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from appliance.hashing.digests import CHUNK
from appliance.hashlist.index import Matcher
from appliance.scan.hasher import FileHasher, HashPolicy
from firmware.media.localdir import LocalDirSource

ALL = ("md5", "sha1", "sha256")


@pytest.mark.parametrize("size", [0, 1, 511, 512, 4096, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5])
def test_digests_at_every_size_around_the_buffer(tmp_path, size):
    data = os.urandom(size)
    (tmp_path / "f").write_bytes(data)
    source = LocalDirSource(tmp_path)
    hasher = FileHasher(source, Matcher([]), HashPolicy(ALL))
    (entry,) = list(source.walk())
    result = hasher.hash_entry(entry)
    assert result.status == "hashed" and result.digests is not None
    assert result.digests.size == size
    assert result.digests.values == {a: hashlib.new(a, data).digest() for a in ALL}


class _ShortReads(io.RawIOBase):
    """A reader that returns at most 7 bytes per call, as a network share or a pipe may."""

    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        k = min(len(b), 7, len(self._data) - self._pos)
        b[:k] = self._data[self._pos : self._pos + k]
        self._pos += k
        return k


def test_short_reads_lose_nothing(tmp_path):
    data = os.urandom(10_000)
    hasher = FileHasher(LocalDirSource(tmp_path), Matcher([]), HashPolicy(("sha1", "sha256")))
    result = hasher._hash(_ShortReads(data), len(data))
    assert result.digests is not None and result.digests.size == len(data)
    assert result.digests.values == {a: hashlib.new(a, data).digest() for a in ("sha1", "sha256")}
