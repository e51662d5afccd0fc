"""The encrypted store in-process: round trip, tamper and rollback detection, atomicity, no plaintext at rest."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest

from appliance.errors import GapscanError
from appliance.hashlist import sealed
from appliance.hashlist import store as store_mod
from appliance.hashlist.builder import ListBuilder
from appliance.hashlist.index import Matcher
from appliance.hashlist.model import HashRecord
from appliance.hashlist.store import HashListStore, StoreLocked
from tests.hashlist.conftest import PASSPHRASE, digests_of


def _store(state_dir: Path) -> HashListStore:
    """Unlocked store. The passphrase (Argon2id, ~0.5 s) is used once per test; later opens use the unlock
    token it leaves in the test's runtime dir, as `gapscan unlock` does."""
    store = HashListStore(state_dir)
    try:
        store.unlock()
    except StoreLocked:
        store.unlock(PASSPHRASE)
        store.remember_for_boot()
    return store


def _import_samples(store: HashListStore, formats: Path) -> None:
    store.import_file(formats / "vics-2.0-cases.json", name="vic")
    store.import_file(formats / "clamav.hdb", name="clam")
    store.import_file(formats / "NSRLFile.txt", name="nsrl", kind="ignore")


def test_round_trip_matches_the_example_contents(state_dir: Path, formats: Path, env: dict) -> None:
    store = _store(state_dir)
    _import_samples(store, formats)
    lists, errors = _store(state_dir).load_active()
    assert errors == []
    matcher = Matcher(lists)
    found = {(m.list.name, m.list.version, m.algorithm, m.label) for m in matcher.match(digests_of(3))}
    assert found == {("vic", 1, "md5", "category 2"), ("vic", 1, "sha1", "category 2"),
                     ("vic", 1, "sha256", "category 2"), ("clam", 1, "md5", "Synthetic.Known-3"),
                     ("nsrl", 1, "md5", None), ("nsrl", 1, "sha1", None)}
    assert not [m for m in matcher.match(digests_of(5)) if m.list.name == "vic"]  # category 0: not a hit
    assert matcher.needs_hashing(10) and not matcher.needs_hashing(11)


def test_metadata_is_readable_while_locked_and_holds_no_entries(state_dir: Path, formats: Path, env: dict) -> None:
    _import_samples(_store(state_dir), formats)
    locked = HashListStore(state_dir)
    assert locked.locked
    locked.forget_for_boot()
    metas = {m.name: m for m in locked.metadata()}
    vic = metas["vic"]
    assert (vic.kind, vic.version, vic.source_format, vic.source) == ("alert", 1, "vics", "vics-2.0-cases.json")
    assert vic.counts == {"md5": 4, "sha1": 4, "sha256": 2, "pdq": 1}
    assert vic.categories == {"category 1": 2, "category 2": 1, "category 3": 1}
    assert vic.sized and vic.excluded == 1 and vic.stored_bytes > 0
    assert metas["nsrl"].counts == {"sha1": 5, "md5": 5} and metas["nsrl"].kind == "ignore"
    assert locked.installed_version("vic") == 1 and locked.installed_version("nope") is None
    with pytest.raises(StoreLocked, match="gapscan unlock"):
        locked.load_active()


def test_no_plaintext_digest_bytes_anywhere_under_the_state_dir(state_dir: Path, formats: Path, env: dict) -> None:
    _import_samples(_store(state_dir), formats)
    needles = []
    for i in range(1, 6):
        for d in digests_of(i).values():
            needles += [d, d[:8], d[8:], d.hex().encode(), d.hex().upper().encode()]
    files = [p for p in state_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".hl" for p in files)
    for p in files:
        data = p.read_bytes()
        leaked = [n for n in needles if n in data]
        assert not leaked, f"{p.name} holds plaintext digest bytes"


def test_wrong_passphrase_is_refused_clearly(state_dir: Path, formats: Path, env: dict) -> None:
    _import_samples(_store(state_dir), formats)
    with pytest.raises(StoreLocked, match="wrong passphrase"):
        HashListStore.open(state_dir, passphrase="not it")


def _damage_and_load(state_dir: Path, name: str, damage) -> tuple[list[str], list[str]]:
    data_file = next((state_dir / "hashlists").glob(f"{name}.v*.hl"))
    damage(data_file)
    lists, errors = _store(state_dir).load_active()
    return [lst.info.name for lst in lists], errors


def _flip_last_byte(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[-20] ^= 0x01
    p.write_bytes(bytes(data))


def _truncate(p: Path) -> None:
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 40])


