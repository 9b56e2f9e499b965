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
