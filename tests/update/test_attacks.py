"""The issue's attack suite T1–T13, T15–T17 (T14 power cut: test_powercut.py). Each hostile bundle must be
refused with its exact reason and leave installed software, hash lists and version state byte for byte
as they were (``state_snapshot`` before/after), with no work files left behind."""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest

from appliance.audit import AuditLog
from appliance.update import BundleRefused, apply_bundle, verify_bundle
from appliance.update.container import MAGIC, MAX_MANIFEST_BYTES
from appliance.update.keys import SigningKey
from appliance.update.state import set_production
from appliance.update.trust import build_root
from tests.update.conftest import SIGNED_AT, Vendor, digest_lines, release_files, state_snapshot


def refuse(bundle: Path, state_dir: Path, reason: str, **kwargs: Any) -> BundleRefused:
    before = state_snapshot(state_dir)
    with pytest.raises(BundleRefused) as info:
        apply_bundle(bundle, state_dir=state_dir, actor="attacker", **kwargs)
    assert info.value.reason == reason, str(info.value)
    assert f"({reason})" in str(info.value)
    assert state_snapshot(state_dir) == before
    assert not list((state_dir / "update").glob("work-*")), "work files left behind"
    return info.value


def mutate(path: Path, offset: int, new: bytes | None = None) -> Path:
    data = bytearray(path.read_bytes())
    if new is None:
        data[offset] ^= 0x01
    else:
        data[offset:offset + len(new)] = new
    out = path.with_name(f"mut-{offset}-{path.name}")
    out.write_bytes(bytes(data))
    return out


def layout(path: Path) -> dict[str, int]:
    data = path.read_bytes()
    mlen = struct.unpack(">I", data[8:12])[0]
    slen = struct.unpack(">I", data[12 + mlen:16 + mlen])[0]
    return {"manifest": 12, "mlen": mlen, "slenpos": 12 + mlen, "sigs": 16 + mlen, "slen": slen,
            "payload": 16 + mlen + slen, "end": len(data)}


def read_sw(state_dir: Path, name: str) -> bytes:
    slots = json.loads((state_dir / "software" / "slots.json").read_bytes())
    return (state_dir / "software" / slots["current"] / name).read_bytes()


# --- T1 flipped bytes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["manifest-first", "manifest-middle", "manifest-last", "signature",
                                   "payload-first", "payload-middle", "payload-last"])
def test_t1_flipped_byte(installed: Path, vendor: Vendor, where: str) -> None:
    good = vendor.software(2)
    lay = layout(good)
    offsets = {"manifest-first": lay["manifest"], "manifest-middle": lay["manifest"] + lay["mlen"] // 2,
               "manifest-last": lay["manifest"] + lay["mlen"] - 1,
               "payload-first": lay["payload"], "payload-middle": (lay["payload"] + lay["end"]) // 2,
               "payload-last": lay["end"] - 1}
    if where == "signature":  # a different hex digit inside the signature value: still well-formed
        data = good.read_bytes()
        pos = data.index(b'"sig":"', lay["sigs"]) + 7 + 20
        bad = mutate(good, pos, b"0" if data[pos:pos + 1] != b"0" else b"1")
        expected = "bad-signature"
    else:
        bad = mutate(good, offsets[where])
        expected = "bad-signature" if where.startswith("manifest") else "hash-mismatch"
    refuse(bad, installed, expected)
    assert apply_bundle(good, state_dir=installed, actor="t").action == "installed"  # the intact one passes


# --- T2 truncation ------------------------------------------------------------------------------------

def test_t2_truncation_at_every_boundary(installed: Path, vendor: Vendor) -> None:
    good = vendor.software(2)
    lay = layout(good)
    data = good.read_bytes()
    cuts = {0, 1, 7, 8, 11, 12, 12 + lay["mlen"] // 2, lay["sigs"] - 1, lay["sigs"], lay["sigs"] + 2,
            lay["sigs"] + 4, lay["sigs"] + 4 + lay["slen"] // 2, lay["payload"] - 1, lay["payload"],
            lay["payload"] + 1, lay["end"] - 1}
    sizes = [s for _, s in verify_bundle(good, state_dir=installed).members]
    cuts.add(lay["payload"] + sizes[0])  # between members
    for cut in sorted(cuts):
        out = good.with_name(f"cut-{cut}.gsb")
        out.write_bytes(data[:cut])
        refuse(out, installed, "truncated")


