"""The vectorised chunk parser of the line formats (text, hashdeep, ClamAV) against the per-line parser: the same
records in the same order, the same built arrays, and the per-line parser's exact errors and --lenient counts
where a chunk holds anything the fast check does not accept."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from appliance.hashlist.builder import ListArrays, ListBuilder
from appliance.hashlist.importers import ImportStats, RecordBatch, chunks, clamav, hashdeep, text
from appliance.hashlist.index import ExactIndex
from appliance.hashlist.model import HashListFormatError

MODULES = {"text": text, "hashdeep": hashdeep, "clamav": clamav}


def _hex(rng: random.Random, n: int) -> str:
    h = rng.randbytes(n).hex()
    return h.upper() if rng.random() < 0.2 else h


def _text_lines(rng: random.Random, n: int) -> list[str]:
    out = ["# a comment", ""]
    for i in range(n):
        digest = _hex(rng, rng.choice((16, 16, 20, 32)))
        r = rng.random()
        if r < 0.4:
            out.append(digest)
        elif r < 0.6:
            out.append(f"{digest}  dir/file {i % 7}.bin")
        elif r < 0.7:
            out.append(f"{digest} *bin{i % 3}")
        elif r < 0.8:
            out.append(f"  {digest}\tlabel\t{i % 5}  ")
        elif r < 0.85:
            out.append(f"# comment {i}")
        elif r < 0.9:
            out.append("   ")
        else:
            out.append(f"{digest} *")
    return out


def _hashdeep_lines(rng: random.Random, n: int) -> list[str]:
    out = ["%%%% HASHDEEP-1.0", "%%%% size,md5,sha1,filename", "## Invoked from: /x", "##"]
    for i in range(n):
        out.append(f"{rng.randrange(0, 10 ** rng.randrange(1, 12))},{_hex(rng, 16)},{_hex(rng, 20)},"
                   f"/evidence/f{i}, with comma.dat")
        if rng.random() < 0.02:
            out.append("")
    return out


def _clamav_lines(rng: random.Random, n: int) -> list[str]:
    out = []
    for i in range(n):
        size = "*" if rng.random() < 0.1 else str(rng.randrange(0, 10 ** 9))
        flevel = ":73" if rng.random() < 0.2 else ""
        out.append(f"{_hex(rng, rng.choice((16, 20, 32)))}:{size}:Sig.Name-{i % 50}{flevel}")
        if rng.random() < 0.02:
            out.append("# comment")
    return out


GENERATORS: dict[str, Callable[[random.Random, int], list[str]]] = {
    "text": _text_lines, "hashdeep": _hashdeep_lines, "clamav": _clamav_lines}


def _write(path: Path, lines: list[str], *, crlf: bool = False, bom: bool = False, final_newline: bool = True,
           extra: dict[int, str] | None = None) -> Path:
    lines = list(lines)
    for at, line in (extra or {}).items():
        lines.insert(at, line)
    body = ("\r\n" if crlf else "\n").join(lines) + (("\r\n" if crlf else "\n") if final_newline else "")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + body.encode("utf-8"))
    return path


@pytest.fixture(params=[(97, 1000), (64 << 10, 4 << 20)], ids=["tiny-chunks", "default-chunks"])
def chunk_sizes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    monkeypatch.setattr(chunks, "FIRST_CHUNK", request.param[0])
    monkeypatch.setattr(chunks, "CHUNK", request.param[1])
    return request.param


def _both(path: Path, fmt: str, lenient: bool = False) -> tuple[list, list, ImportStats, ImportStats, int]:
    module = MODULES[fmt]
    slow_stats, fast_stats = ImportStats(), ImportStats()
    slow = list(module.iter_items(path, lenient=lenient, stats=slow_stats, fast=False))
    items = list(module.iter_items(path, lenient=lenient, stats=fast_stats))
    batches = sum(isinstance(i, RecordBatch) for i in items)
    fast = [r for i in items for r in (i.records() if isinstance(i, RecordBatch) else [i])]
    return slow, fast, slow_stats, fast_stats, batches


VARIANTS = {
    "lf": {},
    "crlf": {"crlf": True},
    "bom": {"bom": True},
    "no-final-newline": {"final_newline": False},
    "crlf-bom-no-final-newline": {"crlf": True, "bom": True, "final_newline": False},
}


@pytest.mark.parametrize(("fmt", "variant"), [  # ClamAV databases carry no BOM: no such combination
    (f, v) for f in sorted(MODULES) for v in sorted(VARIANTS) if not (f == "clamav" and VARIANTS[v].get("bom"))])
def test_fast_path_yields_the_per_line_records(tmp_path: Path, chunk_sizes: tuple[int, int], fmt: str,
                                               variant: str) -> None:
    rng = random.Random(f"{fmt}-{variant}")
    lines = GENERATORS[fmt](rng, 3000)
    p = _write(tmp_path / f"list.{fmt}", lines, **VARIANTS[variant])
    slow, fast, slow_stats, fast_stats, batches = _both(p, fmt)
    assert slow and not any(isinstance(r, RecordBatch) for r in slow)
    assert fast == slow
    assert fast_stats == slow_stats
    assert batches >= 1  # the fast path did run (not everything fell back)


@pytest.mark.parametrize("fmt", sorted(MODULES))
def test_odd_lines_fall_back_per_chunk_with_the_same_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             fmt: str) -> None:
    """Non-ASCII labels, a lone CR, a second hashdeep header, tabs: those chunks go per line, others stay fast
    (small chunks, so that most of them hold no odd line)."""
    monkeypatch.setattr(chunks, "FIRST_CHUNK", 97)
    monkeypatch.setattr(chunks, "CHUNK", 4000)
    rng = random.Random(fmt)
    lines = GENERATORS[fmt](rng, 4000)
    digest = rng.randbytes(16).hex()
    odd = {"text": {900: f"{digest}  café.jpg", 1800: f"{digest}\rlabel", 2500: f"{digest}\x0cform-feed"},
           "hashdeep": {900: "%%%% size,md5,filename", 901: f"12,{digest},é.jpg",
                        1800: f"7,{digest},a\r8,{digest},b", 2500: "\t"},
           "clamav": {900: f"{digest}:10:Sig.é", 1800: f"{digest}:10:a\rb", 2500: f" {digest} : 10 :spaced"}}[fmt]
    p = _write(tmp_path / f"odd.{fmt}", lines, extra=odd)
    slow, fast, slow_stats, fast_stats, batches = _both(p, fmt)
    assert fast == slow and fast_stats == slow_stats and batches >= 1


def _deep_error(fmt: str, rng: random.Random) -> tuple[list[str], int, str]:
    lines = GENERATORS[fmt](rng, 60_000)
    digest = rng.randbytes(16).hex()
    bad = {"text": (f"{digest[:-1]}g  x", "digest"), "hashdeep": (f"1O,{digest},{'ab' * 20},f", "size"),
           "clamav": (f"{digest}:10", "fields")}[fmt]
    at = len(lines) - 1000
    lines.insert(at, bad[0])
    return lines, at + 1, bad[1]


@pytest.mark.parametrize("fmt", sorted(MODULES))
def test_a_malformed_line_deep_in_a_big_file_is_named_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              fmt: str) -> None:
    monkeypatch.setattr(chunks, "CHUNK", 1 << 18)  # a few MB of list: many chunks before and after the bad one
    lines, line_no, field = _deep_error(fmt, random.Random(7))
    p = _write(tmp_path / f"big.{fmt}", lines, crlf=fmt == "hashdeep")
    with pytest.raises(HashListFormatError) as err:
        list(MODULES[fmt].iter_records(p))
    assert (err.value.file, err.value.line, err.value.field) == (str(p), line_no, field)
    slow, fast, slow_stats, fast_stats, batches = _both(p, fmt, lenient=True)
    assert fast == slow and fast_stats.skipped == slow_stats.skipped == 1 and batches >= 2


def _arrays(a: ListArrays) -> dict:
    out: dict = {"labels": a.labels, "sizes": None if a.sizes is None else a.sizes.tolist(),
                 "categories": a.categories, "counts": a.counts}
    for alg, ix in a.exact.items():
        prefix, rest, payload = ix.arrays()
        out[alg] = (prefix.tobytes(), rest.tobytes(), None if payload is None else (payload.dtype.str,
                                                                                      payload.tobytes()))
    return out


@pytest.mark.parametrize("fmt", sorted(MODULES))
def test_builder_arrays_are_the_same_from_batches_and_records(tmp_path: Path, chunk_sizes: tuple[int, int],
                                                              fmt: str) -> None:
    rng = random.Random(f"arrays-{fmt}")
    lines = GENERATORS[fmt](rng, 3000)
    lines += lines[100:400]  # duplicates: the first occurrence's label wins on both paths
    p = _write(tmp_path / f"dup.{fmt}", lines)
    module = MODULES[fmt]
    for category in (None, "seized"):
        slow, fast = ListBuilder(category=category), ListBuilder(category=category)
        slow.add_all(module.iter_items(p, fast=False))
        fast.add_all(module.iter_items(p))
        assert _arrays(fast.build()) == _arrays(slow.build())


def test_from_parts_matches_build_with_duplicates_and_shared_prefixes() -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    raw = np.frombuffer(rng.bytes(20 * n), dtype=np.uint8).reshape(n, 20).copy()
    raw[:500, :8] = 7  # many entries share an 8-byte prefix
    raw[500:900] = raw[1000:1400]  # exact duplicates, later ones with other labels
    ids = rng.integers(0, 300, n).astype(np.uint32)
    built = ExactIndex.build("sha1", raw.tobytes(), ids, 300)
    order = np.argsort(raw[:, 0], kind="stable")
    bounds = np.searchsorted(raw[order, 0], [0, 64, 128, 192, 256])
    parts = [(raw[order[a:b]], ids[order[a:b]]) for a, b in itertools.pairwise(bounds)]
    from_parts = ExactIndex.from_parts("sha1", iter(parts), n, 300)
    for x, y in zip(built.arrays(), from_parts.arrays(), strict=True):
        assert x.dtype == y.dtype and np.array_equal(x, y)
    assert len(built) == n - 400
    keys = np.frombuffer(raw.tobytes(), dtype="S20")
    first = {k: int(i) for k, i in reversed(list(zip(keys.tolist(), ids, strict=True)))}
    got = built.lookup(keys)
    assert got.tolist() == [first[k] for k in keys.tolist()]
    with pytest.raises(ValueError, match="ascending"):
        ExactIndex.from_parts("sha1", iter(parts[::-1]), n, 300)


def test_add_arrays_keeps_labels_when_a_second_label_comes_late_and_sizes() -> None:
    """Label ids are only stored once a second label appears: the earlier entries must keep label 0."""
    rng = np.random.default_rng(9)
    first, later = rng.bytes(16 * 70_000), rng.bytes(16 * 30_000)
    b = ListBuilder()
    a_id, b_id = b.label_id("A"), b.label_id("B")
    b.add_arrays("md5", first, None, np.arange(70_000))
    b.add_arrays("md5", later, np.full(30_000, b_id, dtype=np.uint32), np.arange(30_000) + (1 << 33))
    built = b.build()
    got = built.exact["md5"].lookup(np.frombuffer(first[:1600] + later[:1600] + rng.bytes(16), dtype="S16"))
    assert got.tolist() == [a_id] * 100 + [b_id] * 100 + [-1]
    assert built.sizes is not None and len(built.sizes) == 100_000 and built.sizes.dtype == np.int64
    assert built.categories == {"A": 70_000, "B": 30_000}
    unsized = ListBuilder()
    unsized.label_id(None)
    unsized.add_arrays("sha1", rng.bytes(20 * 10), None, None)
    assert unsized.build().sizes is None
