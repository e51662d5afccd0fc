"""Plain hash-list files given with ``--hashlist``: format, labels, errors that name file and line."""

from __future__ import annotations

from tests.core.conftest import digest, parse_scan


def _tree(tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    (root / "a.bin").write_bytes(b"alpha")
    (root / "b.bin").write_bytes(b"bravo")
    (root / "c.bin").write_bytes(b"charlie")
    return root


def test_comments_blank_lines_case_labels_and_two_lists(gapscan, tmp_path):
    root = _tree(tmp_path)
    first = tmp_path / "first.txt"
    first.write_text("# a comment\n\n   \n"
                     f"{digest(b'alpha', 'md5').upper()}   Category A with spaces\r\n"
                     f"{digest(b'bravo', 'sha256')}\n")
    second = tmp_path / "second.txt"
    second.write_text(f"{digest(b'charlie', 'sha1')} cat-c\n{digest(b'alpha', 'sha1')} from-second\n")

    out = parse_scan(gapscan("scan", root, "--hashlist", first, "--hashlist", second, "--json"))

    assert out.returncode == 1
    got = sorted((h["path"], h["list"], h["algorithm"], h["label"]) for h in out.hits)
    assert got == [("a.bin", "first.txt", "md5", "Category A with spaces"),
                   ("a.bin", "second.txt", "sha1", "from-second"),
                   ("b.bin", "first.txt", "sha256", None),
                   ("c.bin", "second.txt", "sha1", "cat-c")]
    assert out.summary["hits"] == 3  # files with hits, not hit objects


def test_malformed_line_is_an_error_naming_file_and_line(gapscan, tmp_path):
    root = _tree(tmp_path)
    bad = tmp_path / "bad list.txt"
    bad.write_text(f"# header\n{digest(b'alpha', 'md5')}\nnot-a-digest label\n{digest(b'bravo', 'md5')}\n")

    result = gapscan("scan", root, "--hashlist", bad, "--json")

    assert result.returncode == 2
    assert "bad list.txt" in result.stderr and "line 3" in result.stderr
    assert "--lenient" in result.stderr
    assert result.stdout == ""
    assert gapscan("scans").stdout == ""  # no scan was started


def test_lenient_counts_and_skips_malformed_lines(gapscan, tmp_path):
    root = _tree(tmp_path)
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{digest(b'alpha', 'md5')}\nzz\n{'a' * 31}\n{digest(b'bravo', 'md5')} ok\n")

    out = parse_scan(gapscan("scan", root, "--hashlist", bad, "--lenient", "--json"))

    assert out.returncode == 1
    assert out.hit_paths == ["a.bin", "b.bin"]
    assert "skipped 2 malformed line(s)" in out.stderr and "bad.txt" in out.stderr
