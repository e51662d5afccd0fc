"""The TPM seals a secret and unseals it again (tpm2-tools against the kernel's resource manager)."""

from __future__ import annotations

import os
import subprocess

import pytest

from hwtests.conftest import tool

TPM = "/dev/tpmrm0"


def test_tpm_seals_and_unseals(tmp_path):
    tcti = os.environ.get("GAPSCAN_TPM_TCTI")  # e.g. swtpm:port=2321 to try the test itself on a software TPM
    if tcti is None:
        if not os.path.exists(TPM):
            pytest.skip(f"no TPM at {TPM}: fit a TPM 2.0 module and enable it in the device tree/firmware")
        tcti = f"device:{TPM}"
    env = {**os.environ, "TPM2TOOLS_TCTI": tcti}

    def run(*argv: str) -> str:
        done = subprocess.run([tool(argv[0]), *argv[1:]], capture_output=True, timeout=60, env=env, cwd=tmp_path)
        assert done.returncode == 0, f"{argv[0]} failed: {done.stderr.decode(errors='replace')}"
        return done.stdout.decode(errors="replace")

    secret = os.urandom(32)
    (tmp_path / "secret.bin").write_bytes(secret)
    run("tpm2_createprimary", "-C", "o", "-c", "primary.ctx")
    run("tpm2_flushcontext", "-t")  # without a resource manager (a bare TPM) transient slots run out
    run("tpm2_create", "-C", "primary.ctx", "-i", "secret.bin", "-u", "seal.pub", "-r", "seal.priv")
    run("tpm2_flushcontext", "-t")
    run("tpm2_load", "-C", "primary.ctx", "-u", "seal.pub", "-r", "seal.priv", "-c", "seal.ctx")
    run("tpm2_unseal", "-c", "seal.ctx", "-o", "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == secret
