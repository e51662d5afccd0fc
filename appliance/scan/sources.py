"""What ``gapscan scan`` needs to turn its SOURCE argument into a :class:`Source`.

Owned by the media layer: flags that change how a source is read (``--mount``, ``--no-archives``, SMB user and
domain, the device fingerprint mode) are added here and saved in the scan's context (key ``media``) so
``--resume`` reopens the source the same way. Passwords are never saved: ``$GAPSCAN_SMB_PASSWORD`` is read
again on resume.

Devices and images are fingerprinted before the scan (recorded in the scan's source info) and after it
(:func:`finish_scan_source`, recorded in the scan's ``extra`` as ``device_fingerprint`` with ``unchanged``).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO

from appliance.errors import GapscanError
from firmware.media.archive import ArchiveLimits
from firmware.media.open import open_source
from firmware.media.rawdev import FULL_HASH_MAX, Fingerprint, fingerprint, is_raw_medium
from firmware.media.source import Entry, Source, SourceError

_FINGERPRINT_MODES = {"auto": FULL_HASH_MAX, "full": 1 << 62, "quick": -1}


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``gapscan scan`` that decide how SOURCE is read."""
    g = parser.add_argument_group("reading the source (devices, images, smb://, archives)")
    g.add_argument("--mount", action="store_true",
                   help="read a device/image through a read-only kernel mount (ro,nosuid,nodev,noexec,noatime, "
                        "no journal replay) instead of the userland reader; only for filesystems it cannot read")
    g.add_argument("--no-archives", action="store_true", help="do not open ZIP/TAR archives to scan their members")
    g.add_argument("--smb-user", metavar="USER", help="SMB user (else the URL's user@, else $GAPSCAN_SMB_USER); "
                                                     "the password comes from $GAPSCAN_SMB_PASSWORD")
    g.add_argument("--smb-domain", metavar="DOMAIN", help="SMB domain/workgroup (else $GAPSCAN_SMB_DOMAIN)")
    g.add_argument("--fingerprint", choices=sorted(_FINGERPRINT_MODES), default="auto",
                   help="device/image fingerprint before and after the scan: full SHA-256 (full), SHA-256 of "
                        "size + first and last MiB (quick), or full up to 1 GiB else quick (auto, default)")


def source_context(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON-able reading options to store with a new scan (never a password)."""
    return {"media": {"mount": bool(args.mount), "archives": not args.no_archives, "smb_user": args.smb_user,
                      "smb_domain": args.smb_domain, "fingerprint": args.fingerprint}}


def open_scan_source(spec: str, context: dict[str, Any]) -> Source:
    """Open SOURCE as a new scan or ``--resume`` (same ``context``) asks. Errors name the source."""
    media = context.get("media") or {}
    password = None
    if spec.lower().startswith("smb://") and "GAPSCAN_SMB_PASSWORD" not in os.environ and sys.stdin.isatty():
        password = getpass.getpass(f"SMB password for {spec}: ")
    try:
        source = open_source(spec, mount=bool(media.get("mount")), archives=media.get("archives", True),
                             archive_limits=ArchiveLimits(), smb_user=media.get("smb_user"),
                             smb_domain=media.get("smb_domain"), smb_password=password)
    except SourceError as exc:
        raise GapscanError(str(exc)) from None
    if spec.lower().startswith("smb://") or not is_raw_medium(spec):
        return source
    try:
        return FingerprintedSource(source, spec, _FINGERPRINT_MODES.get(media.get("fingerprint") or "auto",
                                                                        FULL_HASH_MAX))
    except OSError as exc:
        source.close()
        raise GapscanError(f"cannot fingerprint {spec!r} before the scan: {exc.strerror or exc}") from None


def finish_scan_source(source: Source, store: Any, scan_id: str) -> dict[str, Any] | None:
    """After the job: fingerprint the device again, record both in the scan's ``extra``, close the source."""
    try:
        if not isinstance(source, FingerprintedSource):
            return None
        record = source.after()
        store.update_extra(scan_id, device_fingerprint=record)
        return record
    finally:
        source.close()


class FingerprintedSource:
    """A device/image source whose medium is fingerprinted when opened and again when the scan is over."""

    def __init__(self, inner: Source, path: str, full_max: int) -> None:
        self._inner = inner
        self._path = path
        self._full_max = full_max
        self.name = inner.name
        self.before: Fingerprint = fingerprint(path, full_max=full_max)

    def describe(self) -> dict[str, object]:
        return {**self._inner.describe(), "fingerprint_before": self.before.to_json()}

    def walk(self) -> Iterator[Entry]:
        return self._inner.walk()

    def open(self, entry: Entry) -> BinaryIO:
        return self._inner.open(entry)

    def close(self) -> None:
        self._inner.close()

    def after(self) -> dict[str, Any]:
        """Both fingerprints and whether they are equal (after: None with the reason if it cannot be read)."""
        record: dict[str, Any] = {"method": self.before.method, "size": self.before.size,
                                  "before": self.before.sha256, "after": None, "unchanged": False}
        try:
            after = fingerprint(self._path, full_max=self._full_max)
        except OSError as exc:
            record["after_error"] = f"{os.path.basename(self._path)}: {exc.strerror or exc}"
            return record
        record.update(after=after.sha256, after_size=after.size,
                      unchanged=after.sha256 == self.before.sha256 and after.size == self.before.size)
        return record
