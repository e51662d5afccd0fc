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


class _CountingSource(LocalDirSource):
    opens = 0

    def open(self, entry):  # type: ignore[no-untyped-def]
        self.opens += 1
        return super().open(entry)


class _JpegOnly:
    """An analyzer that wants JPEGs only (by sniffed type), like PDQ wants images."""

    name = "jpeg-only"

    def wants(self, file_type, size):  # type: ignore[no-untyped-def]
        return file_type == "image/jpeg"

    def analyze(self, data, file_type):  # type: ignore[no-untyped-def]
        return {"jpeg_bytes": len(data)}, []


def test_a_prefiltered_file_is_opened_once_to_stat_and_sniff_it_and_an_image_is_then_read_from_the_start(tmp_path):
    """A walk that did not stat (the scan's local-directory walk) has the hasher open each file for its fstat;
    the size pre-filter's look at the first bytes reuses that open file instead of opening it again, and a file
    the analyzer wants is hashed from byte 0 after the look."""
    from appliance.hashlist.index import LoadedList
    from appliance.hashlist.model import HashRecord, ListInfo

    jpeg = b"\xff\xd8\xff\xe0" + os.urandom(5000)
    (tmp_path / "photo.jpg").write_bytes(jpeg)
    (tmp_path / "notes.txt").write_bytes(b"no listed size has this length")
    listed = LoadedList.from_records(ListInfo("sized"), [HashRecord("md5", b"\x01" * 16, None, 7)])
    source = _CountingSource(tmp_path)
    source.defer_file_stat()
    hasher = FileHasher(source, Matcher([listed]), HashPolicy(ALL), analyzers=[_JpegOnly()])
    results = {e.path: hasher.hash_entry(e) for e in source.walk()}
    assert results[b"notes.txt"].status == "prefiltered"
    photo = results[b"photo.jpg"]
    assert photo.status == "hashed" and photo.digests.values["md5"] == hashlib.md5(jpeg).digest()
    assert photo.extra == {"jpeg_bytes": len(jpeg)}  # the analyzer saw the whole file, from byte 0
    assert source.opens == 2  # one open per file, the look at the first bytes included
