"""Hash-list bundles feed the encrypted hash-list store: full lists, deltas, and the next ``gapscan scan``
uses them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from appliance.hashlist.store import HashListStore
from appliance.update import apply_bundle
from tests.conftest import GapscanRunner
from tests.update.conftest import Vendor, digest_lines


def counts(state_dir: Path) -> dict[str, tuple[int, dict[str, int]]]:
    return {m.name: (m.version, dict(m.counts)) for m in HashListStore(state_dir).metadata()}


def test_full_list_then_delta(appliance: Path, vendor: Vendor) -> None:
    lines = digest_lines(10)
    r = apply_bundle(vendor.hashlist(1, lines), state_dir=appliance, actor="admin")
    assert (r.action, r.detail) == ("installed", "hash list vic v1 installed")
    assert counts(appliance) == {"vic": (1, {"md5": 10})}
    delta = vendor.hashlist(2, digest_lines(3, "added"), base=1, removed=lines[:4])
    r = apply_bundle(delta, state_dir=appliance, actor="admin")
    assert r.detail == "hash list vic delta v1→v2 installed"
    assert counts(appliance) == {"vic": (2, {"md5": 9})}
    apply_bundle(vendor.hashlist(1, digest_lines(2), name="nsrl", list_kind="ignore"), state_dir=appliance,
                 actor="admin")
    assert counts(appliance)["nsrl"] == (1, {"md5": 2})
    assert counts(appliance)["vic"] == (2, {"md5": 9})  # streams are independent


def test_records_format_is_strict(tmp_path: Path) -> None:
    from appliance.update.errors import BundleRefused
    from appliance.update.hashlists import HEADER, validate_member

    bad_lines = [b"md5\tABCDEF\t-\t-\t-\n", b"md5\t" + b"0" * 32 + b"\t-\t-\n", b"crc\t00\t-\t-\t-\n",
                 b"md5\t" + b"0" * 32 + b"\t-1\t-\t-\n", b"md5\t" + b"0" * 32 + b"\t-\t-\tbad\x01label\n",
                 b"md5\t" + b"0" * 32 + b"\t-\t-\t-"]
    for i, line in enumerate(bad_lines):
        p = tmp_path / f"bad{i}.tsv"
        p.write_bytes(HEADER + line)
        with pytest.raises(BundleRefused) as info:
            validate_member(p, "records.tsv")
        assert info.value.reason == "malformed-member" and "line 2" in str(info.value)
        assert "0" * 32 not in str(info.value)  # never a hash value in a message


def test_applied_list_is_used_by_the_next_scan(gapscan: GapscanRunner, appliance: Path, vendor: Vendor,
                                               tmp_path: Path, store_env: dict[str, str]) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / "known.bin").write_bytes(b"known content from a hash list bundle")
    (media / "other.bin").write_bytes(b"something else")
    md5 = hashlib.md5(b"known content from a hash list bundle").hexdigest()
    env = store_env
    done = gapscan("bundle", "apply", vendor.hashlist(3, [f"{md5} category-1"]), env=env)
    assert done.returncode == 0, done.stderr
    done = gapscan("scan", media, "--json", "--no-progress", env=env)
    assert done.returncode == 1, done.stderr
    hits = [json.loads(line) for line in done.stdout.splitlines() if '"list"' in line]
    assert [(h["list"], h["list_version"], h["label"]) for h in hits] == [("vic", 3, "category-1")]
