"""Seal a small secret to a TPM 2.0 with tpm2-tools.

The secret becomes a sealed data object under a primary key derived from the owner hierarchy's seed
(``tpm2_createprimary -C o``, recreated on each use: same template, same key). The sealed blob (public and
private parts) is only usable by the same TPM with the same seed: a cleared or replaced TPM refuses to load it.
The secret passes over stdin/stdout, never through a file; the temporary directory holds only TPM contexts.

Which TPM: ``$GAPSCAN_TPM_TCTI`` (e.g. ``swtpm:path=/run/swtpm.sock`` for tests), else ``device:/dev/tpmrm0``
when it exists; none otherwise. Transient objects are flushed after each step (no resource manager needed).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from firmware.keystore.errors import TpmError

TIMEOUT = 30


def tpm_tcti() -> str | None:
    """The TCTI string of the TPM to use, or ``None`` when there is none (or tpm2-tools is missing)."""
    tcti = os.environ.get("GAPSCAN_TPM_TCTI")
    if tcti == "none":
        return None
    if not tcti and Path("/dev/tpmrm0").exists():
        tcti = "device:/dev/tpmrm0"
    if tcti and shutil.which("tpm2_createprimary"):
        return tcti
    return None


class Tpm:
    def __init__(self, tcti: str) -> None:
        self.tcti = tcti

    def _step(self, *args: str, input: bytes | None = None, cwd: str) -> bytes:
        """One tool run, then flush transient objects: without a resource manager, each loaded object keeps a
        TPM slot; the saved ``.ctx`` files stay usable by the next step."""
        try:
            return self._run(*args, input=input, cwd=cwd)
        finally:
            self._flush(cwd)

    def _run(self, *args: str, input: bytes | None = None, cwd: str) -> bytes:
        env = {**os.environ, "TPM2TOOLS_TCTI": self.tcti}
        try:
            proc = subprocess.run(list(args), input=input, capture_output=True, cwd=cwd, env=env, timeout=TIMEOUT,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TpmError(f"TPM command {args[0]} failed: {exc}") from None
        if proc.returncode != 0:
            lines = proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"]
            why = next((ln for ln in lines if "tpm:" in ln), lines[-1])  # the TPM's own reason, where given
            raise TpmError(f"TPM command {args[0]} failed: {why.strip()}")
        return proc.stdout

    def _flush(self, cwd: str) -> None:
        """Best effort: a failing flush must not hide the error of the step before it."""
        with contextlib.suppress(TpmError):
            self._run("tpm2_flushcontext", "-t", cwd=cwd)

    def _primary(self, cwd: str) -> None:
        self._step("tpm2_createprimary", "-Q", "-C", "o", "-g", "sha256", "-G", "ecc", "-c", "primary.ctx", cwd=cwd)

    def seal(self, secret: bytes) -> bytes:
        """Sealed blob (JSON bytes) for ``secret`` (at most 128 bytes)."""
        with tempfile.TemporaryDirectory(prefix="gapscan-tpm-") as d:
            self._primary(d)
            self._step("tpm2_create", "-Q", "-C", "primary.ctx", "-i", "-", "-u", "seal.pub", "-r", "seal.priv",
                       input=secret, cwd=d)
            blob = {"pub": base64.b64encode(Path(d, "seal.pub").read_bytes()).decode(),
                    "priv": base64.b64encode(Path(d, "seal.priv").read_bytes()).decode()}
        return json.dumps(blob).encode()

    def unseal(self, blob: bytes) -> bytes:
        data = json.loads(blob)
        with tempfile.TemporaryDirectory(prefix="gapscan-tpm-") as d:
            Path(d, "seal.pub").write_bytes(base64.b64decode(data["pub"]))
            Path(d, "seal.priv").write_bytes(base64.b64decode(data["priv"]))
            try:
                self._primary(d)
                self._step("tpm2_load", "-Q", "-C", "primary.ctx", "-u", "seal.pub", "-r", "seal.priv",
                           "-c", "seal.ctx", cwd=d)
                return self._step("tpm2_unseal", "-c", "seal.ctx", cwd=d)
            except TpmError as exc:
                raise TpmError(f"the TPM refused to unseal the store key (TPM cleared or replaced?): {exc}") from None
