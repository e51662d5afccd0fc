"""manifest.py: the SBOM-style record of every Debian package and wheel, and the pins a rebuild uses.

The Debian half runs against this machine's own root (a real dpkg database and apt's real Packages indexes),
since both are what the tool reads inside a freshly built image root.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.image.conftest import IMAGE_BUILD

MANIFEST = IMAGE_BUILD / "lib/manifest.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(MANIFEST), *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def wheels(tmp_path) -> Path:
    d = tmp_path / "wheels"
    d.mkdir()
    (d / "gapscan-0.1.0-py3-none-any.whl").write_bytes(b"gapscan wheel bytes")
    (d / "numpy-2.2.6-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl").write_bytes(b"numpy")
    (d / "typing_extensions-4.12.2-py3-none-any.whl").write_bytes(b"te")
    return d


def test_lock_pins_every_wheel_by_hash(wheels):
    result = run("lock-wheels", str(wheels))
    assert result.returncode == 0, result.stderr
    sha = hashlib.sha256(b"numpy").hexdigest()
    assert f"numpy==2.2.6 --hash=sha256:{sha}" in result.stdout.splitlines()
    assert any(line.startswith("typing-extensions==4.12.2 --hash=sha256:") for line in result.stdout.splitlines())
    assert len(result.stdout.splitlines()) == 3


def test_lock_refuses_a_directory_without_gapscan(tmp_path):
    result = run("lock-wheels", str(tmp_path))
    assert result.returncode != 0 and "no gapscan wheel" in result.stderr


def dpkg_version(package: str) -> str:
    return subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture(scope="module")
def host_manifest(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("m") / "manifest.json"
    result = run("build", "--root", "/", "--arch", "amd64", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())


def test_debian_packages_with_versions_and_index_sha256(host_manifest):
    by_name = {p["name"]: p for p in host_manifest["debian_packages"]}
    dpkg = by_name["dpkg"]
    assert dpkg["version"] == dpkg_version("dpkg")
    installed = subprocess.run(["dpkg-query", "-W", "-f=${binary:Package}\\n"], capture_output=True, text=True,
                               check=True).stdout.split()
    assert len(host_manifest["debian_packages"]) == len(installed)
    with_hash = [p for p in host_manifest["debian_packages"] if "sha256" in p]
    assert with_hash, "apt's indexes give a SHA-256 for packages still on the mirror"
    sample = with_hash[0]
    shown = subprocess.run(["apt-cache", "show", f"{sample['name']}={sample['version']}"], capture_output=True,
                           text=True).stdout
    assert f"SHA256: {sample['sha256']}" in shown


def test_pins_round_trip(host_manifest, tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(host_manifest))
    pins = run("pins", str(path), "--arch", "amd64")
    assert pins.returncode == 0
    assert f"dpkg={dpkg_version('dpkg')}" in pins.stdout.splitlines()
    wrong = run("pins", str(path), "--arch", "arm64")
    assert wrong.returncode != 0 and "not arm64" in wrong.stderr