# --- T3 appended data, extra member -------------------------------------------------------------------

def test_t3_appended_data_and_extra_member(installed: Path, vendor: Vendor) -> None:
    good = vendor.software(2)
    tail = good.with_name("tail.gsb")
    tail.write_bytes(good.read_bytes() + b"\x00")
    refuse(tail, installed, "unexpected-data")
    extra = good.with_name("extra.gsb")  # a whole extra member: no header of ours can smuggle it in
    extra.write_bytes(good.read_bytes() + b"#!/bin/sh\nrm -rf /\n")
    refuse(extra, installed, "unexpected-data")
    # a signed manifest naming a member a hash-list bundle must not have
    records = vendor.hashlist(2, digest_lines(3)).read_bytes()
    lay = layout(vendor.hashlist(2, digest_lines(3)))
    manifest = json.loads(records[12:12 + lay["mlen"]])
    payload = records[lay["payload"]:]
    manifest["members"].append({"name": "run.sh", "size": 3, "sha256": hashlib.sha256(b"x=1").hexdigest()})
    refuse(vendor.raw(manifest, [payload, b"x=1"], [vendor.keys["lists"]]), installed, "malformed")


# --- T4 keys: unknown, development on production, revoked, below threshold ----------------------------

def test_t4_unknown_key(installed: Path, vendor: Vendor) -> None:
    stranger = SigningKey.generate("software")
    e = refuse(vendor.software(2, keys=[stranger]), installed, "unknown-key")
    assert stranger.keyid[:16] in str(e)


def test_t4_dev_key_refused_on_production_only(state_dir: Path, vendor: Vendor) -> None:
    dev = SigningKey.generate("software", dev=True)
    vendor.keys["software"] = dev
    from appliance.update.state import provision_root

    provision_root(state_dir, vendor.make_root().to_bytes(), production=True)
    e = refuse(vendor.software(2), state_dir, "dev-key")
    assert "production" in str(e)
    set_production(state_dir, False)  # the same bundle on a development unit
    assert apply_bundle(vendor.software(2), state_dir=state_dir, actor="t").action == "installed"


def test_t4_revoked_key(state_dir: Path, vendor: Vendor) -> None:
    from appliance.update.state import provision_root

    second = SigningKey.generate("software")
    root = build_root("gapscan", 1, {**vendor.keys, "software": [vendor.keys["software"], second]},
                      revoked=[vendor.keys["software"].keyid])
    provision_root(state_dir, root.to_bytes(), production=False)
    refuse(vendor.software(2), state_dir, "revoked-key")
    assert apply_bundle(vendor.software(2, keys=[second]), state_dir=state_dir, actor="t").action == "installed"


def test_t4_below_threshold(state_dir: Path, vendor: Vendor) -> None:
    from appliance.update.state import provision_root

    k1, k2 = vendor.keys["software"], SigningKey.generate("software")
    root = build_root("gapscan", 1, {**vendor.keys, "software": [k1, k2]}, {"software": 2})
    provision_root(state_dir, root.to_bytes(), production=False)
    e = refuse(vendor.software(2, keys=[k1]), state_dir, "below-threshold")
    assert "1 valid software signature(s), 2 required" in str(e)
    refuse(vendor.software(2, keys=[k1, k1]), state_dir, "below-threshold")  # one key twice counts once
    assert apply_bundle(vendor.software(2, keys=[k1, k2]), state_dir=state_dir, actor="t").action == "installed"


# --- T5 signature missing -----------------------------------------------------------------------------

def test_t5_signature_missing(installed: Path, vendor: Vendor) -> None:
    good = vendor.software(2)
    data, lay = good.read_bytes(), layout(good)
    head = data[:lay["slenpos"]]
    payload = data[lay["payload"]:]
    empty = good.with_name("nosig.gsb")
    empty.write_bytes(head + struct.pack(">I", 0) + payload)
    refuse(empty, installed, "missing-signature")
    blk = b'{"signatures":[]}'
    listed = good.with_name("emptylist.gsb")
    listed.write_bytes(head + struct.pack(">I", len(blk)) + blk + payload)
    refuse(listed, installed, "missing-signature")


# --- T6 replay, equal version -------------------------------------------------------------------------

