"""File type from magic bytes, never from the (hostile) name or extension."""

from __future__ import annotations

#: How many leading bytes :func:`sniff` needs (the tar magic sits at offset 257).
SNIFF_BYTES = 512

# (offset, magic, type). Order matters where one magic is a prefix of another.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"\x00\x00\x01\x00", "image/x-icon"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"PK\x05\x06", "application/zip"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"BZh", "application/x-bzip2"),
    (0, b"\xfd7zXZ\x00", "application/x-xz"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"Rar!\x1a\x07", "application/vnd.rar"),
    (257, b"ustar", "application/x-tar"),
    (0, b"\x1aE\xdf\xa3", "video/x-matroska"),
    (0, b"\x7fELF", "application/x-executable"),
    (0, b"MZ", "application/x-msdownload"),
    (0, b"SQLite format 3\x00", "application/vnd.sqlite3"),
    (0, b"OggS", "application/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"fLaC", "audio/flac"),
)


#: Offset-0 signatures by first byte: a scan sniffs every file, so this is one dict lookup, not 25 compares.
_AT_START: dict[int, tuple[tuple[bytes, str], ...]] = {}
for _offset, _magic, _kind in _SIGNATURES:
    if _offset == 0:
        _AT_START[_magic[0]] = (*_AT_START.get(_magic[0], ()), (_magic, _kind))
_ELSEWHERE = tuple(s for s in _SIGNATURES if s[0] != 0)


def sniff(head: bytes) -> str | None:
    """Return a MIME type for the leading bytes of a file, or ``None`` if unknown."""
    if not head:
        return None
    if len(head) >= 12 and head[:4] == b"RIFF":
        return {b"WEBP": "image/webp", b"AVI ": "video/x-msvideo", b"WAVE": "audio/wav"}.get(head[8:12])
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return "image/heic"
        if brand == b"avif":
            return "image/avif"
        if brand == b"qt  ":
            return "video/quicktime"
        return "video/mp4"
    for magic, kind in _AT_START.get(head[0], ()):
        if head.startswith(magic):
            if kind == "video/x-matroska" and b"webm" in head[:64]:
                return "video/webm"
            return kind
    for offset, magic, kind in _ELSEWHERE:
        if head[offset : offset + len(magic)] == magic:
            return kind
    return None


def is_image(kind: str | None) -> bool:
    return bool(kind) and kind.startswith("image/")  # type: ignore[union-attr]


def is_video(kind: str | None) -> bool:
    return bool(kind) and kind.startswith("video/")  # type: ignore[union-attr]
