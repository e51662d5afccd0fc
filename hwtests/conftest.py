"""Hardware tests: each needs a real device and skips, saying which and how to provide it, where it is absent.

Every test here is marked ``hw``. Interactive ones (a person plugs a drive, presses a button) also need
``GAPSCAN_HW_INTERACTIVE=1``. See hwtests/README.md.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.hw)


def interactive() -> bool:
    return os.environ.get("GAPSCAN_HW_INTERACTIVE") == "1"


@pytest.fixture
def needs_interactive() -> None:
    if not interactive():
        pytest.skip("needs a person at the appliance: run with GAPSCAN_HW_INTERACTIVE=1 (see hwtests/README.md)")


def panel_port() -> str | None:
    """The real panel's port: $GAPSCAN_PANEL_PORT, else the udev by-id link if one is present."""
    import glob

    from firmware.panel.host import DEFAULT_PORT

    explicit = os.environ.get("GAPSCAN_PANEL_PORT")
    if explicit:
        return explicit
    found = sorted(glob.glob(DEFAULT_PORT))
    return found[0] if found else None


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package tpm2-tools)")
    return path
