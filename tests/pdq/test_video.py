"""vPDQ: one PDQ per second of video (PyAV), the reference's matching rule, and video hits in a scan."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest

from appliance.hashing import pdq
from appliance.hashing.video import FrameHash, VideoError, hash_video, match_percentages, prepare, videos_match
from appliance.hashlist.index import LoadedList, Matcher
from appliance.hashlist.model import HashRecord, ListInfo
from appliance.scan.analyzers import PerceptualAnalyzer
from tests.pdq.conftest import textured


def _frames(n: int, w: int = 160, h: int = 120, seed: int = 0) -> list[np.ndarray]:
    """Distinct textured frames (each second of the clip looks different). Detailed enough that MPEG-4 at this
    size moves the hash by a few bits only (very smooth frames put many DCT coefficients near the median)."""
    return [np.asarray(textured(w, h, seed=seed * 100 + i, detail=24)) for i in range(n)]


def make_video(seconds: int, fps: int = 10, seed: int = 0, fmt: str = "mp4",
               codec: str = "mpeg4") -> tuple[bytes, list[np.ndarray]]:
    """A clip that shows one still per second (so sampled frames are known)."""
    stills = _frames(seconds, seed=seed)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.options = {"qscale": "2"} if codec == "mpeg4" else {"crf": "10", "b": "2M"}
        for i in range(seconds * fps):
            frame = av.VideoFrame.from_ndarray(stills[i // fps], format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue(), stills


def test_one_frame_per_second_close_to_the_source_stills() -> None:
    data, stills = make_video(4)
    frames = hash_video(data, xp=np)
    assert [f.frame_number for f in frames] == [0, 10, 20, 30]
    assert [round(f.timestamp, 3) for f in frames] == [0.0, 1.0, 2.0, 3.0]
    for f, still in zip(frames, stills, strict=True):
        assert pdq.hamming(f.hash, pdq.pdq_from_rgb(still, xp=np).hash) <= 16
        assert f.quality >= 50
    assert FrameHash.parse(frames[1].line()) == FrameHash(10, frames[1].quality, frames[1].hash, 1.0)


def test_duration_and_frame_limits_bound_the_work() -> None:
    data, _ = make_video(4)
    assert len(hash_video(data, xp=np, max_seconds=1.5)) == 2
    assert len(hash_video(data, xp=np, max_frames=1)) == 1
    assert len(hash_video(data, xp=np, seconds_per_hash=2.0)) == 2


def test_corrupt_and_truncated_videos_are_errors() -> None:
    data, _ = make_video(2)
    with pytest.raises(VideoError):
        hash_video(data[: len(data) // 4], xp=np)
    with pytest.raises(VideoError):
        hash_video(b"\x00\x00\x00\x18ftypmp42" + bytes(500), xp=np)
    analyzer = PerceptualAnalyzer(Matcher([]))
    extra, hits = analyzer.analyze(b"\x1aE\xdf\xa3" + bytes(100), "video/x-matroska")
    assert "pdq_error" in extra and hits == []


def test_reference_sample_video_frames_agree_with_published_vpdq(pdq_data: Path) -> None:
    """Frame hashes from PyAV's decode vs the reference vPDQ output for the same frame numbers: a different
    decoder and scaler, so a few bits apart; by the vPDQ rule every sample video matches its reference hash."""
    close = total = 0
    for name in ("pattern-sd-grey-bar", "chair-19-sd-bar"):
        ref = [FrameHash.parse(line) for line in (pdq_data / f"videos/{name}.vpdq.txt").read_text().splitlines()]
        by_number = {f.frame_number: f for f in ref}
        ours = hash_video((pdq_data / f"videos/{name}.mp4").read_bytes(), xp=np)
        assert len(ours) == int(ref[-1].timestamp) + 1
        for f in ours:
            total += 1
            close += pdq.hamming(f.hash, by_number[f.frame_number].hash) <= 8
            assert f.quality == by_number[f.frame_number].quality
        assert videos_match(ours, ref)
    assert close / total >= 0.9


def test_matching_rule_dedupes_filters_quality_and_needs_80_percent() -> None:
    rng = np.random.default_rng(5)
    hashes = [rng.integers(0, 256, 32, dtype=np.uint8).tobytes() for _ in range(10)]
    target = [FrameHash(i, 100, h, float(i)) for i, h in enumerate(hashes)]
    query = [*target[:8], FrameHash(8, 100, bytes(32), 8.0), FrameHash(9, 100, bytes(32), 9.0)]  # 8 of 9
    assert match_percentages(query, target) == (pytest.approx(800 / 9), 80.0)
    assert videos_match(query, target)
    low = [FrameHash(i, 10, f.hash, f.timestamp) for i, f in enumerate(query[:7])]
    assert prepare(low + query[7:]) == query[7:9]  # low quality dropped, duplicate zero hash removed once
    assert not videos_match(low + query[7:], target)


def test_scanned_video_is_a_hit_against_a_list_of_its_frames(pdq_data: Path) -> None:
    name = "pattern-sd-grey-bar"
    ref = [FrameHash.parse(line) for line in (pdq_data / f"videos/{name}.vpdq.txt").read_text().splitlines()]
    lst = LoadedList.from_records(ListInfo("video-list"), [HashRecord("pdq", f.hash, "series-v") for f in ref])
    analyzer = PerceptualAnalyzer(Matcher([lst]))
    assert analyzer.wants("video/mp4", 5 << 20)
    extra, hits = analyzer.analyze((pdq_data / f"videos/{name}.mp4").read_bytes(), "video/mp4")
    assert extra["vpdq_frames"] == 7 and len(extra["vpdq"]) == 7
    assert extra["vpdq_match_percent"] == {"video-list": 100.0}
    assert [(m.algorithm, m.label, m.list.name) for m, _d in hits] == [("vpdq", "series-v", "video-list")]
    assert 0 <= hits[0][1] <= 31
    other, _ = make_video(3, seed=9)
    extra, hits = analyzer.analyze(other, "video/mp4")
    assert hits == [] and extra["vpdq_frames"] == 3


@pytest.mark.parametrize(("fmt", "codec", "mime"), [("matroska", "mpeg4", "video/x-matroska"),
                                                    ("avi", "mpeg4", "video/x-msvideo"),
                                                    ("mov", "mpeg4", "video/quicktime"),
                                                    ("webm", "libvpx", "video/webm")])
def test_other_containers_are_sniffed_and_hashed(fmt: str, codec: str, mime: str) -> None:
    from appliance.hashing.filetype import sniff

    if codec not in av.codecs_available:
        pytest.skip(f"this FFmpeg build has no {codec} encoder to make a test clip")
    data, stills = make_video(2, fmt=fmt, codec=codec)
    assert sniff(data[:64]) == mime
    frames = hash_video(data, xp=np)
    assert len(frames) == 2
    assert pdq.hamming(frames[0].hash, pdq.pdq_from_rgb(stills[0], xp=np).hash) <= 16
