"""vPDQ: PDQ hashes of video frames sampled once a second (PyAV decoder), and ThreatExchange's matching rule.

A video's hash is a list of frame features ``(frame_number, quality, pdq, timestamp)``, the vPDQ format
(``frame_number,quality,pdq_hex,timestamp_seconds`` per line). Matching (``vpdq_brute_matcher.py``): both sides
are deduplicated and frames under quality 50 dropped; a query video matches when at least 80 % of its frames
are within distance 31 of some frame of the other side (and at least 0 % the other way round, the default).

Decoding is bounded: a maximum duration and number of sampled frames, a maximum frame size, and the file is
read from memory (never a path on the hostile medium, never a subprocess).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from appliance.hashing.pdq import DEFAULT_THRESHOLD, QUALITY_THRESHOLD, ImageError, hamming, pdq_batch

SECONDS_PER_HASH = 1.0
MAX_SECONDS = 3600.0
MAX_SAMPLED_FRAMES = 3600
MAX_FRAME_PIXELS = 8192 * 4320
QUERY_MATCH_PERCENT = 80.0
TARGET_MATCH_PERCENT = 0.0
_BATCH = 16


class VideoError(ImageError):
    """A video that cannot be decoded (corrupt, truncated, unsupported codec, over the limits)."""


@dataclass(frozen=True, slots=True)
class FrameHash:
    frame_number: int
    quality: int
    hash: bytes
    timestamp: float

    @property
    def hex(self) -> str:
        return self.hash.hex()

    def line(self) -> str:
        """One line of the vPDQ text format."""
        return f"{self.frame_number},{self.quality},{self.hex},{self.timestamp:.3f}"

    @classmethod
    def parse(cls, line: str) -> FrameHash:
        frame, quality, hex_, ts = line.strip().split(",")
        return cls(int(frame), int(quality), bytes.fromhex(hex_), float(ts))


def av_available() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def hash_video(data: bytes, *, seconds_per_hash: float = SECONDS_PER_HASH, max_seconds: float = MAX_SECONDS,
               max_frames: int = MAX_SAMPLED_FRAMES, xp: Any | None = None) -> list[FrameHash]:
    """Hash the first video stream's frames at one per ``seconds_per_hash`` (the first frame at or after each
    tick), up to ``max_seconds`` of video and ``max_frames`` hashes. Raises :class:`VideoError`."""
    try:
        import av
    except ImportError:
        raise VideoError("video hashing needs PyAV (the 'av' package), which is not installed") from None
    out: list[FrameHash] = []
    pending: list[tuple[int, float, np.ndarray]] = []

    def flush() -> None:
        for (number, ts, _), (h, q) in zip(pending, pdq_batch([p[2] for p in pending], xp=xp), strict=True):
            out.append(FrameHash(number, q, h.tobytes(), ts))
        pending.clear()

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise VideoError("no video stream in the file")
            stream = container.streams.video[0]
            if stream.width * stream.height > MAX_FRAME_PIXELS:
                raise VideoError(f"frames of {stream.width}×{stream.height} exceed the decoding limit")
            next_tick = 0.0
            for number, frame in enumerate(container.decode(stream)):
                ts = float(frame.time) if frame.time is not None else number / float(stream.average_rate or 30)
                if ts > max_seconds or len(out) + len(pending) >= max_frames:
                    break
                if ts + 1e-6 < next_tick:
                    continue
                next_tick = (int(ts / seconds_per_hash + 1e-6) + 1) * seconds_per_hash
                if frame.width * frame.height > MAX_FRAME_PIXELS:
                    raise VideoError(f"a frame of {frame.width}×{frame.height} exceeds the decoding limit")
                pending.append((number, ts, frame.to_ndarray(format="rgb24")))
                if len(pending) >= _BATCH:
                    flush()
            flush()
    except VideoError:
        raise
    except MemoryError:
        raise VideoError("video frames too large to decode in memory") from None
    except Exception as exc:  # PyAV raises FFmpeg errors of many types for hostile data
        raise VideoError(f"corrupt or unsupported video: {type(exc).__name__}: {exc}") from None
    if not out:
        raise VideoError("no decodable video frame")
    return out


def prepare(frames: Iterable[FrameHash], quality_threshold: int = QUALITY_THRESHOLD) -> list[FrameHash]:
    """Drop frames below the quality threshold and repeated hashes (vPDQ's dedupe + quality filter)."""
    seen: set[bytes] = set()
    kept = []
    for f in frames:
        if f.quality >= quality_threshold and f.hash not in seen:
            seen.add(f.hash)
            kept.append(f)
    return kept


def match_percentages(query: Sequence[FrameHash], target: Sequence[FrameHash], *,
                      distance: int = DEFAULT_THRESHOLD,
                      quality_threshold: int = QUALITY_THRESHOLD) -> tuple[float, float]:
    """(percent of query frames matched in target, percent of target frames matched in query)."""
    q, t = prepare(query, quality_threshold), prepare(target, quality_threshold)
    if not q or not t:
        return 0.0, 0.0
    d = np.array([[hamming(a.hash, b.hash) for b in t] for a in q])
    close = d <= distance
    return 100.0 * close.any(axis=1).sum() / len(q), 100.0 * close.any(axis=0).sum() / len(t)


def videos_match(query: Sequence[FrameHash], target: Sequence[FrameHash], *,
                 distance: int = DEFAULT_THRESHOLD, quality_threshold: int = QUALITY_THRESHOLD,
                 query_percent: float = QUERY_MATCH_PERCENT, target_percent: float = TARGET_MATCH_PERCENT) -> bool:
    """ThreatExchange's vPDQ rule with its default thresholds."""
    qp, tp = match_percentages(query, target, distance=distance, quality_threshold=quality_threshold)
    return qp >= query_percent and tp >= target_percent
