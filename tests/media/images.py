"""Build real filesystem images with the real tools (no kernel mount): the media tests' fixtures.

Every image holds the same known files (the oracle: their digests by hashlib), one of them deleted with the
filesystem's own tool, so the scan must recover it from unallocated metadata.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
from pathlib import Path

MIB = 1 << 20


def _blob(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


#: Files on every image (path -> content). ``deleted.bin`` is deleted after copying.
FILES: dict[str, bytes] = {
    "known.bin": _blob(1, 150_000),
    "docs/report.txt": b"quarterly report, nothing to see\n" * 300,
    "odd name \u00fc;'x.txt": b"odd names are data\n" * 10,
    "innocent.txt": b"this file is on no list\n",
    "deleted.bin": _blob(2, 120_000),
}
DELETED = "deleted.bin"
ON_LIST = ["known.bin", "docs/report.txt", "odd name \u00fc;'x.txt", "deleted.bin"]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def write_hashlist(path: Path, names: list[str] = ON_LIST) -> Path:
    path.write_text("".join(f"{md5(FILES[n])}  {n.replace('/', '_')}\n" for n in names))
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(MIB):
            h.update(chunk)
    return h.hexdigest()


def run(*cmd: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    subprocess.run([str(c) for c in cmd], check=True, capture_output=True, env={**os.environ, **(env or {})})


def _tree(dest: Path, names: list[str]) -> Path:
    for name in names:
        p = dest / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(FILES[name])
    return dest


def make_fat(path: Path, size_mib: int, fat: int) -> Path:
    """FAT12/16/32 with mkfs.vfat, populated with mtools (mmd/mcopy), ``deleted.bin`` removed with mdel."""
    with open(path, "wb") as fh:
        fh.truncate(size_mib * MIB)
    run("mkfs.vfat", "-F", str(fat), "-n", f"FAT{fat}", path)
    env = {"MTOOLS_SKIP_CHECK": "1", "LC_ALL": "C.UTF-8"}
    src = _tree(path.parent / f"{path.name}.src", list(FILES))
    run("mmd", "-i", path, "::/docs", env=env)
    for name in FILES:
        run("mcopy", "-i", path, src / name, f"::/{name}", env=env)
    run("mdel", "-i", path, f"::/{DELETED}", env=env)
    shutil.rmtree(src)
    return path


def make_ext4(path: Path, size_mib: int = 16, kind: str = "ext4") -> Path:
    """ext2/3/4 populated with ``mkfs.extN -d``, ``deleted.bin`` removed with ``debugfs -w -R rm``."""
    src = _tree(path.parent / f"{path.name}.src", list(FILES))
    with open(path, "wb") as fh:
        fh.truncate(size_mib * MIB)
    run(f"mkfs.{kind}", "-q", "-F", "-d", src, path)
    run("debugfs", "-w", "-R", f"rm /{DELETED}", path)
    shutil.rmtree(src)
    return path


def make_ntfs(path: Path, size_mib: int = 16) -> Path:
    """NTFS with mkntfs; files copied with ntfscp (userland, no mount) into the root, plus an alternate data
    stream ``known.bin:hidden`` holding the content of docs/report.txt. (ntfscp cannot make folders, and
    ntfs-3g has no userland delete tool, so NTFS carries no subfolder and no deleted file.)"""
    with open(path, "wb") as fh:
        fh.truncate(size_mib * MIB)
    run("mkntfs", "-F", "-q", "-Q", path)
    src = _tree(path.parent / f"{path.name}.src", list(FILES))
    for name in ("known.bin", "innocent.txt", "odd name \u00fc;'x.txt"):
        run("ntfscp", path, src / name, name)
    run("ntfscp", "-N", "hidden", path, src / "docs/report.txt", "known.bin")
    shutil.rmtree(src)
    return path


def make_exfat(path: Path, size_mib: int = 16, populate: bool = True) -> tuple[Path, str | None]:
    """exFAT with mkfs.exfat. exfatprogs has no userland copy tool: files go in through exfat-fuse (a userland
    FUSE driver) on a loop device. Returns (image, why it is empty) where that is not possible here."""
    with open(path, "wb") as fh:
        fh.truncate(size_mib * MIB)
    run("mkfs.exfat", path)
    if not populate:
        return path, "not asked to populate"
    if not shutil.which("mount.exfat-fuse") or not os.path.exists("/dev/fuse") or os.geteuid() != 0:
        return path, "exfat-fuse, /dev/fuse or root (for a loop device) missing"
    mnt = path.parent / f"{path.name}.mnt"
    mnt.mkdir()
    loop = None
    try:
        loop = subprocess.run(["losetup", "-f", "--show", str(path)], check=True, capture_output=True,
                              text=True).stdout.strip()
        run("mount.exfat-fuse", loop, mnt)
        try:
            _tree(mnt, [n for n in FILES if n != DELETED])
        finally:
            run("umount", mnt)
    except (subprocess.CalledProcessError, OSError) as exc:
        return path, f"cannot populate through exfat-fuse: {exc}"
    finally:
        if loop:
            subprocess.run(["losetup", "-d", loop], check=False)
        mnt.rmdir()
    return path, None


def make_iso(path: Path) -> Path:
    """ISO 9660 with Rock Ridge and Joliet names (genisoimage); read-only media has no deleted file."""
    src = _tree(path.parent / f"{path.name}.src", [n for n in FILES if n != DELETED])
    run("genisoimage", "-quiet", "-R", "-J", "-o", path, src)
    shutil.rmtree(src)
    return path


def make_partitioned(path: Path, volumes: list[Path], label: str = "dos") -> Path:
    """A disk image with a partition table (sfdisk) holding ``volumes`` one after another, from 1 MiB."""
    sizes = [v.stat().st_size for v in volumes]
    total = MIB + sum(sizes) + MIB
    with open(path, "wb") as fh:
        fh.truncate(total)
    script = f"label: {label}\n" + "".join(f"start={(MIB + sum(sizes[:i])) // 512}, size={s // 512}, type="
                                           f"{'L' if label == 'gpt' else '83'}\n" for i, s in enumerate(sizes))
    subprocess.run(["sfdisk", "-q", str(path)], input=script.encode(), check=True, capture_output=True)
    with open(path, "r+b") as out:
        for i, vol in enumerate(volumes):
            out.seek(MIB + sum(sizes[:i]))
            with open(vol, "rb") as src:
                shutil.copyfileobj(src, out, MIB)
    return path


def corrupt(path: Path, offset: int, length: int, seed: int = 7) -> None:
    """Overwrite ``length`` bytes at ``offset`` with random bytes (a broken boot sector / FAT)."""
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(_blob(seed, length))