@pytest.mark.parametrize(("damage", "message"), [(_flip_last_byte, "fails authentication"),
                                                 (_truncate, "truncated")])
def test_tampered_list_fails_alone_naming_it(state_dir: Path, formats: Path, env: dict, damage, message) -> None:
    _import_samples(_store(state_dir), formats)
    loaded, errors = _damage_and_load(state_dir, "vic", damage)
    assert sorted(loaded) == ["clam", "nsrl"]
    assert len(errors) == 1 and "'vic'" in errors[0] and message in errors[0]


def test_old_ciphertext_put_in_place_of_new_is_refused(state_dir: Path, formats: Path, env: dict) -> None:
    store = _store(state_dir)
    _import_samples(store, formats)
    old = (state_dir / "hashlists" / "clam.v1.hl").read_bytes()
    store.import_file(formats / "clamav.hsb", name="clam")  # v2
    assert not (state_dir / "hashlists" / "clam.v1.hl").exists()
    (state_dir / "hashlists" / "clam.v2.hl").write_bytes(old)
    lists, errors = _store(state_dir).load_active()
    assert sorted(lst.info.name for lst in lists) == ["nsrl", "vic"]
    assert len(errors) == 1 and "'clam' v2" in errors[0] and "version 1" in errors[0]
    # Editing the plaintext header to claim v2 does not help: the data key is bound to the version.
    header_patched = old.replace(b'"version": 1', b'"version": 2')
    (state_dir / "hashlists" / "clam.v2.hl").write_bytes(header_patched)
    _, errors = _store(state_dir).load_active()
    assert len(errors) == 1 and "'clam'" in errors[0] and "unwrap" in errors[0]


def test_reordered_chunks_are_refused() -> None:
    kek = os.urandom(32)
    out = io.BytesIO()
    payload = os.urandom(300)
    sealed.write_sealed(out, kek, "id1", 3, [payload], len(payload), chunk_size=100)
    blob = out.getvalue()
    assert np.array_equal(sealed.read_sealed(io.BytesIO(blob), kek, "id1", 3), np.frombuffer(payload, np.uint8))
    hdr_end = len(sealed.MAGIC) + 4 + int.from_bytes(blob[8:12], "big")
    chunk = 4 + 100 + sealed.TAG
    body = blob[hdr_end:]
    swapped = blob[:hdr_end] + body[chunk:2 * chunk] + body[:chunk] + body[2 * chunk:]
    with pytest.raises(sealed.SealedError, match="chunk 0"):
        sealed.read_sealed(io.BytesIO(swapped), kek, "id1", 3)
    with pytest.raises(sealed.SealedError, match="truncated"):  # whole last chunk dropped
        sealed.read_sealed(io.BytesIO(blob[: hdr_end + 2 * chunk]), kek, "id1", 3)
    with pytest.raises(sealed.SealedError, match="after the final"):
        sealed.read_sealed(io.BytesIO(blob + b"x"), kek, "id1", 3)


def test_rollback_and_wrong_delta_base_are_refused(state_dir: Path, formats: Path, env: dict) -> None:
    store = _store(state_dir)
    store.import_file(formats / "clamav.hdb", name="clam", version=5)
    with pytest.raises(GapscanError, match="not newer"):
        store.import_file(formats / "clamav.hdb", name="clam", version=4)
    with pytest.raises(GapscanError, match="delta is against version 4"):
        store.apply_delta("clam", base_version=4, version=6, added=[], removed=[])


def test_apply_delta_adds_and_removes(state_dir: Path, formats: Path, env: dict) -> None:
    store = _store(state_dir)
    store.import_file(formats / "clamav.hdb", name="clam")
    new = HashRecord("sha256", digests_of(1)["sha256"], "added", 10)
    gone = HashRecord("md5", digests_of(2)["md5"])
    meta = store.apply_delta("clam", base_version=1, version=2, added=[new], removed=[gone])
    assert meta.version == 2 and meta.counts == {"md5": 4, "sha256": 1} and meta.sized
    matcher = Matcher(_store(state_dir).load_active()[0])
    assert {(m.algorithm, m.label) for m in matcher.match(digests_of(1))} == {("md5", "Synthetic.Known-1"),
                                                                              ("sha256", "added")}
    assert matcher.match(digests_of(2)) == []


