"""SBOM-style manifest of an appliance root: every Debian package and Python wheel, with version and SHA-256.

Sub-commands (stdlib only; runs on the build host against the target root, so it works for any architecture):
  lock-wheels DIR            print a pip requirements file pinning every wheel in DIR by version and sha256
  build --root R ...         write manifest.json for root R (dpkg status + apt's Packages indexes + wheels)
  pins MANIFEST --arch A     print name=version for every Debian package in MANIFEST (build.sh --lock)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_deb822(text: str) -> list[dict[str, str]]:
    """Paragraphs of a dpkg status / apt Packages file; continuation lines are kept joined."""
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                records.append(current)
            current, key = {}, None
        elif line[0] in " \t" and key:
            current[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            current[key] = value.strip()
    if current:
        records.append(current)
    return records


def wheels_in(directory: Path) -> list[dict[str, str]]:
    out = []
    for whl in sorted(directory.glob("*.whl")):
        m = WHEEL_NAME.match(whl.name)
        if not m:
            raise SystemExit(f"manifest.py: cannot read name and version from wheel file name {whl.name}")
        out.append({"name": m["name"].replace("_", "-").lower(), "version": m["version"], "file": whl.name,
                    "sha256": sha256_file(whl)})
    return out


def cmd_lock_wheels(directory: Path) -> int:
    wheels = wheels_in(directory)
    if not any(w["name"] == "gapscan" for w in wheels):
        raise SystemExit(f"manifest.py: no gapscan wheel in {directory}")
    for w in wheels:
        print(f"{w['name']}=={w['version']} --hash=sha256:{w['sha256']}")
    return 0


def read_index(path: Path) -> str:
    """An apt list, plain or compressed (apt may keep them as .lz4/.gz/.xz; apt-helper reads them all)."""
    if path.name.endswith("_Packages"):
        return path.read_text(errors="replace")
    return subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", str(path)], capture_output=True, check=True,
                          text=True, errors="replace").stdout


def installed_packages(root: Path) -> list[dict[str, str]]:
    status = parse_deb822((root / "var/lib/dpkg/status").read_text(errors="replace"))
    return [r for r in status if r.get("Status", "").endswith(" installed")]


def index_hashes(root: Path, wanted: set[str]) -> dict[tuple[str, str, str], dict[str, str]]:
    """(package, version, arch) -> {sha256, filename, size} from apt's downloaded Packages indexes."""
    found: dict[tuple[str, str, str], dict[str, str]] = {}
    for index in sorted((root / "var/lib/apt/lists").glob("*_Packages*")):
        for paragraph in read_index(index).split("\n\n"):
            # A whole index is tens of thousands of paragraphs: only parse the installed packages' ones.
            name = paragraph[9:paragraph.find("\n")] if paragraph.startswith("Package: ") else None
            if name not in wanted:
                continue
            r = parse_deb822(paragraph)[0]
            if "SHA256" in r:
                found[(r["Package"], r["Version"], r["Architecture"])] = {
                    "sha256": r["SHA256"], "filename": r.get("Filename", ""), "size": r.get("Size", "")}
    return found


def venv_distributions(root: Path) -> list[dict[str, str]]:
    dists = []
    for meta in sorted(root.glob("opt/gapscan/venv/lib/python3*/site-packages/*.dist-info/METADATA")):
        fields = dict(line.split(": ", 1) for line in meta.read_text(errors="replace").splitlines()
                      if ": " in line and not line.startswith(" "))
        dists.append({"name": fields.get("Name", "?").lower(), "version": fields.get("Version", "?")})
    return dists


def git_commit(repo: Path) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def cmd_build(args: argparse.Namespace) -> int:
    root: Path = args.root
    installed = installed_packages(root)
    hashes = index_hashes(root, {r["Package"] for r in installed})
    packages = []
    missing = []
    for r in sorted(installed, key=lambda r: r["Package"]):
        arch = r.get("Architecture", "")
        entry = {"name": r["Package"], "version": r["Version"], "architecture": arch,
                 "source": r.get("Source", r["Package"]).split(" ")[0]}
        info = hashes.get((r["Package"], r["Version"], arch))
        if info:
            entry.update(info)
        else:
            missing.append(r["Package"])
        packages.append(entry)
    wheels = wheels_in(args.wheels) if args.wheels else []
    manifest = {
        "format": "gapscan-image-manifest/1",
        "architecture": args.arch,
        "suite": args.suite,
        "mirror": args.mirror,
        "source_commit": git_commit(args.repo) if args.repo else None,
        "debian_packages": packages,
        "debian_packages_without_index_hash": missing,
        "python_wheels": wheels,
        "venv_distributions": venv_distributions(root),
    }
    args.out.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"manifest.py: {len(packages)} Debian packages ({len(missing)} without an index hash), "
          f"{len(wheels)} wheels -> {args.out}", file=sys.stderr)
    return 0


def cmd_pins(manifest_path: Path, arch: str) -> int:
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("architecture") != arch:
        raise SystemExit(f"manifest.py: {manifest_path} is for {manifest.get('architecture')}, not {arch}")
    for p in manifest["debian_packages"]:
        print(f"{p['name']}={p['version']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="manifest.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    lw = sub.add_parser("lock-wheels")
    lw.add_argument("directory", type=Path)
    b = sub.add_parser("build")
    b.add_argument("--root", type=Path, required=True)
    b.add_argument("--wheels", type=Path)
    b.add_argument("--arch", required=True)
    b.add_argument("--suite", default="bookworm")
    b.add_argument("--mirror", default="")
    b.add_argument("--repo", type=Path)
    b.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("pins")
    p.add_argument("manifest", type=Path)
    p.add_argument("--arch", required=True)
    args = parser.parse_args(argv)
    if args.cmd == "lock-wheels":
        return cmd_lock_wheels(args.directory)
    if args.cmd == "build":
        return cmd_build(args)
    return cmd_pins(args.manifest, args.arch)


if __name__ == "__main__":
    sys.exit(main())
