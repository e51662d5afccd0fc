"""Randomly damaged filesystems (seeded byte mutations of the metadata area) are refused or read with per-file
errors: never an unexpected exception, a crash or a hang. Each run is a subprocess so a crash in TSK's C code
would show as a failure rather than take the test run down."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO, gapscan_env


@pytest.mark.parametrize("fs", ["fat16", "ext4", "ntfs", "mbr"])
def test_mutated_images_never_crash_the_reader(fs, media_images, tmp_path):
    result = subprocess.run([sys.executable, "-m", "tests.media.fuzz_tsk", str(media_images[fs]), "8", "65536",
                             str(tmp_path)], capture_output=True, text=True, timeout=100, cwd=REPO, env=gapscan_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "unexpected=0" in result.stdout
