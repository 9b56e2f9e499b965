"""Video files as frame sources, through PyAV (FFmpeg).

Frames are numbered 1..N in presentation order. Opening demuxes the whole file once (no decoding) to learn the
frame count and each frame's timestamp, then decodes the first frame to prove the file is readable. Reading
forward reuses one running decoder; reading backwards seeks to the nearest keyframe before the frame and decodes
forward from there, so any order works, forward order is the cheap one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from fav_core.budget import check_decode
from fav_core.errors import InputError
from fav_core.io.source import FrameSource
from fav_core.types import Frame

log = logging.getLogger(__name__)

_AV_ERRORS: tuple[type[BaseException], ...] = (av.error.FFmpegError, OSError, ValueError)


def av_reason(exc: BaseException) -> str:
    """FFmpeg's words for a PyAV error, without its errno number and the path the message already names
    (``[Errno 1094995529] Invalid data found when processing input: '/x.mp4'`` → ``Invalid data found when
    processing input``)."""
    strerror = getattr(exc, "strerror", None)
    return str(strerror) if strerror else str(exc)


class VideoSource(FrameSource):
    """Frames of the first video stream of a file.

    Args:
        path: the video file.
        start: first frame number to use (frames are numbered 1..N; earlier ones are skipped).

    Attributes:
        fps / rate: the stream's average frame rate (float / exact fraction).
        has_alpha: the stream's pixel format has alpha (ProRes 4444, QuickTime Animation, PNG): frames carry it,
            straight (unpremultiplied) as these codecs store it.
        time_base: the stream's time base; ``timestamp(index)`` gives a frame's time in seconds.

    Raises:
        InputError: missing file, no video stream, zero frames, frames too large to decode in the available
            memory, or undecodable data (names the file).
    """

    def __init__(self, path: str | Path, *, start: int | None = None) -> None:
        p = Path(path)
        self.path = str(p)
        if not p.is_file():
            raise InputError(p, "no such file")
        pts = self._probe(p)
        n = len(pts)
        self._pts: list[int] | None = pts if all(t is not None for t in pts) else None
        all_indices = list(range(1, n + 1))
        if start is not None:
            if not 1 <= start <= n:
                raise InputError(p, f"start frame {start} is outside the video's frames 1..{n}")
            all_indices = all_indices[start - 1 :]
        self.indices = all_indices
        self.linear = False
        self._container: Any = None
        self._frames: Iterator[Any] | None = None
        self._next_index = 1  # index of the next frame the running decoder will deliver
        self._cache: dict[int, Frame] = {}
        self._count = n
        self._pts_index = {t: i + 1 for i, t in enumerate(self._pts)} if self._pts is not None else {}
        if min(self._header_size) > 0:  # a huge frame size is refused before a frame is decoded
            check_decode(p, self._header_size)
        first = self.read(self.indices[0])  # prove the data decodes before any work starts
        self.size = first.size

    # ------------------------------------------------------------------ opening
    def _probe(self, p: Path) -> list[int | None]:
        """Demux every packet once: returns the presentation timestamps of all frames, sorted."""
        try:
            with av.open(str(p)) as container:
                if not container.streams.video:
                    raise InputError(p, "has no video stream")
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate or stream.base_rate
                self.rate = Fraction(rate) if rate else None
                self.fps = float(self.rate) if self.rate else None
                self.time_base = Fraction(stream.time_base) if stream.time_base else Fraction(1, 1)
                codec = stream.codec_context
                self._header_size = (int(codec.height or 0), int(codec.width or 0))
                fmt = codec.format
                self.pixel_format = (
                    "uint16" if fmt is not None and fmt.components and fmt.components[0].bits > 8 else "uint8"
                )
                # ProRes 4444, QuickTime Animation, PNG-in-MOV ...: the alpha is carried (straight, as stored)
                self.has_alpha = fmt is not None and any(c.is_alpha for c in fmt.components)
                pts: list[int | None] = [packet.pts for packet in container.demux(stream) if packet.size > 0]
        except InputError:
            raise
        except _AV_ERRORS as exc:
            raise InputError(p, f"not a readable video: {av_reason(exc)}") from exc
        if not pts:
            raise InputError(p, "video has no frames")
        if all(t is not None for t in pts):
            return sorted(pts)  # type: ignore[arg-type]
        return pts

    def _restart(self, index: int) -> None:
        """Position the decoder so that decoding forward reaches frame ``index``."""
        if self._container is None or self._pts is None:
            self.close()
            try:
                self._container = av.open(self.path)
                self._container.streams.video[0].thread_type = "AUTO"
            except _AV_ERRORS as exc:
                raise InputError(self.path, f"not a readable video: {av_reason(exc)}") from exc
        stream = self._container.streams.video[0]
        if self._pts is not None:
            # Nearest keyframe at or before the frame; the first decoded frame's pts tells where we are.
            self._container.seek(self._pts[index - 1], stream=stream, backward=True, any_frame=False)
            self._next_index = -1
        else:
            self._next_index = 1  # no timestamps: decode from the start of a freshly opened file
        self._frames = self._container.decode(stream)

    def _to_frame(self, vf: Any, index: int) -> Frame:
        deep = self.pixel_format == "uint16"
        top = np.float32(65535.0 if deep else 255.0)
        if self.has_alpha:
            px = vf.to_ndarray(format="rgba64le" if deep else "rgba").astype(np.float32) / top
            rgb, alpha = np.ascontiguousarray(px[..., :3]), np.ascontiguousarray(px[..., 3])
        else:
            rgb, alpha = vf.to_ndarray(format="rgb48le" if deep else "rgb24").astype(np.float32) / top, None
        return Frame(index=index, rgb=rgb, alpha=alpha, source=f"{self.path} (frame {index})")

    # ------------------------------------------------------------------ reading
    def read(self, index: int) -> Frame:
        if not 1 <= index <= self._count:
            raise InputError(self.path, f"frame {index} is not in this video ({self._range_text()})")
        if index in self._cache:
            return self._cache[index]
        if self._frames is None or self._next_index < 0 or index < self._next_index:
            self._restart(index)
        assert self._frames is not None
        try:
            for vf in self._frames:
                if self._next_index < 0:
                    self._next_index = self._pts_index.get(vf.pts, -1)
                    if self._next_index < 0:
                        continue  # a frame without a known timestamp before the first keyframe
                current = self._next_index
                self._next_index += 1
                if current < index:
                    continue
                frame = self._to_frame(vf, current)
                self._cache = {k: v for k, v in self._cache.items() if k == current - 1}
                self._cache[current] = frame
                return frame
        except _AV_ERRORS as exc:
            raise InputError(self.path, f"cannot decode frame {index}: {av_reason(exc)}") from exc
        self._frames = None
        raise InputError(self.path, f"video ended before frame {index} (expected {self._count} frames)")

    def __iter__(self) -> Iterator[Frame]:
        """Frames in order, decoded sequentially."""
        for index in self.indices:
            yield self.read(index)

    def iter_frames(self) -> Iterator[Frame]:
        """Frames in order, decoded sequentially (same as iterating the source)."""
        return iter(self)

    def timestamp(self, index: int) -> float:
        """Presentation time of frame ``index`` in seconds on the file's timeline (for audio sync)."""
        if self._pts is not None:
            return float(self._pts[index - 1] * self.time_base)
        return (index - 1) / self.fps if self.fps else 0.0

    def describe(self) -> str:
        fps = f"{self.fps:.3f} fps" if self.fps else "unknown fps"
        return f"{self.path}: video, {self._range_text()}, {self.size[1]}x{self.size[0]}, {fps}, sRGB {self.pixel_format}"

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container = None
        self._frames = None
        self._cache = {}
