"""Video reading and writing through PyAV (fav_core.io.video, fav_core.io.videosink)."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from fav_core.errors import InputError, OutputError
from fav_core.io import VideoSink, VideoSource, make_sink, open_frames
from fav_core.types import Frame

H, W = 16, 24
N = 5


def content(k: int, h: int = H, w: int = W) -> np.ndarray:
    """Smooth moving colour gradients (compress well, so PSNR is meaningful)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 0.5 + 0.4 * np.sin((x + 2 * k) / 6.0)
    g = 0.5 + 0.4 * np.cos((y - k) / 5.0)
    b = np.full_like(x, 0.2 + 0.1 * k)
    return np.stack([r, g, b], -1).astype(np.float32)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


def write_clip(path: Path, rate: Fraction = Fraction(25), *, audio: bool = False, n: int = N) -> None:
    """A tiny H.264 clip written directly with PyAV (optionally with an AAC mono track)."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=rate)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.options = {"crf": "10"}
        aus = out.add_stream("aac", rate=48000, layout="mono") if audio else None
        for k in range(n):
            frame = av.VideoFrame.from_ndarray(np.rint(content(k) * 255).astype(np.uint8), format="rgb24")
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        if aus is not None:
            t = np.arange(int(48000 * n / float(rate))) / 48000.0
            for s in range(0, len(t), 1024):
                chunk = (0.3 * np.sin(2 * np.pi * 440 * t[s : s + 1024])).astype(np.float32)[None]
                af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                af.sample_rate, af.pts = 48000, s
                for p in aus.encode(af):
                    out.mux(p)
            for p in aus.encode():
                out.mux(p)


def test_sink_then_source_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    sink = VideoSink(out, Fraction(30000, 1001))
    for k in range(N):
        sink.write(Frame(index=k + 1, rgb=content(k)))
    assert not out.exists()  # only published at close
    sink.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # no temp files left
    src = open_frames(out)
    assert isinstance(src, VideoSource)
    assert src.indices == [1, 2, 3, 4, 5] and src.size == (H, W)
    assert src.rate == Fraction(30000, 1001) and src.fps == pytest.approx(29.97, abs=1e-3)
    frames = list(src.iter_frames())
    assert [f.index for f in frames] == [1, 2, 3, 4, 5]
    for k, f in enumerate(frames):
        assert f.rgb.dtype == np.float32 and f.rgb.shape == (H, W, 3) and f.alpha is None
        assert psnr(f.rgb, content(k)) > 30.0
    assert "video" in src.describe()
    src.close()


def test_random_access_matches_sequential(tmp_path: Path) -> None:
    write_clip(tmp_path / "c.mp4", n=8)
    with VideoSource(tmp_path / "c.mp4") as src:
        seq = {f.index: f.rgb for f in src}
        for i in (8, 3, 3, 1, 6, 2, 7):
            np.testing.assert_array_equal(src.read(i).rgb, seq[i])
        with pytest.raises(InputError, match="frame 9"):
            src.read(9)
    with VideoSource(tmp_path / "c.mp4", start=4) as late:
        assert late.indices == [4, 5, 6, 7, 8]
        np.testing.assert_array_equal(late.read(4).rgb, seq[4])
    with pytest.raises(InputError, match="start frame 9"):
        VideoSource(tmp_path / "c.mp4", start=9)


def test_odd_size_is_padded_to_even(tmp_path: Path) -> None:
    out = tmp_path / "odd.mp4"
    with VideoSink(out, 24) as sink:
        for k in range(3):
            sink.write(Frame(index=k + 1, rgb=content(k, 15, 23)))
    src = open_frames(out)
    assert src.size == (16, 24) and len(src) == 3
    assert psnr(src.read(2).rgb[:15, :23], content(1, 15, 23)) > 30.0


def test_audio_passes_through(tmp_path: Path) -> None:
    clip = tmp_path / "in.mp4"
    write_clip(clip, audio=True)
    src = open_frames(clip)
    out = tmp_path / "out" / "styl.mp4"
    sink = make_sink(out, like=src)
    assert isinstance(sink, VideoSink)
    for f in src:
        sink.write(f)
    sink.close()
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        assert c.streams.audio[0].codec_context.name == "aac"
        n_audio = sum(1 for p in c.demux(c.streams.audio[0]) if p.size > 0)
    assert n_audio >= 8  # 0.2 s of 48 kHz AAC in 1024-sample packets
    assert [p.name for p in out.parent.iterdir()] == ["styl.mp4"]
    back = open_frames(out)
    assert len(back) == N and back.rate == Fraction(25)


def test_audio_failure_keeps_the_video(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    not_media = tmp_path / "sound.mp4"
    not_media.write_bytes(b"\x00" * 64)
    out = tmp_path / "o.mp4"
    with caplog.at_level(logging.WARNING), VideoSink(out, 25, audio_from=not_media) as sink:
        sink.write(Frame(index=1, rgb=content(0)))
    assert "without audio" in caplog.text
    assert len(open_frames(out)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4", "sound.mp4"]


def test_bad_videos_are_input_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 10)
    with pytest.raises(InputError, match="junk.mp4"):
        open_frames(junk)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty.mp4"):
        open_frames(empty)
    with av.open(str(tmp_path / "audio_only.m4a"), "w") as out:
        aus = out.add_stream("aac", rate=48000, layout="mono")
        af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        af.sample_rate, af.pts = 48000, 0
        for p in [*aus.encode(af), *aus.encode()]:
            out.mux(p)
    with pytest.raises(InputError, match="no video stream"):
        open_frames(tmp_path / "audio_only.m4a")


@pytest.mark.parametrize(
    ("ext", "codec", "pix_fmt"), [("mkv", "ffv1", "yuv444p"), ("mp4", "libx264", "yuv420p")]
)
def test_zero_frame_video(tmp_path: Path, ext: str, codec: str, pix_fmt: str) -> None:
    path = tmp_path / f"zero.{ext}"
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=25)
        vs.width, vs.height, vs.pix_fmt = W, H, pix_fmt
        out.start_encoding()  # header only, no frames
        for p in vs.encode():
            out.mux(p)
    assert path.stat().st_size > 0
    with pytest.raises(
        InputError, match=rf"zero\.{ext}: (not a readable video|has no video stream|video has no frames)"
    ):
        VideoSource(path)


def test_sink_abort_and_no_frames_publish_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), VideoSink(tmp_path / "a.mp4", 25) as sink:
        sink.write(Frame(index=1, rgb=content(0)))
        raise RuntimeError("boom")
    VideoSink(tmp_path / "b.mp4", 25).close()
    assert list(tmp_path.iterdir()) == []


def test_sink_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="file"):
        VideoSink(blocker / "v.mp4", 25)
    with pytest.raises(OutputError, match="frame rate"):
        VideoSink(tmp_path / "v.mp4", 0)
    sink = VideoSink(tmp_path / "v.mp4", 25, codec="no-such-codec")
    with pytest.raises(OutputError, match="no-such-codec"):
        sink.write(Frame(index=1, rgb=content(0)))
    assert list(p.name for p in tmp_path.iterdir()) == ["file"]


def test_garbage_video_message_is_ffmpegs_words_once(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(InputError) as info:
        open_frames(bad)
    message = str(info.value)
    assert message.count("garbage.mp4") == 1 and "Errno" not in message, message
    assert "not a readable video: Invalid data found when processing input" in message
