"""Side-by-side comparison video: input | per-frame stylization | temporally consistent stylization.

Panels are placed left to right with a thin dark gap and a label drawn in the top-left corner of each; written
with :class:`fav_core.io.VideoSink` (H.264 via PyAV). Frames are streamed: one frame of each sequence in memory.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from fav_core.errors import ConfigError, ShapeError, check_shape
from fav_core.io import FrameSource, VideoSink
from fav_core.types import Frame

log = logging.getLogger(__name__)

GAP_PX = 4
#: Panels lower than this get no label (it would cover them).
MIN_LABEL_HEIGHT = 64


def _label(rgb: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``rgb`` with ``text`` drawn top-left (white on a dark box); no label on tiny panels."""
    out = np.ascontiguousarray(np.clip(rgb, 0.0, 1.0), dtype=np.float32).copy()
    h = out.shape[0]
    if h < MIN_LABEL_HEIGHT:
        return out
    scale = max(0.3, h / 600.0)
    thickness = max(1, round(scale * 1.5))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    cv2.rectangle(out, (0, 0), (tw + 8, th + base + 8), (0.0, 0.0, 0.0), thickness=-1)
    cv2.putText(out, text, (4, th + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (1.0, 1.0, 1.0), thickness, cv2.LINE_AA)
    return out


def side_by_side(panels: Sequence[np.ndarray], labels: Sequence[str]) -> np.ndarray:
    """Concatenate (H, W_i, 3) panels horizontally with labels and a dark gap.

    Raises:
        ShapeError: the panels differ in height.
        ConfigError: ``labels`` and ``panels`` differ in length.
    """
    if len(panels) != len(labels):
        raise ConfigError(f"{len(panels)} panels but {len(labels)} labels")
    height = check_shape(panels[0], "H W 3", "panel")["H"]
    parts: list[np.ndarray] = []
    for i, (p, text) in enumerate(zip(panels, labels, strict=True)):
        if check_shape(p, "H W 3", "panel")["H"] != height:
            raise ShapeError(f"panel {i + 1} is {p.shape[0]} px high, panel 1 is {height}")
        if i:
            parts.append(np.zeros((height, GAP_PX, 3), np.float32))
        parts.append(_label(p, text))
    return np.concatenate(parts, axis=1)


def write_comparison_video(
    path: str | Path,
    sources: Sequence[FrameSource],
    labels: Sequence[str],
    *,
    count: int | None = None,
    fps: float | Fraction | None = None,
) -> Path:
    """Write the comparison video, frame k of every source side by side (sources paired by position).

    Args:
        path: output video (.mp4/.mov/.mkv).
        sources: e.g. [input, per-frame, temporal]; all of one frame size.
        labels: one per source.
        count: number of frames (default: the shortest source).
        fps: frame rate (default: the first source's, else 24).

    Raises:
        OutputError: the video cannot be written; ShapeError: sizes differ.
    """
    if not sources:
        raise ConfigError("comparison video needs at least one sequence")
    n = min(len(s) for s in sources) if count is None else count
    rate = fps or sources[0].rate or sources[0].fps or 24
    sink = VideoSink(path, rate)
    try:
        for k in range(n):
            frames = [s.read(s.indices[k]) for s in sources]
            sink.write(Frame(index=frames[0].index, rgb=side_by_side([f.rgb for f in frames], labels)))
    except BaseException:
        sink.abort()
        raise
    sink.close()
    log.info("wrote comparison video %s (%d frames)", path, n)
    return Path(path)
