"""Raw access to a block device or image file: its size, whether it is still there, and its fingerprint.

The fingerprint proves forensic soundness: taken before and after a scan, the two must be equal. Up to
``FULL_HASH_MAX`` bytes the whole device is hashed (``method: "sha256-full"``); above it, SHA-256 over the
size, the first MiB and the last MiB (``method: "sha256-first-last-mib"``): the first MiB holds the MBR,
the primary GPT and every filesystem's superblock/boot sector at offset 0, the last MiB the backup GPT.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass

#: Devices/images up to this size are hashed in full (about 10 s at 100 MB/s on the appliance).
FULL_HASH_MAX = 1 << 30
MIB = 1 << 20
_CHUNK = 4 * MIB
#: errno values that mean "the device is no longer there" rather than "this sector is bad".
GONE_ERRNOS = {errno.ENODEV, errno.ENXIO, errno.ENOENT, errno.ESHUTDOWN, errno.ENOMEDIUM}


@dataclass(frozen=True, slots=True)
class Fingerprint:
    method: str  # "sha256-full" | "sha256-first-last-mib"
    size: int
    sha256: str

    def to_json(self) -> dict[str, object]:
        return {"method": self.method, "size": self.size, "sha256": self.sha256}


def is_raw_medium(path: str) -> bool:
    """A block device or a regular file (an image) — what the userland filesystem reader takes."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISBLK(mode) or stat.S_ISREG(mode)


def medium_size(path: str) -> int:
    """Size in bytes of a block device or image (lseek to the end works for both)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def gone_reason(path: str, expected_size: int) -> str | None:
    """Why the medium at ``path`` is gone (removed, replaced, truncated, empty), or None if it is still there."""
    try:
        st = os.stat(path)
        size = st.st_size if stat.S_ISREG(st.st_mode) else medium_size(path)
    except OSError as exc:
        return f"{path} is gone ({errno.errorcode.get(exc.errno or 0, 'OSError')}: {exc.strerror})"
    if size == 0 and expected_size:
        return f"{path} has no medium any more (size 0)"
    if size < expected_size:
        return f"{path} shrank from {expected_size} to {size} bytes during the scan"
    return None


def fingerprint(path: str, *, full_max: int = FULL_HASH_MAX) -> Fingerprint:
    """Fingerprint a device or image, read-only. Raises OSError if it cannot be read."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        h = hashlib.sha256()
        if size <= max(full_max, 2 * MIB):
            _hash_range(fd, h, 0, size)
            return Fingerprint("sha256-full", size, h.hexdigest())
        h.update(size.to_bytes(8, "little"))
        _hash_range(fd, h, 0, MIB)
        _hash_range(fd, h, size - MIB, MIB)
        return Fingerprint("sha256-first-last-mib", size, h.hexdigest())
    finally:
        os.close(fd)


def _hash_range(fd: int, h: hashlib._Hash, offset: int, length: int) -> None:
    end = offset + length
    while offset < end:
        data = os.pread(fd, min(_CHUNK, end - offset), offset)
        if not data:
            raise OSError(errno.EIO, f"short read at offset {offset}")
        h.update(data)
        offset += len(data)