def test_t6_replay_older_software_and_list(installed: Path, vendor: Vendor) -> None:
    v2, v3 = vendor.software(2), vendor.software(3)
    apply_bundle(v3, state_dir=installed, actor="t")
    refuse(v2, installed, "rollback")
    before = state_snapshot(installed)
    assert apply_bundle(v3, state_dir=installed, actor="t").action == "no-op"
    assert state_snapshot(installed) == before
    l1 = vendor.hashlist(1, digest_lines(5))  # same version as installed: no-op
    assert apply_bundle(l1, state_dir=installed, actor="t").action == "no-op"
    apply_bundle(vendor.hashlist(4, digest_lines(6)), state_dir=installed, actor="t")
    e = refuse(vendor.hashlist(3, digest_lines(9)), installed, "rollback")
    assert "v3 is older than the installed v4" in str(e)


# --- T7 mix and match; delta on the wrong base --------------------------------------------------------

def test_t7_manifest_of_n_with_payload_of_n_minus_1(installed: Path, vendor: Vendor) -> None:
    same_size = {"VERSION": b"2\n", "bin/gapscan-app": b"#!/bin/sh\necho v2\n" * 50}
    old = vendor.software(2, files=same_size)
    new = vendor.software(3, files={"VERSION": b"3\n", "bin/gapscan-app": b"#!/bin/sh\necho v3\n" * 50})
    lo, ln = layout(old), layout(new)
    mixed = new.with_name("mixed.gsb")
    mixed.write_bytes(new.read_bytes()[:ln["payload"]] + old.read_bytes()[lo["payload"]:])
    refuse(mixed, installed, "hash-mismatch")


def test_t7_delta_on_wrong_base(installed: Path, vendor: Vendor) -> None:
    delta = vendor.hashlist(3, digest_lines(2, "new"), base=2, removed=[])
    e = refuse(delta, installed, "wrong-base")
    assert "applies to v2, but v1 is installed" in str(e)
    ok = vendor.hashlist(2, digest_lines(2, "new"), base=1, removed=digest_lines(1))
    assert apply_bundle(ok, state_dir=installed, actor="t").action == "installed"


# --- T8 fast-forward attack recovery after key rotation -----------------------------------------------

def test_t8_fast_forward_recovery(installed: Path, vendor: Vendor) -> None:
    stolen = vendor.keys["lists"]
    attack = vendor.hashlist(1_000_000, digest_lines(1, "evil"), keys=[stolen], signed_at=SIGNED_AT + 10**9)
    apply_bundle(attack, state_dir=installed, actor="attacker")  # a compromised lists key: accepted
    refuse(vendor.hashlist(3, digest_lines(7)), installed, "rollback")  # legitimate updates now blocked
    new_lists = SigningKey.generate("lists")
    vendor.keys["lists"] = new_lists
    root2 = vendor.make_root(2, revoked=[stolen.keyid])
    result = apply_bundle(vendor.rootbundle(root2), state_dir=installed, actor="vendor")
    assert "version floors reset for lists" in result.detail
    assert apply_bundle(vendor.hashlist(3, digest_lines(7)), state_dir=installed,
                        actor="t").action == "installed"
    refuse(attack, installed, "revoked-key")  # the stolen key is revoked by the new root
    refuse(vendor.hashlist(2, digest_lines(7)), installed, "rollback")  # floors hold again


# --- T9 hostile member names --------------------------------------------------------------------------

