"""Fuzz target (hypothesis) for the bundle container, signature block, manifest and root parsers.

Property: whatever the bytes, the verifier answers with BundleRefused (a reason from REASONS) or, only
for the untouched bundle, a verified result; it never raises anything else and never accepts a mutant.
Runs briefly in CI (a few hundred examples); raise ``max_examples`` locally for a longer campaign."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.update.build import build_bundle
from appliance.update.errors import REASONS, BundleRefused
from appliance.update.keys import SigningKey
from appliance.update.manifest import parse_manifest
from appliance.update.trust import ROLES, build_root, parse_root
from appliance.update.verify import verify_stream

_KEYS = {r: SigningKey.generate(r) for r in ROLES}
_ROOT = build_root("gapscan", 1, _KEYS)  # type: ignore[arg-type]
_TMP = Path(tempfile.mkdtemp(prefix="gapscan-fuzz-"))
_SRC = _TMP / "src"
_SRC.mkdir()
(_SRC / "VERSION").write_bytes(b"7\n")
(_SRC / "app").write_bytes(b"#!/bin/sh\n" * 20)
build_bundle(_TMP / "good.gsb", kind="software", version=7, keys=[_KEYS["software"]], payloads=[_SRC],
             signed_at=1_790_000_000)
GOOD = (_TMP / "good.gsb").read_bytes()
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def verify(data: bytes) -> object:
    return verify_stream(io.BytesIO(data), root=_ROOT, production=True, state_dir=_TMP / "state", clock=None,
                         expect_kind=None)


def refused_or_verified(data: bytes) -> None:
    try:
        result = verify(data)
    except BundleRefused as exc:
        assert exc.reason in REASONS
        return
    assert data == GOOD, "a modified bundle verified"
    assert result is not None


def test_the_good_bundle_verifies() -> None:
    assert verify(GOOD).version == 7  # type: ignore[attr-defined]


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    refused_or_verified(data)
    refused_or_verified(GOOD[:8] + data)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), min_size=1, max_size=4),
       st.integers(0, len(GOOD)), st.binary(max_size=16))
def test_mutated_bundle(flips: list[tuple[int, int]], cut: int, insert: bytes) -> None:
    data = bytearray(GOOD)
    for pos, value in flips:
        data[pos] = value
    refused_or_verified(bytes(data))
    refused_or_verified(GOOD[:cut] + insert + GOOD[cut:])


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda children: st.lists(children, max_size=4)
                     | st.dictionaries(st.text(max_size=10), children, max_size=6), max_leaves=30)
_member = st.fixed_dictionaries({"name": st.text(max_size=30), "size": st.integers(-1, 2**40),
                                 "sha256": st.text("0123456789abcdef", min_size=63, max_size=65)},
                                optional={"mode": st.integers(-1, 0o7777), "type": st.text(max_size=8)})
_manifest = st.fixed_dictionaries({
    "format": st.sampled_from([1, 2, "1"]), "kind": st.sampled_from(["hashlist", "software", "root", "x"]),
    "product": st.text(max_size=10), "version": st.integers(-2, 2**64), "base": st.none() | st.integers(-1, 9),
    "signed_at": st.integers(-1, 2**40), "expires": st.none() | st.integers(0, 9),
    "list": st.none() | st.fixed_dictionaries({"name": st.text(max_size=70), "kind": st.text(max_size=6)}),
    "members": st.lists(_member, max_size=5)})


@FUZZ
@given(st.one_of(_json, _manifest))
def test_manifest_parser(doc: object) -> None:
    from appliance.update.canonical import canonical_json

    try:
        parse_manifest(canonical_json(doc))
    except BundleRefused as exc:
        assert exc.reason in REASONS


@FUZZ
@given(st.binary(max_size=512) | _json.map(lambda d: __import__("json").dumps(d).encode()))
def test_root_parser(data: bytes) -> None:
    try:
        parse_root(data, source="fuzz")
    except BundleRefused as exc:
        assert exc.reason in REASONS
