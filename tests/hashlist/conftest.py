"""Hash-list fixtures: the shared format samples, the five example contents they describe, a store with a
known passphrase and its own runtime dir, and a real software TPM (swtpm) for the keystore."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import GapscanRunner

PASSPHRASE = "correct horse battery staple"


def example(i: int) -> bytes:
    """Content *i* of the shared samples (formats/README.md)."""
    return f"example-{i}\n".encode()


def digests_of(i: int) -> dict[str, bytes]:
    data = example(i)
    return {"md5": hashlib.md5(data).digest(), "sha1": hashlib.sha1(data).digest(),
            "sha256": hashlib.sha256(data).digest()}


@pytest.fixture(scope="session")
def formats(shared_testdata: Path) -> Path:
    return shared_testdata / "formats"


@pytest.fixture
def media(tmp_path: Path) -> Path:
    """A tree with contents 1..5 and two files that match nothing (one of the same size as the examples)."""
    d = tmp_path / "media"
    d.mkdir()
    for i in range(1, 6):
        (d / f"file{i}.bin").write_bytes(example(i))
    (d / "other-same-size.bin").write_bytes(b"nothing-1\n")
    (d / "other.bin").write_bytes(b"something else entirely\n")
    return d


@pytest.fixture
def runtime_dir(tmp_path: Path) -> Path:
    return tmp_path / "runtime"


@pytest.fixture
def env(runtime_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for in-process stores and for CLI runs: own runtime dir, no TPM unless a test adds one."""
    values = {"GAPSCAN_RUNTIME_DIR": str(runtime_dir), "GAPSCAN_TPM_TCTI": "none"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("GAPSCAN_PASSPHRASE", raising=False)
    return values


@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    p = tmp_path / "passphrase"
    p.write_text(PASSPHRASE + "\n")
    return p


@pytest.fixture
def cli(gapscan: GapscanRunner, env: dict[str, str]) -> GapscanRunner:
    def run(*args: str | os.PathLike[str], extra_env: dict[str, str] | None = None,
            **kw: object) -> subprocess.CompletedProcess[str]:
        return gapscan(*args, env={**env, **(extra_env or {})}, **kw)  # type: ignore[arg-type]

    return run


@pytest.fixture
def swtpm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Iterator[str]:
    """A real software TPM 2.0 on a Unix socket; yields its TCTI string (also set as GAPSCAN_TPM_TCTI)."""
    missing = [t for t in ("swtpm", "tpm2_createprimary", "tpm2_clear") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs swtpm and tpm2-tools (Debian packages swtpm, tpm2-tools); missing: {', '.join(missing)}")
    state = tmp_path / "swtpm"
    state.mkdir()
    sock = state / "tpm.sock"
    proc = subprocess.Popen(["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state}",
                             "--server", f"type=unixio,path={sock}", "--ctrl", f"type=unixio,path={sock}.ctrl",
                             "--flags", "not-need-init,startup-clear"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while not (sock.exists() and Path(f"{sock}.ctrl").exists()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"swtpm did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
        time.sleep(0.05)
    tcti = f"swtpm:path={sock}"
    monkeypatch.setenv("GAPSCAN_TPM_TCTI", tcti)
    env["GAPSCAN_TPM_TCTI"] = tcti
    try:
        yield tcti
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
