"""Read an SMB2/3 share in userland with smbprotocol — read-only, no kernel CIFS mount.

``smb://[user@]host[:port]/share[/sub/folder]``. The password never appears in the URL, the source name, the
scan record or a log: it comes from the caller (``password=``) or ``$GAPSCAN_SMB_PASSWORD``; the user from the
URL, ``user=`` or ``$GAPSCAN_SMB_USER``; the domain from ``domain=`` or ``$GAPSCAN_SMB_DOMAIN``.

Wrong password, unreachable host and a missing share or folder fail when the source is opened (SourceError,
a clear exit-2 message); a folder the user may not read becomes an error entry and the walk goes on. A
connection lost mid-scan raises MediaGone (scan interrupted, results kept). Files are opened for reading only
and with full sharing (``rwd``) so the scan never blocks the share's other users.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

import smbclient
from smbprotocol.exceptions import LogonFailure, SMBAuthenticationError, SMBException, SMBOSError, SMBResponseException

from firmware.media.source import Entry, EntryKind, MediaGone, SourceError

_ATTR_DIRECTORY = 0x10
_ATTR_REPARSE_POINT = 0x400
_STATUS_ACCESS_DENIED = 0xC0000022
_CONNECT_TIMEOUT = 10
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class SmbUrl:
    host: str
    port: int
    share: str
    folder: str  # backslash-separated, "" for the share root
    user: str | None

    @property
    def unc(self) -> str:
        return "\\\\" + self.host + "\\" + self.share + ("\\" + self.folder if self.folder else "")

    def display(self, user: str | None) -> str:
        who = f"{user}@" if user else ""
        port = f":{self.port}" if self.port != 445 else ""
        sub = "/" + self.folder.replace("\\", "/") if self.folder else ""
        return f"smb://{who}{self.host}{port}/{self.share}{sub}"


def parse_smb_url(url: str) -> SmbUrl:
    """Parse ``smb://user@host:port/share/sub``; refuses a password in the URL (it would end up in records)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "smb" or not parts.hostname:
        raise SourceError(f"not an SMB URL (smb://user@host/share/folder): {url!r}")
    if parts.password is not None:
        raise SourceError("put no password in the smb:// URL (it would be recorded); set GAPSCAN_SMB_PASSWORD")
    try:
        port = parts.port or 445
    except ValueError:
        raise SourceError(f"bad port in {url!r}") from None
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if not segments:
        raise SourceError(f"no share named in {url!r} (smb://host/SHARE/folder)")
    if any(s in (".", "..") or "\\" in s for s in segments):
        raise SourceError(f"'.', '..' and backslashes are not allowed in an SMB path: {url!r}")
    return SmbUrl(parts.hostname, port, segments[0], "\\".join(segments[1:]),
                  unquote(parts.username) if parts.username else None)


@dataclass(frozen=True, slots=True)
class _SmbRef:
    rel: str  # backslash-separated path below the scanned folder


