"""The keystore against this machine's real TPM 2.0 (/dev/tpmrm0); skipped where there is none."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from firmware.keystore.tpm import Tpm

pytestmark = pytest.mark.hw


@pytest.mark.skipif(not Path("/dev/tpmrm0").exists() or shutil.which("tpm2_unseal") is None,
                    reason="needs a TPM 2.0 at /dev/tpmrm0 and tpm2-tools")
def test_seal_and_unseal_with_the_device_tpm() -> None:
    tpm = Tpm("device:/dev/tpmrm0")
    secret = os.urandom(32)
    assert tpm.unseal(tpm.seal(secret)) == secret
