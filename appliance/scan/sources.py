"""What ``gapscan scan`` needs to turn its SOURCE argument into a :class:`Source`.

Owned by the media layer: flags that change how a source is read (``--mount``, ``--no-archives``, SMB user and
domain, the device fingerprint mode) are added here and saved in the scan's context (key ``media``) so
``--resume`` reopens the source the same way. Passwords are never saved: ``$GAPSCAN_SMB_PASSWORD`` is read
again on resume.

Devices and images are fingerprinted before the scan (recorded in the scan's source info) and after it
(:func:`finish_scan_source`, recorded in the scan's ``extra`` as ``device_fingerprint`` with ``unchanged``);
``--resume`` refuses a medium whose fingerprint is not the one the scan started with. A medium that vanished
mid-scan leaves its reason in ``extra["media_gone"]``.
"""

from __future__ import annotations

import argparse
import getpass
import io
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from appliance.errors import GapscanError
from firmware.media.archive import ArchiveLimits
from firmware.media.open import open_source
from firmware.media.rawdev import FULL_HASH_MAX, Fingerprint, fingerprint, is_raw_medium
from firmware.media.source import Entry, MediaGone, Source, SourceError

_FINGERPRINT_MODES = {"auto": FULL_HASH_MAX, "full": 1 << 62, "quick": -1}


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``gapscan scan`` that decide how SOURCE is read."""
    g = parser.add_argument_group("reading the source (devices, images, smb://, archives)")
    g.add_argument("--mount", action="store_true",
                   help="read a device/image through a read-only kernel mount (ro,nosuid,nodev,noexec,noatime, "
                        "no journal replay) instead of the userland reader; only for filesystems it cannot read")
    g.add_argument("--no-deleted", action="store_true",
                   help="devices/images: scan allocated files only (default: deleted files whose content is still "
                        "recoverable are scanned too, flagged 'deleted')")
    g.add_argument("--no-archives", action="store_true", help="do not open ZIP/TAR archives to scan their members")
    g.add_argument("--smb-user", metavar="USER", help="SMB user where the URL has no user@ (else $GAPSCAN_SMB_USER); "
                                                     "the password comes from $GAPSCAN_SMB_PASSWORD or a prompt")
    g.add_argument("--smb-domain", metavar="DOMAIN", help="SMB domain/workgroup (else $GAPSCAN_SMB_DOMAIN)")
    g.add_argument("--fingerprint", choices=sorted(_FINGERPRINT_MODES), default="auto",
                   help="device/image fingerprint before and after the scan: full SHA-256 (full), SHA-256 of "
                        "size + first and last MiB (quick), or full up to 1 GiB else quick (auto, default)")


def source_context(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON-able reading options to store with a new scan (never a password)."""
    return {"media": {"mount": bool(args.mount), "archives": not args.no_archives, "deleted": not args.no_deleted,
                      "smb_user": args.smb_user, "smb_domain": args.smb_domain, "fingerprint": args.fingerprint}}


def open_scan_source(spec: str, context: dict[str, Any]) -> Source:
    """Open SOURCE as a new scan or ``--resume`` (same ``context``) asks. Errors name the source.

    A device/image is fingerprinted now; a new scan keeps that fingerprint in ``context`` (stored with the scan),
    and ``--resume`` refuses a medium whose fingerprint differs (another drive in the same slot, or a changed one:
    merging its files into the old scan would mix two media)."""
    media = context.setdefault("media", {})
    password = None
    if spec.lower().startswith("smb://") and "GAPSCAN_SMB_PASSWORD" not in os.environ and sys.stdin.isatty():
        password = getpass.getpass(f"SMB password for {spec}: ")
    try:
        source = open_source(spec, mount=bool(media.get("mount")), archives=media.get("archives", True),
                             deleted=media.get("deleted", True),
                             archive_limits=ArchiveLimits(), smb_user=media.get("smb_user"),
                             smb_domain=media.get("smb_domain"), smb_password=password)
    except SourceError as exc:
        raise GapscanError(str(exc)) from None
    fingerprinted = None
    if not spec.lower().startswith("smb://") and is_raw_medium(spec):
        try:
            fingerprinted = ScanSource(source, spec, _FINGERPRINT_MODES.get(media.get("fingerprint") or "auto",
                                                                            FULL_HASH_MAX))
        except OSError as exc:
            source.close()
            raise GapscanError(f"cannot fingerprint {spec!r} before the scan: {exc.strerror or exc}") from None
        assert fingerprinted.before is not None
        first = media.get("fingerprint_before")
        if first is None:
            media["fingerprint_before"] = fingerprinted.before.to_json()
        elif first != fingerprinted.before.to_json():
            fingerprinted.close()
            raise GapscanError(f"{spec} is not the medium this scan started on (its fingerprint changed: "
                               f"{first.get('sha256', '?')[:16]}... then, {fingerprinted.before.sha256[:16]}... now); "
                               "start a new scan instead of resuming")
    return fingerprinted or ScanSource(source, spec, None)


