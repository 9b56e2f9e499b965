"""Video output of frames with alpha: composited over black, with one warning (H.264 has no alpha)."""
from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
import pytest

from fav_core.io import VideoSink
from fav_core.types import Frame


def test_frames_with_alpha_are_composited_over_black(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    alpha = np.zeros((16, 32), np.float32)
    alpha[:, 16:] = 1.0
    sink = VideoSink(tmp_path / "v.mp4", 24)
    with caplog.at_level(logging.WARNING, logger="fav_core.io.videosink"):
        for i in (1, 2):
            sink.write(Frame(i, np.full((16, 32, 3), 0.8, np.float32), alpha))
        sink.close()
    warnings = [r for r in caplog.records if "no alpha" in r.getMessage()]
    assert len(warnings) == 1 and "composited over black" in warnings[0].getMessage()
    with av.open(str(tmp_path / "v.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24").astype(np.float32) for f in c.decode(video=0)]
    assert len(frames) == 2
    left, right = frames[0][:, 2:12], frames[0][:, 20:30]  # away from the edge (chroma is subsampled)
    assert left.max() <= 4.0  # transparent: black, not the colour under it
    assert abs(right.mean() - 204.0) <= 3.0  # opaque: the colour


def test_frames_without_alpha_are_unchanged_and_silent(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sink = VideoSink(tmp_path / "v.mp4", 24)
    with caplog.at_level(logging.WARNING, logger="fav_core.io.videosink"):
        sink.write(Frame(1, np.full((16, 32, 3), 0.8, np.float32)))
        sink.close()
    assert not caplog.records
    with av.open(str(tmp_path / "v.mp4")) as c:
        rgb = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(np.float32)
    assert abs(rgb.mean() - 204.0) <= 3.0


def _rgba_video(path: Path, codec: str, pix_fmt: str, alpha: np.ndarray, n: int = 2) -> None:
    h, w = alpha.shape
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=24)
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        for i in range(n):
            px = np.zeros((h, w, 4), np.uint8)
            px[..., :3] = 40 * (i + 1)
            px[..., 3] = alpha
            for packet in s.encode(av.VideoFrame.from_ndarray(px, format="rgba")):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)


@pytest.mark.parametrize(("codec", "pix_fmt", "bits"), [("png", "rgba", 8), ("qtrle", "argb", 8),
                                                         ("prores_ks", "yuva444p10le", 16)])
def test_video_input_with_alpha_carries_it(tmp_path: Path, codec: str, pix_fmt: str, bits: int) -> None:
    from fav_core.io import open_frames

    alpha = np.tile(np.array([0, 64, 128, 255] * 4, np.uint8), (8, 1))
    _rgba_video(tmp_path / "a.mov", codec, pix_fmt, alpha)
    src = open_frames(tmp_path / "a.mov")
    frame = src.read(2)
    assert frame.alpha is not None and frame.alpha.shape == (8, 16) and frame.alpha.dtype == np.float32
    assert src.pixel_format == ("uint16" if bits == 16 else "uint8")
    tol = 0.5 / 255 if bits == 8 else 2.0 / 255  # ProRes: 10-bit, lossy
    np.testing.assert_allclose(frame.alpha, alpha / 255.0, atol=tol)
    if bits == 8:
        np.testing.assert_allclose(frame.rgb, 80 / 255.0, atol=0.5 / 255)  # straight colour, as stored


def test_video_input_without_alpha_has_none(tmp_path: Path) -> None:
    from fav_core.io import open_frames

    sink = VideoSink(tmp_path / "v.mp4", 24)
    sink.write(Frame(1, np.full((16, 32, 3), 0.5, np.float32)))
    sink.close()
    assert open_frames(tmp_path / "v.mp4").read(1).alpha is None


def test_semi_transparent_pixels_are_composited_in_linear_light(tmp_path: Path) -> None:
    from fav_core.io.color import linear_to_srgb, srgb_to_linear

    alpha = np.full((16, 32), 0.5, np.float32)
    sink = VideoSink(tmp_path / "v.mp4", 24)
    sink.write(Frame(1, np.full((16, 32, 3), 0.8, np.float32), alpha))
    sink.close()
    with av.open(str(tmp_path / "v.mp4")) as c:
        rgb = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(np.float32)
    expected = 255.0 * float(linear_to_srgb(np.float32(0.5) * srgb_to_linear(np.float32(0.8))))  # about 150
    assert abs(rgb.mean() - expected) <= 3.0, (rgb.mean(), expected)  # not 0.8 * 0.5 * 255 = 102 (encoded "over")