class SmbSource:
    """A folder on an SMB share, walked read-only."""

    def __init__(self, url: str, *, user: str | None = None, domain: str | None = None,
                 password: str | None = None) -> None:
        self._url = parse_smb_url(url)
        user = self._url.user or user or os.environ.get("GAPSCAN_SMB_USER")
        domain = domain or os.environ.get("GAPSCAN_SMB_DOMAIN")
        if password is None:
            password = os.environ.get("GAPSCAN_SMB_PASSWORD")
        self._user = user
        self.name = self._url.display(user)
        self._cache: dict[str, Any] = {}
        self._closed = False
        if not user:
            raise SourceError(f"{self.name}: no SMB user (put user@ in the URL or set GAPSCAN_SMB_USER)")
        if password is None:
            raise SourceError(f"{self.name}: no SMB password (set GAPSCAN_SMB_PASSWORD)")
        login = f"{domain}\\{user}" if domain and user else user
        try:
            smbclient.register_session(self._url.host, username=login, password=password, port=self._url.port,
                                       connection_timeout=_CONNECT_TIMEOUT, connection_cache=self._cache,
                                       auth_protocol="ntlm", require_signing=True)
        except (LogonFailure, SMBAuthenticationError):
            self.close()
            raise SourceError(f"{self.name}: logon failed (wrong user name or password?)") from None
        except (ValueError, OSError) as exc:
            self.close()
            raise SourceError(f"{self.name}: cannot connect to {self._url.host} port {self._url.port}: "
                              f"{_reason(exc)}") from None
        except SMBException as exc:
            self.close()
            raise SourceError(f"{self.name}: SMB session refused: {_reason(exc)}") from None
        try:
            self._scandir("")
        except SMBOSError as exc:
            self.close()
            what = f"share {self._url.share!r}" if not self._url.folder else f"folder {self._url.folder!r}"
            if exc.errno == errno.ENOENT:
                raise SourceError(f"{self.name}: {what} not found on {self._url.host}") from None
            raise SourceError(f"{self.name}: cannot open {what}: {_reason(exc)}") from None
        except SMBResponseException as exc:
            self.close()
            raise SourceError(f"{self.name}: cannot open share {self._url.share!r}: {_reason(exc)}") from None

    # -- Source interface ------------------------------------------------------------------------
    def describe(self) -> dict[str, object]:
        return {"type": "smb", "url": self.name, "host": self._url.host, "port": self._url.port,
                "share": self._url.share, "folder": self._url.folder, "user": self._user, "reader": "smbprotocol"}

    def walk(self) -> Iterator[Entry]:
        stack: list[str] = [""]
        while stack:
            rel = stack.pop()
            try:
                rows = self._scandir(rel)
            except (SMBOSError, SMBResponseException) as exc:
                yield Entry(_path(rel) or b".", EntryKind.DIR, error=f"cannot list folder: {_reason(exc)}")
                continue
            except Exception as exc:
                raise MediaGone(f"{self.name}: connection lost ({_reason(exc)})") from None
            subdirs = []
            for name, info in rows:
                child = f"{rel}\\{name}" if rel else name
                attrs = int(info.file_attributes)
                mtime = info.last_write_time.timestamp() if info.last_write_time else None
                if attrs & _ATTR_REPARSE_POINT:
                    yield Entry(_path(child), EntryKind.SYMLINK, mtime=mtime)
                elif attrs & _ATTR_DIRECTORY:
                    yield Entry(_path(child), EntryKind.DIR, mtime=mtime)
                    subdirs.append(child)
                else:
                    yield Entry(_path(child), EntryKind.FILE, size=int(info.end_of_file), mtime=mtime,
                                ref=_SmbRef(child))
            stack.extend(reversed(subdirs))

    def open(self, entry: Entry) -> BinaryIO:
        ref = entry.ref
        if entry.kind is not EntryKind.FILE or not isinstance(ref, _SmbRef):
            raise OSError(errno.EINVAL, f"not a file from this share: {entry.path!r}")
        try:
            fh = smbclient.open_file(self._full(ref.rel), mode="rb", buffering=0, share_access="rwd",
                                     port=self._url.port, connection_cache=self._cache)
        except SMBOSError as exc:
            raise OSError(exc.errno or errno.EIO, _reason(exc)) from None
        except (SMBException, ValueError, ConnectionError) as exc:
            raise MediaGone(f"{self.name}: connection lost ({_reason(exc)})") from None
        return io.BufferedReader(_Guarded(fh, self.name), _CHUNK)  # type: ignore[return-value]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):  # closing a dead connection must not mask the real error
            smbclient.reset_connection_cache(connection_cache=self._cache)

    def __enter__(self) -> SmbSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------------
    def _full(self, rel: str) -> str:
        return self._url.unc + ("\\" + rel if rel else "")

    def _scandir(self, rel: str) -> list[tuple[str, Any]]:
        rows = [(e.name, e.smb_info) for e in smbclient.scandir(self._full(rel), port=self._url.port,
                                                                 connection_cache=self._cache)]
        rows.sort(key=lambda r: _path(r[0]))
        return rows


class _Guarded(io.RawIOBase):
    """An SMB file whose lost-connection errors become MediaGone and protocol errors OSError."""

    def __init__(self, raw: Any, name: str) -> None:
        super().__init__()
        self._raw = raw
        self._name = name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True  # archives on the share are read by seeking (the ZIP central directory is at the end)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return int(self._raw.seek(offset, whence))

    def tell(self) -> int:
        return int(self._raw.tell())

    def readinto(self, buffer: Any) -> int:
        try:
            return int(self._raw.readinto(buffer))
        except SMBOSError as exc:
            raise OSError(exc.errno or errno.EIO, _reason(exc)) from None
        except (SMBException, ValueError, ConnectionError) as exc:
            raise MediaGone(f"{self._name}: connection lost ({_reason(exc)})") from None

    def close(self) -> None:
        with contextlib.suppress(Exception):  # the file was only read; a failed close loses nothing
            self._raw.close()
        super().close()


def _path(rel: str) -> bytes:
    return rel.replace("\\", "/").encode("utf-8", "surrogatepass")


def _reason(exc: BaseException) -> str:
    status = getattr(exc, "ntstatus", None)
    if status == _STATUS_ACCESS_DENIED:
        return "access denied"
    text = str(exc)
    if "Received unexpected status from the server: " in text:
        text = text.split("Received unexpected status from the server: ", 1)[1]
    return text or type(exc).__name__