def _one_member(name: str, data: bytes = b"x\n", **extra: Any) -> tuple[dict[str, Any], list[bytes]]:
    return ({"format": 1, "kind": "software", "product": "gapscan", "version": 2, "base": None,
             "signed_at": SIGNED_AT, "expires": None, "list": None,
             "members": [{"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), **extra}]},
            [data])


@pytest.mark.parametrize("name", ["../x", "/abs", "a\\..\\b", "a/../../b", "a\x00b", "x" * 201,
                                  "a/" + "y" * 101, "\u0430pp", "ａｐｐ", "café", ".hidden", "a//b", "./a", ""])
def test_t9_hostile_names(installed: Path, vendor: Vendor, name: str) -> None:
    manifest, members = _one_member(name)
    refuse(vendor.raw(manifest, members), installed, "unsafe-member")


def test_t9_case_collision(installed: Path, vendor: Vendor) -> None:
    manifest, _ = _one_member("App")
    manifest["members"].append({**manifest["members"][0], "name": "app"})
    refuse(vendor.raw(manifest, [b"x\n", b"x\n"]), installed, "unsafe-member")
    manifest, _ = _one_member("bin")
    manifest["members"].append({**manifest["members"][0], "name": "BIN/run"})
    refuse(vendor.raw(manifest, [b"x\n", b"x\n"]), installed, "unsafe-member")


# --- T10 links, devices, setuid; bundle that is a link or FIFO ---------------------------------------

@pytest.mark.parametrize("extra", [{"type": "symlink", "link": "/etc/shadow"}, {"type": "hardlink", "link": "x"},
                                   {"type": "fifo"}, {"type": "chardev", "major": 1, "minor": 3},
                                   {"mode": 0o4755}, {"mode": 0o2755}, {"mode": 0o1777}, {"mode": 0o20644}])
def test_t10_non_regular_members(installed: Path, vendor: Vendor, extra: dict[str, Any]) -> None:
    manifest, members = _one_member("bin/tool", **extra)
    refuse(vendor.raw(manifest, members), installed, "unsafe-member")


def test_t10_bundle_file_symlink_or_fifo(installed: Path, vendor: Vendor, tmp_path: Path) -> None:
    link = tmp_path / "link.gsb"
    link.symlink_to(vendor.software(2))
    refuse(link, installed, "not-a-file")
    fifo = tmp_path / "fifo.gsb"
    os.mkfifo(fifo)
    refuse(fifo, installed, "not-a-file")  # refused at once, never blocks waiting for a writer
    refuse(tmp_path, installed, "not-a-file")


# --- T11 oversize manifest/signatures, bombs, a million members ---------------------------------------

def test_t11_oversized_manifest_and_signature(installed: Path, vendor: Vendor, tmp_path: Path) -> None:
    big = tmp_path / "bigmanifest.gsb"
    big.write_bytes(MAGIC + struct.pack(">I", MAX_MANIFEST_BYTES + 1) + b"{" * 64)
    refuse(big, installed, "too-large")
    million = tmp_path / "million.gsb"  # a manifest for 10^6 members is ~100 MB: refused on its length alone
    million.write_bytes(MAGIC + struct.pack(">I", 10**6 * 100) + b'{"members":[')
    refuse(million, installed, "too-large")
    good = vendor.software(2)
    lay = layout(good)
    data = good.read_bytes()
    sig = good.with_name("bigsig.gsb")
    sig.write_bytes(data[:lay["slenpos"]] + struct.pack(">I", 10**7) + data[lay["sigs"]:])
    refuse(sig, installed, "too-large")
    deep = good.with_name("deep.gsb")  # nesting bomb in the (unsigned) signature block
    blk = b"[" * 10000
    deep.write_bytes(data[:lay["slenpos"]] + struct.pack(">I", len(blk)) + blk + data[lay["payload"]:])
    refuse(deep, installed, "malformed")


def test_t11_too_many_members_and_declared_sizes(installed: Path, vendor: Vendor) -> None:
    manifest, _ = _one_member("f0")
    manifest["members"] = [{**manifest["members"][0], "name": f"f{i}"} for i in range(2000)]
    refuse(vendor.raw(manifest, [b"x\n"] * 2000), installed, "too-large")
    manifest, _ = _one_member("huge")
    manifest["members"][0]["size"] = 5 * 1024**3
    refuse(vendor.raw(manifest, [b""]), installed, "too-large")


def test_t11_decompression_bomb_is_never_expanded(installed: Path, vendor: Vendor) -> None:
    bomb = gzip.compress(b"\x00" * (64 * 1024 * 1024), compresslevel=9)
    manifest = {"format": 1, "kind": "hashlist", "product": "gapscan", "version": 2, "base": None,
                "signed_at": SIGNED_AT, "expires": None, "list": {"name": "vic", "kind": "alert"},
                "members": [{"name": "records.tsv", "size": len(bomb), "sha256": hashlib.sha256(bomb).hexdigest()}]}
    e = refuse(vendor.raw(manifest, [bomb], [vendor.keys["lists"]]), installed, "malformed-member")
    assert "gapscan-records 1" in str(e)


# --- T12 the USB file changes after verification; T13 the drive disappears mid-copy -------------------

def test_t12_usb_file_swapped_after_copy(installed: Path, vendor: Vendor, tmp_path: Path) -> None:
    usb = tmp_path / "usb.gsb"
    usb.write_bytes(vendor.software(2).read_bytes())
    evil = {"VERSION": b"2\n", "bin/gapscan-app": b"#!/bin/sh\nexfiltrate\n"}
    evil_bytes = vendor.software(2, files=evil).read_bytes()

    def swap() -> None:
        usb.write_bytes(evil_bytes)  # same signer, same version, different content: the drive is not re-read

    result = apply_bundle(usb, state_dir=installed, actor="t", after_copy=swap)
    assert result.action == "installed"
    assert read_sw(installed, "bin/gapscan-app") == release_files(2)["bin/gapscan-app"]


class _DyingDrive(io.RawIOBase):
    def __init__(self, data: bytes, fail_at: int) -> None:
        self.data, self.pos, self.fail_at = data, 0, fail_at

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self.pos >= self.fail_at:
            raise OSError(errno.EIO, "Input/output error")
        n = min(len(buf), self.fail_at - self.pos, 4096)
        buf[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


def test_t13_usb_removed_mid_copy(installed: Path, vendor: Vendor) -> None:
    data = vendor.software(2).read_bytes()
    e = refuse(Path("usb.gsb"), installed, "read-error",
               opener=lambda _p: io.BufferedReader(_DyingDrive(data, len(data) // 2)))
    assert "drive removed" in str(e)
    shrunk = vendor.dir / "shrunk.gsb"  # the drive vanished and the file now reads short
    shrunk.write_bytes(data[: len(data) // 2])
    refuse(shrunk, installed, "truncated")


# --- T15 root rotation --------------------------------------------------------------------------------

def test_t15_root_rotation(installed: Path, vendor: Vendor) -> None:
    old_root_key = vendor.keys["root"]
    new_root_key = SigningKey.generate("root")
    vendor.keys["root"] = new_root_key
    only_new = vendor.make_root(2)  # signed by the new root key alone
    e = refuse(vendor.rootbundle(only_new, keys=[old_root_key]), installed, "below-threshold")
    assert "current root's threshold" in str(e)
    refuse(vendor.rootbundle(only_new, keys=[new_root_key]), installed, "unknown-key")
    both = vendor.make_root(2, signers=[old_root_key, new_root_key])
    skip = vendor.make_root(3, signers=[old_root_key, new_root_key])
    refuse(vendor.rootbundle(skip, keys=[old_root_key]), installed, "malformed")
    assert apply_bundle(vendor.rootbundle(both, keys=[old_root_key]), state_dir=installed,
                        actor="vendor").action == "installed"
    refuse(vendor.rootbundle(both, keys=[new_root_key]), installed, "rollback")  # replayed rotation
    assert apply_bundle(vendor.software(2), state_dir=installed, actor="t").action == "installed"


# --- T16 the clock at 1970, now and +20 years ---------------------------------------------------------

@pytest.mark.parametrize("clock", [0.0, float(SIGNED_AT + 86400), float(SIGNED_AT + 20 * 365 * 86400)],
                         ids=["1970", "now", "plus20y"])
def test_t16_clock(appliance: Path, vendor: Vendor, clock: float) -> None:
    from appliance.update import effective_now

    def at() -> float:
        return clock

    v2 = vendor.software(2, signed_at=SIGNED_AT, expires=SIGNED_AT + 30 * 86400)
    v3 = vendor.software(3, signed_at=SIGNED_AT + 3600)
    assert apply_bundle(v3, state_dir=appliance, actor="t", clock=at).action == "installed"
    refuse(v2, appliance, "rollback", clock=at)  # versions decide, whatever the clock says
    assert apply_bundle(v3, state_dir=appliance, actor="t", clock=at).action == "no-op"
    assert effective_now(appliance, at) == max(clock, SIGNED_AT + 3600)  # never below the signed floor
    warnings = verify_bundle(v2, state_dir=appliance, clock=at).warnings
    assert any("behind the signed time floor" in w for w in warnings) == (clock < SIGNED_AT + 3600)
    assert any("expired" in w for w in warnings) == (clock > SIGNED_AT + 30 * 86400)


# --- T17 wrong product, wrong kind, wrong role --------------------------------------------------------

def test_t17_wrong_product_kind_role(installed: Path, vendor: Vendor) -> None:
    refuse(vendor.software(2, product="othervendor"), installed, "wrong-product")
    hl = vendor.hashlist(2, digest_lines(3))
    refuse(hl, installed, "wrong-kind", expect_kind="software")
    refuse(vendor.software(2), installed, "wrong-kind", expect_kind="hashlist")
    refuse(vendor.software(2, keys=[vendor.keys["lists"]]), installed, "wrong-role")
    refuse(vendor.hashlist(2, digest_lines(3), keys=[vendor.keys["software"]]), installed, "wrong-role")


# --- audit --------------------------------------------------------------------------------------------

def test_audit_records_accept_and_refusal_without_hash_values(installed: Path, vendor: Vendor) -> None:
    lines = digest_lines(4, "secret")
    apply_bundle(vendor.hashlist(2, lines), state_dir=installed, actor="admin")
    with pytest.raises(BundleRefused):
        apply_bundle(vendor.hashlist(1, lines), state_dir=installed, actor="admin")
    with AuditLog.in_state_dir(installed) as log:
        recs = [r for r in log.records(limit=10) if r.action == "update.apply"]
        assert log.verify() is None
    refused, ok = recs[0], recs[1]
    assert (refused.outcome, refused.details["reason"], refused.details["kind"], refused.details["version"]) == (
        "refused", "rollback", "hashlist", 1)
    assert ok.outcome == "ok" and ok.details["version"] == 2 and ok.details["list"] == "vic"
    assert ok.details["keyids"] == [vendor.keys["lists"].keyid[:16]] and len(ok.details["bundle"]) == 16
    raw = (installed / "audit.sqlite").read_bytes() + b"".join(
        p.read_bytes() for p in installed.glob("audit.sqlite-*"))
    for line in lines:
        assert line.split()[0].encode() not in raw


# --- order of checks; production policy ---------------------------------------------------------------

def test_manifest_is_not_parsed_before_a_trusted_signature(installed: Path, vendor: Vendor) -> None:
    stranger = SigningKey.generate("software")
    garbage = b'{"this is": not json at all'
    sigs = json.dumps({"signatures": [stranger.sign(b"gapscan-bundle-manifest-v1\x00", garbage)]},
                      separators=(",", ":"), sort_keys=True).encode()
    out = vendor.dir / "garbage-manifest.gsb"
    out.write_bytes(MAGIC + struct.pack(">I", len(garbage)) + garbage + struct.pack(">I", len(sigs)) + sigs)
    refuse(out, installed, "unknown-key")  # not "malformed": the manifest bytes were never parsed


def test_trust_override_refused_on_production(installed: Path, vendor: Vendor) -> None:
    from appliance.errors import GapscanError

    set_production(installed, True)
    before = state_snapshot(installed)
    with pytest.raises(GapscanError, match="--trust is refused on a production appliance"):
        apply_bundle(vendor.software(2), state_dir=installed, actor="t", trust=vendor.root_file())
    assert state_snapshot(installed) == before


def test_root_pinned_in_the_software_is_used_until_one_is_installed(state_dir: Path, vendor: Vendor,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from appliance.update import state

    monkeypatch.setattr(state, "PINNED_ROOTS", (vendor.dir / "absent.json",))
    refuse(vendor.software(1), state_dir, "no-trust-root")
    monkeypatch.setattr(state, "PINNED_ROOTS", (vendor.dir / "absent.json", vendor.root_file()))
    assert apply_bundle(vendor.software(1), state_dir=state_dir, actor="t").action == "installed"
    old_root_key = vendor.keys["root"]
    vendor.keys["root"] = SigningKey.generate("root")
    root2 = vendor.make_root(2, signers=[old_root_key, vendor.keys["root"]])
    apply_bundle(vendor.rootbundle(root2, keys=[old_root_key]), state_dir=state_dir, actor="vendor")
    assert (state_dir / "update" / "root.json").read_bytes() == root2.to_bytes()  # the rotated root now rules


def test_t12_private_copy_changed_after_verification_is_not_installed(installed: Path, vendor: Vendor,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from appliance.update import apply as apply_module

    real_verify = apply_module.verify_bundle

    def verify_then_tamper(copy: Path, **kwargs: Any) -> Any:
        verified = real_verify(copy, **kwargs)
        os.chmod(copy, 0o600)
        data = bytearray(copy.read_bytes())
        data[-1] ^= 0xFF  # installed bytes must equal verified bytes: the installer re-hashes as it writes
        copy.write_bytes(bytes(data))
        return verified

    monkeypatch.setattr(apply_module, "verify_bundle", verify_then_tamper)
    refuse(vendor.software(2), installed, "hash-mismatch")
    refuse(vendor.hashlist(2, digest_lines(3)), installed, "hash-mismatch")
