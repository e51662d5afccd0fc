"""Every importer against the shared samples (contents 1..5 of formats/README.md) and generated malformed input."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tracemalloc
from pathlib import Path

import pytest

from appliance.errors import GapscanError
from appliance.hashlist.importers import ImportStats, detect_format, iter_file, vics
from appliance.hashlist.model import HashListFormatError
from tests.hashlist.conftest import digests_of

EXPECTED_FORMAT = {
    "plain-mixed.txt": "text", "sha256sum.txt": "text", "hashdeep.txt": "hashdeep", "clamav.hdb": "clamav",
    "clamav.hsb": "clamav", "NSRLFile.txt": "nsrl", "nsrl-rdsv3.db": "nsrl", "vics-1.3-media.json": "vics",
    "vics-2.0-cases.json": "vics", "threatexchange-local.txt": "pdq", "pdq.csv": "pdq",
}


def _which_content(alg: str, digest: bytes) -> int | None:
    for i in range(1, 6):
        if digests_of(i).get(alg) == digest:
            return i
    return None


def _load(path: Path, **kw: object) -> tuple[list, ImportStats]:
    stats = ImportStats()
    return list(iter_file(path, "auto", stats=stats, **kw)), stats  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(EXPECTED_FORMAT))
def test_detect_format_names_every_sample(formats: Path, name: str) -> None:
    assert detect_format(formats / name) == EXPECTED_FORMAT[name]


def test_detect_format_refuses_unknown_file(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("hello world\n")
    with pytest.raises(GapscanError, match="cannot tell the hash-list format"):
        detect_format(p)


@pytest.mark.parametrize(("name", "expected"), [
    ("plain-mixed.txt", [("md5", 1), ("sha1", 2), ("sha256", 3), ("md5", 4), ("sha1", 5)]),
    ("sha256sum.txt", [("sha256", i) for i in range(1, 6)]),
    ("hashdeep.txt", [(a, i) for i in range(1, 6) for a in ("md5", "sha256")]),
    ("clamav.hdb", [("md5", i) for i in range(1, 6)]),
    ("clamav.hsb", [("sha256", 1), ("sha256", 2), ("sha256", 3), ("sha1", 4), ("sha256", 5)]),
    ("NSRLFile.txt", [(a, i) for i in range(1, 6) for a in ("sha1", "md5")]),
])
def test_exact_formats_yield_the_example_digests(formats: Path, name: str, expected: list) -> None:
    records, stats = _load(formats / name)
    assert [(r.algorithm, _which_content(r.algorithm, r.digest)) for r in records] == expected
    assert stats.skipped == 0


def test_plain_text_keeps_labels_and_sha256sum_names(formats: Path) -> None:
    records, _ = _load(formats / "plain-mixed.txt")
    assert [r.label for r in records] == [None, "label two", "third entry", None, None]
    records, _ = _load(formats / "sha256sum.txt")
    assert [r.label for r in records][:2] == ["dir/file 1.bin", "dir/file 2.bin"]  # '*' binary marker dropped


def test_sized_formats_carry_sizes_and_clamav_star_means_any(formats: Path) -> None:
    for name in ("hashdeep.txt", "clamav.hdb", "NSRLFile.txt", "nsrl-rdsv3.db", "vics-1.3-media.json"):
        records, _ = _load(formats / name)
        assert {r.size for r in records} == {10}, name
    hsb, _ = _load(formats / "clamav.hsb")
    assert [r.size for r in hsb] == [10, 10, 10, 10, None]
    assert hsb[0].label == "Synthetic.Sha256-1"


def test_nsrl_rdsv3_streams_every_row_and_hashes_match(formats: Path) -> None:
    records, stats = _load(formats / "nsrl-rdsv3.db")
    assert stats.records == 6  # one row per package; the index de-duplicates
    assert {(r.algorithm, _which_content(r.algorithm, r.digest)) for r in records} == {
        (a, i) for i in range(1, 6) for a in ("sha256", "sha1", "md5")}


@pytest.mark.parametrize("name", ["vics-1.3-media.json", "vics-2.0-cases.json"])
def test_vics_keeps_categories_and_leaves_out_category_0(formats: Path, name: str) -> None:
    records, stats = _load(formats / name)
    assert stats.excluded == 1
    doc = json.loads((formats / name).read_text())
    media = doc["value"] if "1.3" in name else [m for case in doc["value"] for m in case["Media"]]
    for m in media:
        i = _which_content("md5", bytes.fromhex(m["MD5"]))
        got = [r for r in records if r.algorithm == "md5" and _which_content("md5", r.digest) == i]
        if m["Category"] == 0:
            assert got == []
        else:
            assert [r.label for r in got] == [f"category {m['Category']}"]
    algs = {r.algorithm for r in records}
    assert ("sha256" in algs and "pdq" in algs) == ("2.0" in name)
    everything = list(vics.iter_records(formats / name, include_not_pertinent=True))
    assert "category 0" in {r.label for r in everything}


def test_pdq_csv_keeps_labels_and_per_entry_distance(formats: Path) -> None:
    records, _ = _load(formats / "pdq.csv")
    assert [(r.algorithm, r.label, r.distance) for r in records] == [("pdq", "bridge", 31),
                                                                      ("pdq", "bridge-rot90", None)]
    assert records[0].digest.hex() == "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def test_threatexchange_signal_file(formats: Path) -> None:
    records, _ = _load(formats / "threatexchange-local.txt")
    assert [r.algorithm for r in records] == ["pdq", "pdq", "md5"]
    assert _which_content("md5", records[2].digest) == 1


def test_pdq_tsv_without_header(tmp_path: Path) -> None:
    p = tmp_path / "list.tsv"
    p.write_text("ab" * 32 + "\tcat-a\t12\n" + "CD" * 32 + "\t\t\n")
    records = list(iter_file(p, "pdq"))
    assert [(r.label, r.distance) for r in records] == [("cat-a", 12), (None, None)]


# -- malformed input: each names file, line/record and field; --lenient counts and skips ----------------

GOOD_MD5 = hashlib.md5(b"x").hexdigest()
MALFORMED = {
    "text": ("list.txt", f"{GOOD_MD5}\nnot-a-digest here\n{GOOD_MD5[:-1]}\n", 2, "digest"),
    "hashdeep": ("hd.txt", f"%%%% HASHDEEP-1.0\n%%%% size,md5,filename\n10,{GOOD_MD5},a\nten,{GOOD_MD5},b\n",
                 4, "size"),
    "clamav": ("sigs.hdb", f"{GOOD_MD5}:10:Good\n{GOOD_MD5[:30]}zz:10:Bad\n", 2, "hash"),
    "nsrl": ("NSRLFile.txt", '"SHA-1","MD5","CRC32","FileName","FileSize","ProductCode","OpSystemCode",'
             f'"SpecialCode"\r\n"{"A" * 40}","{GOOD_MD5}","0","f","10","1","1",""\r\n'
             f'"{"A" * 40}","{GOOD_MD5}","0","f","-3","1","1",""\r\n', 3, "FileSize"),
    "pdq": ("p.csv", "pdq_hash,label,distance\n" + "ab" * 32 + ",x,10\n" + "ab" * 32 + ",x,999\n", 3, "distance"),
    "vics": ("v.json", json.dumps({"odata.metadata": "x/1.3.xml#Media", "value": [
        {"Category": 1, "MD5": GOOD_MD5, "MediaSize": 10},
        {"Category": 2, "MD5": "XYZ", "MediaSize": 10}]}), 2, "MD5"),
}


@pytest.mark.parametrize("fmt", sorted(MALFORMED))
def test_malformed_record_names_file_line_and_field(tmp_path: Path, fmt: str) -> None:
    fname, body, line, field = MALFORMED[fmt]
    p = tmp_path / fname
    p.write_text(body)
    with pytest.raises(HashListFormatError) as err:
        list(iter_file(p, fmt))
    assert (err.value.file, err.value.line, err.value.field) == (str(p), line, field)
    assert str(p) in str(err.value) and f"line {line}" in str(err.value)
    stats = ImportStats()
    records = list(iter_file(p, fmt, lenient=True, stats=stats))
    assert stats.skipped >= 1 and records  # the good record survives


def test_broken_vics_json_is_an_error_even_when_lenient(tmp_path: Path) -> None:
    p = tmp_path / "v.json"
    p.write_text('{"@odata.context": "x/2.0.xml/US/$metadata#Cases", "value": [{"Media": [{"Category": 1, "MD5": ')
    with pytest.raises(HashListFormatError, match="json"):
        list(iter_file(p, "vics", lenient=True))


def test_nsrl_database_without_file_table_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "other.db"
    sqlite3.connect(p).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(HashListFormatError, match="FILE"):
        list(iter_file(p, "nsrl"))


def _write_vics(p: Path, n: int) -> None:
    with open(p, "w") as fh:
        fh.write('{"@odata.context": "x/2.0.xml/US/$metadata#Cases", "value": [{"CaseID": "c", "Media": [')
        for i in range(n):
            d = hashlib.md5(str(i).encode()).hexdigest().upper()
            fh.write(("," if i else "") + json.dumps({"Category": 1 + i % 3, "MD5": d, "MediaSize": i,
                                                      "MediaFiles": [{"FileName": f"f{i}.jpg", "MD5": d}]}))
        fh.write("]}]}")


def _peak_while_reading(p: Path) -> tuple[int, int]:
    tracemalloc.start()
    try:
        n = sum(1 for _ in iter_file(p, "vics"))
        return n, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_vics_is_parsed_streaming(tmp_path: Path) -> None:
    """Memory while reading does not grow with the file: 8× the Media, about the same peak (no json.load)."""
    small, big = tmp_path / "small.json", tmp_path / "big.json"
    _write_vics(small, 1000)
    _write_vics(big, 8000)
    n_small, peak_small = _peak_while_reading(small)
    n_big, peak_big = _peak_while_reading(big)
    assert (n_small, n_big) == (1000, 8000)
    assert peak_big < peak_small * 1.5 + 65536, (peak_small, peak_big)