def test_a_crash_while_importing_leaves_the_old_version(state_dir: Path, formats: Path, env: dict,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(state_dir)
    store.import_file(formats / "clamav.hdb", name="clam")

    def dies_midway(fh, *args, **kwargs):
        fh.write(b"partial ciphertext")
        raise KeyboardInterrupt  # stands in for a power cut: nothing after this runs

    monkeypatch.setattr(store_mod, "write_sealed", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        store.import_file(formats / "clamav.hsb", name="clam")
    monkeypatch.undo()
    assert [m.version for m in store.metadata()] == [1]
    lists, errors = _store(state_dir).load_active()
    assert errors == [] and lists[0].info.version == 1
    assert sorted(p.name for p in (state_dir / "hashlists").iterdir()) == [".lock", "clam.meta.json", "clam.v1.hl"]


def test_remove_and_bad_names(state_dir: Path, formats: Path, env: dict) -> None:
    store = _store(state_dir)
    _import_samples(store, formats)
    store.remove("clam")
    assert sorted(m.name for m in store.metadata()) == ["nsrl", "vic"]
    assert not list((state_dir / "hashlists").glob("clam*"))
    with pytest.raises(GapscanError, match="no hash list named"):
        store.remove("clam")
    with pytest.raises(GapscanError, match="bad list name"):
        store.import_file(formats / "clamav.hdb", name="../escape")


def test_category_override_and_lenient_counts(state_dir: Path, tmp_path: Path, env: dict) -> None:
    p = tmp_path / "mixed.txt"
    p.write_text(f"{digests_of(1)['md5'].hex()}\nbogus\n{digests_of(2)['sha1'].hex()} x\n")
    store = _store(state_dir)
    with pytest.raises(GapscanError, match=r"mixed.txt: line 2: digest"):
        store.import_file(p, name="m")
    assert store.metadata() == []
    meta = store.import_file(p, name="m", lenient=True, category="seized-2026")
    assert meta.skipped == 1 and meta.categories == {"seized-2026": 1} and not meta.sized


def test_index_memory_is_close_to_raw_digest_bytes() -> None:
    rng = np.random.default_rng(1)
    n = 50_000
    raw = rng.bytes(16 * n)
    for labels in (1, 3, 300):
        b = ListBuilder()
        b.add_all(HashRecord("md5", raw[i * 16:(i + 1) * 16], f"c{i % labels}") for i in range(n))
        ix = b.build().exact["md5"]
        assert ix.nbytes <= 1.15 * 16 * n, (labels, ix.nbytes)
        queries = np.frombuffer(raw[: 16 * 1000] + rng.bytes(16 * 1000), dtype="S16")
        got = ix.lookup(queries)
        assert (got[:1000] == np.arange(1000) % labels).all() and (got[1000:] == -1).all()


def test_hashlist_file_option_reads_any_format(formats: Path) -> None:
    """`gapscan scan --hashlist FILE` loads every importer's format, detected from the file."""
    from appliance.hashlist.loading import load_list_file

    for name, alg in (("vics-1.3-media.json", "md5"), ("clamav.hsb", "sha256"), ("NSRLFile.txt", "sha1")):
        loaded, skipped = load_list_file(formats / name)
        assert skipped == 0 and Matcher([loaded]).match({alg: digests_of(1)[alg]}), name


def test_builder_keeps_every_size_across_compactions() -> None:
    """The size set is de-duplicated in rounds; no size may be lost between rounds (a lost size would let
    the pre-filter skip a file that is on the list)."""
    b = ListBuilder()
    b.compact_every = 100
    b.add_all(HashRecord("md5", i.to_bytes(16, "big"), None, 1000 + i) for i in range(1050))
    sizes = b.build().sizes
    assert sizes is not None and list(sizes) == list(range(1000, 2050))


def test_lookup_finds_entries_that_share_an_8_byte_prefix() -> None:
    rng = np.random.default_rng(3)
    shared = [b"\x01" * 8 + rng.bytes(12) for _ in range(50)] + [rng.bytes(20) for _ in range(50)]
    b = ListBuilder()
    b.add_all(HashRecord("sha1", d, f"l{i % 2}") for i, d in enumerate(shared))
    ix = b.build().exact["sha1"]
    got = ix.lookup(np.array([*shared, b"\x01" * 20, b"\x01" * 8 + b"\xff" * 12], dtype="S20"))
    assert list(got[:100]) == [i % 2 for i in range(100)] and list(got[100:]) == [-1, -1]
    assert ix.contains(shared[7]) == 1 and ix.contains(b"\x01" * 20) == -1
