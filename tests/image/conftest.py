"""Fixtures for the image recipe's checks: paths into image-build/ and the host tools they need."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE_BUILD = REPO / "image-build"
OVERLAY = IMAGE_BUILD / "rootfs"
UNIT_DIR = OVERLAY / "usr/lib/systemd/system"


def require_tool(name: str) -> str:
    """The path of a host tool from deps/apt/test/image.txt; a missing one is a setup error, not a skip."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        pytest.fail(f"'{name}' is not installed: run scripts/bootstrap --test (deps/apt/test/image.txt)")
    return path


@pytest.fixture(scope="session")
def image_build() -> Path:
    return IMAGE_BUILD


@pytest.fixture(scope="session")
def overlay() -> Path:
    return OVERLAY
