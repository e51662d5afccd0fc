"""Fixtures for the update tests: a vendor (keys, root, bundle builder) and a provisioned appliance."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from appliance.update.build import build_bundle, write_signed
from appliance.update.keys import SigningKey
from appliance.update.state import provision_root
from appliance.update.trust import ROLES, TrustRoot, build_root

SIGNED_AT = 1_790_000_000  # 2026-09-21


@pytest.fixture
def store_env(tmp_path: Path) -> dict[str, str]:
    """Environment for the real store: unlocked by passphrase, no TPM, a private runtime dir for tokens."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return {"GAPSCAN_PASSPHRASE": "update-tests-passphrase", "GAPSCAN_TPM_TCTI": "none",
            "GAPSCAN_RUNTIME_DIR": str(runtime)}


@pytest.fixture(autouse=True)
def hashlist_store(monkeypatch: pytest.MonkeyPatch, store_env: dict[str, str]) -> None:
    """The real encrypted store, unlocked by passphrase for every update test."""
    for key, value in store_env.items():
        monkeypatch.setenv(key, value)


@dataclass
class Vendor:
    """The offline signing side: role keys, a root naming them, and a bundle builder."""

    dir: Path
    keys: dict[str, SigningKey] = field(default_factory=dict)
    root: TrustRoot | None = None
    product: str = "gapscan"
    counter: int = 0

    def make_root(self, version: int = 1, **kwargs: Any) -> TrustRoot:
        self.root = build_root(self.product, version, self.keys, **kwargs)  # type: ignore[arg-type]
        return self.root

    def root_file(self, root: TrustRoot | None = None, name: str = "root.json") -> Path:
        p = self.dir / name
        p.write_bytes((root or self.root).to_bytes())  # type: ignore[union-attr]
        return p

    def _out(self, stem: str) -> Path:
        self.counter += 1
        return self.dir / f"{stem}-{self.counter}.gsb"

    def software(self, version: int, *, files: dict[str, bytes] | None = None, keys: list[SigningKey] | None = None,
                 **kwargs: Any) -> Path:
        src = self.dir / f"sw-src-{self.counter}-{version}"
        src.mkdir()
        for name, data in (files or release_files(version)).items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes(data)
        out = self._out(f"software-v{version}")
        build_bundle(out, kind="software", version=version, keys=keys or [self.keys["software"]], payloads=[src],
                     product=kwargs.pop("product", self.product), signed_at=kwargs.pop("signed_at", SIGNED_AT),
                     **kwargs)
        return out

    def hashlist(self, version: int, lines: list[str], *, name: str = "vic", base: int | None = None,
                 removed: list[str] | None = None, keys: list[SigningKey] | None = None, **kwargs: Any) -> Path:
        src = self.dir / f"list-{self.counter}-{version}.txt"
        src.write_text("".join(f"{line}\n" for line in lines))
        rem = []
        if removed is not None:
            rem = [self.dir / f"removed-{self.counter}-{version}.txt"]
            rem[0].write_text("".join(f"{line}\n" for line in removed))
        out = self._out(f"{name}-v{version}")
        build_bundle(out, kind="hashlist", version=version, keys=keys or [self.keys["lists"]], payloads=[src],
                     base=base, list_name=name, removed=rem, product=kwargs.pop("product", self.product),
                     signed_at=kwargs.pop("signed_at", SIGNED_AT), **kwargs)
        return out

    def rootbundle(self, new_root: TrustRoot, *, keys: list[SigningKey] | None = None, signed_at: int = SIGNED_AT
                   ) -> Path:
        src = self.root_file(new_root, f"root-v{new_root.version}.json")
        out = self._out(f"root-v{new_root.version}")
        build_bundle(out, kind="root", version=new_root.version, keys=keys or [self.keys["root"]], payloads=[src],
                     product=self.product, signed_at=signed_at)
        return out

    def raw(self, manifest: dict[str, Any], members: list[bytes], keys: list[SigningKey] | None = None) -> Path:
        """A bundle with a hand-written (but validly signed) manifest: for hostile-member tests."""
        out = self._out("raw")
        write_signed(out, manifest, keys if keys is not None else [self.keys["software"]], members)
        return out


def release_files(version: int) -> dict[str, bytes]:
    return {"VERSION": f"{version}\n".encode(), "bin/gapscan-app": f"#!/bin/sh\necho v{version}\n".encode() * 50}


def digest_lines(n: int, seed: str = "x") -> list[str]:
    return [f"{hashlib.md5(f'{seed}{i}'.encode()).hexdigest()} cat{i % 3}" for i in range(n)]


@pytest.fixture(scope="session")
def session_keys() -> dict[str, SigningKey]:
    return {r: SigningKey.generate(r) for r in ROLES}


@pytest.fixture
def vendor(tmp_path: Path, session_keys: dict[str, SigningKey]) -> Vendor:
    d = tmp_path / "vendor"
    d.mkdir()
    v = Vendor(d, dict(session_keys))
    v.make_root()
    return v


@pytest.fixture
def appliance(state_dir: Path, vendor: Vendor) -> Path:
    """A state dir provisioned with the vendor's root (development mode)."""
    assert vendor.root is not None
    provision_root(state_dir, vendor.root.to_bytes(), production=False)
    return state_dir


@pytest.fixture(scope="session")
def installed_template(tmp_path_factory: pytest.TempPathFactory, session_keys: dict[str, SigningKey]) -> Path:
    """Built once: a state dir with the vendor's root, software v1 and hash list vic v1 installed from bundles."""
    from unittest import mock

    from appliance.update import apply_bundle

    base = tmp_path_factory.mktemp("installed-template")
    (base / "vendor").mkdir()
    (base / "runtime").mkdir(mode=0o700)
    vendor = Vendor(base / "vendor", dict(session_keys))
    root = vendor.make_root()
    state = base / "state"
    state.mkdir()
    env = {"GAPSCAN_PASSPHRASE": "update-tests-passphrase", "GAPSCAN_TPM_TCTI": "none",
           "GAPSCAN_RUNTIME_DIR": str(base / "runtime")}
    with mock.patch.dict(os.environ, env):
        provision_root(state, root.to_bytes(), production=False)
        apply_bundle(vendor.software(1), state_dir=state, actor="setup")
        apply_bundle(vendor.hashlist(1, digest_lines(5)), state_dir=state, actor="setup")
    return state


@pytest.fixture
def installed(state_dir: Path, vendor: Vendor, installed_template: Path) -> Path:
    """A copy of the installed template (the vendor fixture signs with the same keys and root)."""
    assert vendor.root is not None and vendor.root.to_bytes() == (installed_template / "update/root.json").read_bytes()
    shutil.copytree(installed_template, state_dir, symlinks=True, dirs_exist_ok=True)
    return state_dir


def state_snapshot(state_dir: Path) -> dict[str, str]:
    """SHA-256 of every file of installed software, hash lists, trust root and version state."""
    out: dict[str, str] = {}
    for sub in ("software", "hashlists", "keys"):
        base = state_dir / sub
        if base.exists():
            for p in sorted(base.rglob("*")):
                if p.is_file() or p.is_symlink():
                    out[str(p.relative_to(state_dir))] = hashlib.sha256(p.read_bytes()).hexdigest() + oct(
                        os.lstat(p).st_mode)
    for name in ("root.json", "versions.json", "config.json"):
        p = state_dir / "update" / name
        if p.exists():
            out[f"update/{name}"] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
