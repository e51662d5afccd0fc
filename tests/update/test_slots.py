"""A/B software slots: install into the inactive slot, switch only after a complete install, fall back
when the new release does not mark itself good within MAX_TRIAL_BOOTS starts."""

from __future__ import annotations

from pathlib import Path

from appliance.update import apply_bundle, boot, load_slots, mark_good
from appliance.update.software import MAX_TRIAL_BOOTS, current_release
from tests.update.conftest import Vendor


def test_fallback_unless_marked_good(appliance: Path, vendor: Vendor) -> None:
    apply_bundle(vendor.software(1), state_dir=appliance, actor="t")
    boot(appliance)
    mark_good(appliance)
    apply_bundle(vendor.software(2), state_dir=appliance, actor="t")
    s = load_slots(appliance)
    assert (s["current"], s["previous"], s["pending"], s["versions"]) == ("b", "a", True, {"a": 1, "b": 2})
    for _ in range(MAX_TRIAL_BOOTS):
        assert boot(appliance)["current"] == "b"
    s = boot(appliance)
    assert (s["current"], s["fell_back_from"], s["pending"]) == ("a", "b", False)
    assert (current_release(appliance) / "VERSION").read_bytes() == b"1\n"  # type: ignore[operator]
    # the abandoned v2 stays refused as a replay (equal to the floor: no-op), v3 installs into slot b
    assert apply_bundle(vendor.software(2), state_dir=appliance, actor="t").action == "no-op"
    apply_bundle(vendor.software(3), state_dir=appliance, actor="t")
    boot(appliance)
    mark_good(appliance)
    for _ in range(MAX_TRIAL_BOOTS + 2):
        boot(appliance)
    s = load_slots(appliance)
    assert (s["current"], s["versions"]["b"], s["pending"]) == ("b", 3, False)
    assert (current_release(appliance) / "VERSION").read_bytes() == b"3\n"  # type: ignore[operator]


def test_install_never_touches_the_running_slot(appliance: Path, vendor: Vendor) -> None:
    apply_bundle(vendor.software(1), state_dir=appliance, actor="t")
    running = appliance / "software" / "a"
    before = {p: p.read_bytes() for p in running.rglob("*") if p.is_file()}
    apply_bundle(vendor.software(2), state_dir=appliance, actor="t")
    assert {p: p.read_bytes() for p in running.rglob("*") if p.is_file()} == before


def test_disk_full_mid_install_is_a_clean_refusal(appliance: Path, vendor: Vendor, monkeypatch) -> None:
    import errno

    import pytest

    from appliance.update import BundleRefused, software
    from tests.update.conftest import state_snapshot

    apply_bundle(vendor.software(1), state_dir=appliance, actor="t")
    before = state_snapshot(appliance)
    real = software.write_file

    def full(path: Path, data: bytes, *, mode: int = 0o600) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(software, "write_file", full)
    with pytest.raises(BundleRefused) as info:
        apply_bundle(vendor.software(2), state_dir=appliance, actor="t")
    assert info.value.reason == "install-failed" and "No space left on device" in str(info.value)
    assert state_snapshot(appliance) == before
    monkeypatch.setattr(software, "write_file", real)
    assert apply_bundle(vendor.software(2), state_dir=appliance, actor="t").action == "installed"


def test_no_second_install_over_the_last_good_slot_while_on_trial(appliance: Path, vendor: Vendor) -> None:
    import pytest

    from appliance.update import BundleRefused
    from tests.update.conftest import state_snapshot

    apply_bundle(vendor.software(1), state_dir=appliance, actor="t")
    mark_good(appliance)
    apply_bundle(vendor.software(2), state_dir=appliance, actor="t")  # slot b, on trial; slot a = last good
    before = state_snapshot(appliance)
    with pytest.raises(BundleRefused) as info:
        apply_bundle(vendor.software(3), state_dir=appliance, actor="t")
    assert info.value.reason == "pending-confirmation" and "slot a, the last good one" in str(info.value)
    assert state_snapshot(appliance) == before
    mark_good(appliance)
    assert apply_bundle(vendor.software(3), state_dir=appliance, actor="t").action == "installed"
    assert load_slots(appliance)["current"] == "a"