def finish_scan_source(source: Source, store: Any, scan_id: str) -> dict[str, Any] | None:
    """After the job: fingerprint the device again and record both in the scan's ``extra``
    (``device_fingerprint``), plus why the medium vanished if it did (``media_gone``); close the source."""
    try:
        if not isinstance(source, ScanSource):
            return None
        values: dict[str, Any] = {}
        if source.gone:
            values["media_gone"] = source.gone
        if source.before is not None:
            values["device_fingerprint"] = source.after()
        if values:
            store.update_extra(scan_id, **values)
        return values.get("device_fingerprint")
    finally:
        source.close()


def _always(_entry: Entry) -> bool:
    return True


class ScanSource:
    """The source a scan walks: remembers why the medium vanished (MediaGone) and, for a device or image,
    fingerprints it when opened and again when the scan is over."""

    def __init__(self, inner: Source, path: str, full_max: int | None) -> None:
        self._inner = inner
        self._path = path
        self._full_max = full_max
        self.name = inner.name
        self.gone: str | None = None
        self.before: Fingerprint | None = None if full_max is None else fingerprint(path, full_max=full_max)
        #: Hashing may run in forked workers when the inner source allows it (a MediaGone raised there reaches
        #: the scan through the worker's result: the job hands it to :meth:`note_gone`).
        self.fork_safe = bool(getattr(inner, "fork_safe", False))
        #: May a forked hashing worker open this entry? The inner source's answer (asked once per file, so bound
        #: directly rather than wrapped).
        self.forkable: Callable[[Entry], bool] = getattr(inner, "forkable", _always)
        #: Reads are watched for MediaGone unless the inner source says its reads never raise it (a mounted
        #: directory: a pulled drive gives EIO there, recorded per file).
        self._watch_reads = bool(getattr(inner, "reads_raise_media_gone", True))

    def defer_file_stat(self) -> None:
        """Passed on to the inner source when it can (``LocalDirSource.defer_file_stat``)."""
        defer = getattr(self._inner, "defer_file_stat", None)
        if defer is not None:
            defer()

    def note_gone(self, exc: MediaGone) -> None:
        if self.gone is None:
            self.gone = str(exc)

    def describe(self) -> dict[str, object]:
        info = self._inner.describe()
        return {**info, "fingerprint_before": self.before.to_json()} if self.before else info

    def walk(self) -> Iterator[Entry]:
        try:
            yield from self._inner.walk()
        except MediaGone as exc:
            self.gone = str(exc)
            raise

    def open(self, entry: Entry) -> BinaryIO:
        try:
            stream = self._inner.open(entry)
            if not self._watch_reads:  # the inner source's reads never raise MediaGone: no wrapper per file
                return stream
            return _GoneWatch(stream, self)  # type: ignore[return-value]
        except MediaGone as exc:
            self.gone = str(exc)
            raise

    def close(self) -> None:
        self._inner.close()

    def after(self) -> dict[str, Any]:
        """Both fingerprints and whether they are equal (after: None with the reason if it cannot be read)."""
        assert self.before is not None and self._full_max is not None
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


class _GoneWatch(io.RawIOBase):
    """Passes reads through; notes a MediaGone on the scan source before letting it end the scan."""

    def __init__(self, stream: BinaryIO, owner: ScanSource) -> None:
        super().__init__()
        self._stream = stream
        self._owner = owner

    def readable(self) -> bool:
        return True

    @property
    def stat(self) -> os.stat_result | None:
        """The inner stream's fstat where it has one (a local file, see ``LocalDirSource.open``)."""
        return getattr(self._stream, "stat", None)

    def readinto(self, buffer: Any) -> int:
        try:
            return self._stream.readinto(buffer)  # type: ignore[attr-defined, no-any-return]
        except MediaGone as exc:
            self._owner.gone = str(exc)
            raise

    def close(self) -> None:
        self._stream.close()
        super().close()
