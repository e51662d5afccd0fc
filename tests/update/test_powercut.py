"""T14: power cut. A real installer subprocess (``gapscan bundle apply``) SIGKILLs itself after each of
its durable steps in turn (every write, fsync and rename: ``GAPSCAN_UPDATE_FAULT_STEP``); after every
kill the state must be the old release/list or the new one, never a mix, and a re-run must finish."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.hashlist.store import HashListStore
from appliance.update import apply_bundle, load_slots
from tests.conftest import REPO, gapscan_env
from tests.update.conftest import Vendor, digest_lines, release_files


def release_tree(state_dir: Path) -> tuple[int | None, dict[str, str]]:
    """(version the pointer names, {file: sha256}) of the current slot."""
    slots = load_slots(state_dir)
    if slots["current"] is None:
        return None, {}
    slot = state_dir / "software" / slots["current"]
    files = {p.relative_to(slot).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(slot.rglob("*")) if p.is_file() and p.name != ".release.json"}
    release = json.loads((slot / ".release.json").read_bytes())
    assert release["version"] == slots["versions"][slots["current"]], "pointer and release disagree"
    return slots["versions"][slots["current"]], files


def expected_tree(version: int) -> dict[str, str]:
    return {k: hashlib.sha256(v).hexdigest() for k, v in release_files(version).items()}


def lists_state(state_dir: Path) -> list[tuple[str, int, dict[str, int]]]:

    store = HashListStore(state_dir)
    return sorted((m.name, m.version, dict(m.counts)) for m in store.metadata())


def run_installer(state_dir: Path, bundle: Path, store_env: dict[str, str],
                  **env: str) -> subprocess.CompletedProcess[str]:
    # hash lists: the store's own fsync/rename calls are kill points too (it is not built on our durable steps)
    extra = {**store_env, "GAPSCAN_TEST_STEP_OS": "1" if bundle.name.startswith("vic") else "0", **env}
    return subprocess.run([sys.executable, "-m", "tests.update.installer", str(state_dir), str(bundle)],
                          capture_output=True, text=True, timeout=60, cwd=REPO, env=gapscan_env(None, **extra))


def count_steps(template: Path, bundle: Path, tmp: Path, store_env: dict[str, str]) -> list[str]:
    probe = tmp / "probe"
    shutil.copytree(template, probe)
    log = tmp / "steps.log"
    done = run_installer(probe, bundle, store_env, GAPSCAN_UPDATE_STEP_LOG=str(log))
    assert done.returncode == 0, done.stderr
    return log.read_text().splitlines()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["software", "hashlist"])
def test_t14_power_cut_after_every_step(appliance: Path, vendor: Vendor, tmp_path: Path, kind: str,
                                       store_env: dict[str, str]) -> None:
    apply_bundle(vendor.software(1), state_dir=appliance, actor="setup")
    apply_bundle(vendor.hashlist(1, digest_lines(5)), state_dir=appliance, actor="setup")
    old_lists = lists_state(appliance)
    bundle = vendor.software(2) if kind == "software" else vendor.hashlist(2, digest_lines(8))
    steps = count_steps(appliance, bundle, tmp_path, store_env)
    assert len(steps) >= 9, steps
    outcomes = {"old": 0, "new": 0}
    for k in range(1, len(steps) + 1):
        state = tmp_path / f"cut-{k}"
        shutil.copytree(appliance, state)
        done = run_installer(state, bundle, store_env, GAPSCAN_UPDATE_FAULT_STEP=str(k))
        assert done.returncode == -signal.SIGKILL, (k, steps[k - 1], done.returncode, done.stderr)
        version, tree = release_tree(state)
        lists = lists_state(state)
        if kind == "software":
            assert (version, tree) in ((1, expected_tree(1)), (2, expected_tree(2))), f"mixed after {steps[k - 1]}"
            assert lists == old_lists
            outcomes["new" if version == 2 else "old"] += 1
        else:
            assert (version, tree) == (1, expected_tree(1))
            assert [v for _, v, _ in lists] in ([1], [2]), f"mixed after {steps[k - 1]}"
            assert lists[0][2] == ({"md5": 5} if lists[0][1] == 1 else {"md5": 8}), f"mixed after {steps[k - 1]}"
            outcomes["new" if lists[0][1] == 2 else "old"] += 1
        # power back: applying again completes (or is a no-op if the cut came after the commit)
        result = apply_bundle(bundle, state_dir=state, actor="after-power-cut")
        assert result.action in ("installed", "no-op")
        if kind == "software":
            assert release_tree(state) == (2, expected_tree(2))
            assert not [p for p in (state / "software").iterdir() if p.name.startswith(".")]
        else:
            assert [v for _, v, _ in lists_state(state)] == [2]
        assert not list((state / "update").glob("work-*"))
        shutil.rmtree(state)
    assert outcomes["old"] and outcomes["new"], outcomes
