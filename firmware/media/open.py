"""Turn what the user typed into a Source: a directory, a block device, a raw image or an SMB URL.

``open_source(spec, **opts)`` options (all optional):
- ``archives`` (default True): expand ZIP/TAR members as ``outer.zip!inner/path`` (see archive.py);
  ``archive_limits``: an :class:`ArchiveLimits`;
- ``mount`` (default False): read a device/image through an explicit read-only kernel mount instead of pytsk3;
- ``deleted`` (default True): also scan recoverable deleted files on devices/images (flag ``deleted``);
- ``smb_user``, ``smb_domain``, ``smb_password`` (else ``$GAPSCAN_SMB_USER``, ``$GAPSCAN_SMB_DOMAIN``,
  ``$GAPSCAN_SMB_PASSWORD``; a user in the URL wins over ``smb_user``).
"""

from __future__ import annotations

import os
import stat
from typing import Any

from firmware.media.source import Source, SourceError


def open_source(spec: str, **opts: Any) -> Source:
    """Resolve a source spec. Raises :class:`SourceError` with a message naming the spec."""
    source = _open_plain(spec, opts)
    if opts.get("archives", True):
        from firmware.media.archive import ArchiveLimits, ArchiveSource

        source = ArchiveSource(source, opts.get("archive_limits") or ArchiveLimits())
    return source


def _open_plain(spec: str, opts: dict[str, Any]) -> Source:
    if spec.lower().startswith("smb://"):
        from firmware.media.smb import SmbSource

        return SmbSource(spec, user=opts.get("smb_user"), domain=opts.get("smb_domain"),
                         password=opts.get("smb_password"))
    try:
        mode = os.stat(spec).st_mode
    except OSError as exc:
        raise SourceError(f"cannot read source {spec!r}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        from firmware.media.localdir import LocalDirSource

        return LocalDirSource(spec)
    if stat.S_ISBLK(mode) or stat.S_ISREG(mode):
        if opts.get("mount"):
            from firmware.media.mount import MountedSource

            return MountedSource(spec)
        from firmware.media.tsk import TskSource

        return TskSource(spec, deleted=opts.get("deleted", True))
    raise SourceError(f"source {spec!r} is neither a folder, a block device, an image file nor an smb:// URL")
