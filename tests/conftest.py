"""Fixtures every test area shares. Area-specific fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_TESTDATA = REPO.parent / "shared" / "testdata"
ARTIFACTS = REPO / "test-artifacts"


def gapscan_env(state_dir: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAPSCAN_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    if state_dir is not None:
        env["GAPSCAN_STATE_DIR"] = str(state_dir)
    env.update(extra)
    return env


GapscanRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    d = tmp_path / "state"
    d.mkdir()
    return d


@pytest.fixture
def gapscan(state_dir: Path) -> GapscanRunner:
    """Run the real ``gapscan`` CLI in a subprocess (``python -m appliance``) against this test's state dir."""

    def run(*args: str | os.PathLike[str], input: str | None = None, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "appliance", *map(str, args)], capture_output=True,
                              text=True, input=input, timeout=timeout, cwd=REPO,
                              env={**gapscan_env(state_dir), **(env or {})})

    return run


@pytest.fixture(scope="session")
def shared_testdata() -> Path:
    if not SHARED_TESTDATA.is_dir():
        pytest.fail(f"shared test data missing at {SHARED_TESTDATA} (the repo must sit beside ../shared)")
    return SHARED_TESTDATA


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    """A per-test folder under test-artifacts/ for screenshots and reports worth looking at afterwards."""
    d = ARTIFACTS / request.node.name.replace("/", "_")[:120]
    d.mkdir(parents=True, exist_ok=True)
    return d
