"""Extra per-file analyses a scan runs beside the digests: PDQ for images, vPDQ for videos.

Owned by the perceptual-hashing work. ``algorithms`` is what the user asked for with ``--algorithms``.

What a scanned image gets in its ``extra``: ``pdq`` (64 hex) and ``pdq_quality``; below quality 50 also
``pdq_low_quality: true`` and it is never reported as a perceptual hit. A video gets ``vpdq_frames`` (how many
sampled frames) and ``vpdq`` (the frame features in vPDQ text form, capped). A file that cannot be decoded gets
``pdq_error`` with the reason; the scan goes on. Hits carry the file's own PDQ hash (never the listed value)
and the Hamming distance.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from appliance.hashing.filetype import is_video
from appliance.hashlist.index import LoadedList, Match, Matcher

if TYPE_CHECKING:  # decoders (Pillow plugins, PyAV) load only when a scan needs them
    from appliance.hashing.pdq import BatchHasher
    from appliance.scan.job import Analyzer

#: Files larger than this are not read into memory for perceptual hashing (digests, including the whole-file
#: MD5 that HMA matches videos by, still cover them). Each scan worker may hold one such file at a time.
MAX_IMAGE_BYTES = 128 << 20
MAX_VIDEO_BYTES = 256 << 20
#: Frame features kept in a video's ``extra`` (all of them are used for matching).
MAX_STORED_FRAMES = 120


class PerceptualAnalyzer:
    """PDQ (images, all 8 dihedral variants matched) and vPDQ (videos) against every list holding PDQ entries."""

    name = "pdq"

    def __init__(self, matcher: Matcher, *, thresholds: Mapping[str, int] | None = None, exact: bool = True,
                 videos: bool = True, xp: Any | None = None, batcher: BatchHasher | None = None) -> None:
        from appliance.hashing.images import supported_types
        from appliance.hashing.video import av_available

        self.lists = [lst for lst in matcher.lists if lst.pdq is not None and len(lst.pdq)]
        self.thresholds = dict(thresholds or {})
        self.exact = exact
        self.videos = videos and av_available()
        self.xp = xp
        self.batcher = batcher
        self._image_types = supported_types()

    def wants(self, file_type: str | None, size: int) -> bool:
        if file_type in self._image_types:
            return size <= MAX_IMAGE_BYTES
        return self.videos and is_video(file_type) and size <= MAX_VIDEO_BYTES

    def analyze(self, data: bytes, file_type: str | None) -> tuple[dict[str, Any], list[tuple[Match, int]]]:
        from appliance.hashing.pdq import ImageError

        try:
            if is_video(file_type):
                return self._video(data)
            return self._image(data)
        except ImageError as exc:
            return {"pdq_error": str(exc)}, []

    # -- images ------------------------------------------------------------------------------------------------
    def _image(self, data: bytes) -> tuple[dict[str, Any], list[tuple[Match, int]]]:
        from appliance.hashing.pdq import QUALITY_THRESHOLD, PdqHash, decode_luma, dihedral_hashes

        if self.batcher is not None:  # decode here (this worker thread), hash with other workers' images
            luma, full_size = decode_luma(data, exact=self.exact)
            hashes, quality = self.batcher.hash(luma, dihedral=True, full_size=full_size)
            variants = [PdqHash(h.tobytes(), quality) for h in hashes]
        else:
            variants = dihedral_hashes(data, xp=self.xp, exact=self.exact)
        own = variants[0]
        extra: dict[str, Any] = {"pdq": own.hex, "pdq_quality": own.quality}
        if not self.exact:
            extra["pdq_fast"] = True
        if own.quality < QUALITY_THRESHOLD:
            extra["pdq_low_quality"] = True
            return extra, []
        queries = np.frombuffer(b"".join(v.hash for v in variants), dtype=np.uint8).reshape(-1, 32)
        found: list[tuple[Match, int]] = []
        for lst in self.lists:
            if lst.is_suppressed("pdq", own.hash):  # this image's hash was marked a false positive
                continue
            for label, dist in self._best_per_label(lst, queries).items():
                found.append((Match(lst.info, "pdq", own.hash, label), dist))
        return extra, found

    def _best_per_label(self, lst: LoadedList, queries: np.ndarray) -> dict[str | None, int]:
        best: dict[str | None, int] = {}
        for _q, entry, dist in lst.pdq.search(queries, self.thresholds.get(lst.info.name)):
            label = lst.labels[int(lst.pdq.payload[entry])]
            if label not in best or dist < best[label]:
                best[label] = dist
        return best

    # -- videos ------------------------------------------------------------------------------------------------
    def _video(self, data: bytes) -> tuple[dict[str, Any], list[tuple[Match, int]]]:
        from appliance.hashing.video import QUERY_MATCH_PERCENT, hash_video, prepare

        frames = hash_video(data, xp=self.xp)
        extra: dict[str, Any] = {"vpdq_frames": len(frames),
                                 "vpdq": [f.line() for f in frames[:MAX_STORED_FRAMES]]}
        usable = prepare(frames)
        if not usable:
            extra["pdq_low_quality"] = True
            return extra, []
        queries = np.frombuffer(b"".join(f.hash for f in usable), dtype=np.uint8).reshape(-1, 32)
        found: list[tuple[Match, int]] = []
        for lst in self.lists:
            results = lst.pdq.search(queries, self.thresholds.get(lst.info.name))
            per_frame: dict[int, tuple[int, str | None]] = {}
            for q, entry, dist in results:  # sorted by query then distance: the first is each frame's best
                per_frame.setdefault(q, (dist, lst.labels[int(lst.pdq.payload[entry])]))
            percent = 100.0 * len(per_frame) / len(usable)
            if per_frame:
                extra.setdefault("vpdq_match_percent", {})[lst.info.name] = round(percent, 1)
            if percent >= QUERY_MATCH_PERCENT:
                labels = [label for _d, label in per_frame.values()]
                label = max(set(labels), key=labels.count)
                distance = int(np.median([d for d, _l in per_frame.values()]))
                found.append((Match(lst.info, "vpdq", usable[0].hash, label), distance))
        return extra, found


def analyzers_for(matcher: Matcher, algorithms: Sequence[str]) -> list[Analyzer]:
    """The perceptual analyzer when a list holds PDQ entries or ``pdq`` was asked for, else none.

    ``$GAPSCAN_PDQ_PATH=fast`` selects the fast path (reduced JPEG decode, within a few bits of the reference
    hash, several times quicker); the default is the reference-exact path. Fast-path hashes are marked
    ``pdq_fast: true`` in the file's extra."""
    wanted = "pdq" in {a.strip().lower() for a in algorithms}
    if wanted or any(lst.pdq is not None and len(lst.pdq) for lst in matcher.lists):
        from appliance.hashing.pdq import BatchHasher
        from firmware.accel import probe

        backend = probe()
        # On a GPU, batching across the scan's worker threads is what keeps the device busy; on the CPU each
        # worker hashes its own image (already parallel), so no batching thread is needed.
        exact = os.environ.get("GAPSCAN_PDQ_PATH", "exact") != "fast"
        batcher = BatchHasher(backend.xp, exact=exact) if backend.name == "cupy" else None
        return [PerceptualAnalyzer(matcher, xp=backend.xp, batcher=batcher, exact=exact)]
    return []
