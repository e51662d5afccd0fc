"""/usr/bin/gapscan(d): the active software slot's release runs when it has one, else the factory release."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.image.conftest import OVERLAY

LAUNCH = OVERLAY / "usr/lib/gapscan/launch"


def program(path: Path, says: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho "{says} $*"\n')
    path.chmod(0o755)


@pytest.fixture
def layout(tmp_path):
    factory, state = tmp_path / "factory", tmp_path / "state"
    for prog in ("gapscan", "gapscand"):
        program(factory / "bin" / prog, f"factory {prog}")
        (tmp_path / "usr-bin").mkdir(exist_ok=True)
        (tmp_path / "usr-bin" / prog).symlink_to(LAUNCH)
    state.mkdir()

    def run(prog: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(tmp_path / "usr-bin" / prog), *args], capture_output=True,
                              text=True, timeout=30, env={"GAPSCAN_STATE_DIR": str(state),
                                                          "GAPSCAN_FACTORY_PREFIX": str(factory)})

    return state, run


def test_factory_release_without_software_slots(layout):
    _state, run = layout
    assert run("gapscan", "--version").stdout == "factory gapscan --version\n"
    assert run("gapscand").stdout == "factory gapscand \n"


def test_active_slot_release_runs(layout):
    state, run = layout
    program(state / "software/b/bin/gapscan", "slot-b gapscan")
    program(state / "software/a/bin/gapscan", "slot-a gapscan")
    (state / "software/slots.json").write_text(json.dumps({"current": "b", "previous": "a"}))
    assert run("gapscan", "selftest").stdout == "slot-b gapscan selftest\n"
    assert run("gapscand").stdout == "factory gapscand \n", "a release without gapscand falls back to factory"


@pytest.mark.parametrize("pointer", ['{"current": "../../etc"}', "{broken", '["a"]', '{"current": null}'])
def test_bad_pointer_runs_factory(layout, pointer):
    state, run = layout
    program(state / "software/a/bin/gapscan", "slot-a gapscan")
    (state / "software/slots.json").write_text(pointer)
    assert run("gapscan").stdout == "factory gapscan \n"


def test_unknown_name_is_refused(tmp_path):
    (tmp_path / "sh").symlink_to(LAUNCH)
    result = subprocess.run([sys.executable, str(tmp_path / "sh")], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "expected gapscan or gapscand" in result.stderr
