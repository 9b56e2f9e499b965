"""Video output through PyAV: H.264 (yuv420p) MP4/MOV/MKV, audio copied from the source video.

The video is encoded into a hidden temp file next to the destination and renamed into place at ``close()``, so
the destination is either absent or a whole, playable file. Audio is remuxed (stream copy, no re-encoding) from
``audio_from`` in a second pass; if the container refuses it, a warning is logged and the video is kept silent.
"""

from __future__ import annotations

import contextlib
import logging
import os
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np

from fav_core.errors import Cancelled, OutputError, ShapeError, check_shape
from fav_core.io.atomic import TEMP_MARKER, create_temp, describe_oserror
from fav_core.io.color import linear_to_srgb, premultiply, srgb_to_linear
from fav_core.io.video import av_reason
from fav_core.types import Frame

log = logging.getLogger(__name__)

_AV_ERRORS: tuple[type[BaseException], ...] = (av.error.FFmpegError, OSError, ValueError)
_CRF_CODECS = ("libx264", "libx265", "h264", "hevc")


def _even_pad(rgb: np.ndarray) -> np.ndarray:
    """Pad (H, W, 3) on the right/bottom by edge replication to even H and W (yuv420p needs even sizes)."""
    h, w = rgb.shape[:2]
    ph, pw = h % 2, w % 2
    if not (ph or pw):
        return rgb
    return np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="edge")


def _temp_name(final: Path) -> Path:
    return create_temp(final.parent, f".{final.stem}{TEMP_MARKER}", final.suffix)


def mux_audio(
    video: Path, audio_from: Path, out: Path, *, start: float = 0.0, duration: float | None = None
) -> bool:
    """Remux ``video`` plus the first audio stream of ``audio_from`` into ``out`` (stream copy).

    Audio packets whose time on ``audio_from``'s timeline lies in ``[start, start + duration)`` seconds are copied
    and shifted by ``start`` (``start`` = the time of the first written frame in that file, so A/V sync is kept),
    interleaved with the video packets by time.

    Returns:
        False when ``audio_from`` has no audio stream (nothing written), True when ``out`` was written.

    Raises:
        av.error.FFmpegError / OSError / ValueError: the container cannot hold the stream, or I/O failed.
    """
    with av.open(str(audio_from)) as ain:
        if not ain.streams.audio:
            return False
        with av.open(str(video)) as vin, av.open(str(out), "w") as dst:
            a_in = ain.streams.audio[0]
            v_in = vin.streams.video[0]
            v_out = dst.add_stream_from_template(v_in)
            a_out = dst.add_stream_from_template(a_in)
            a_tb = a_in.time_base or Fraction(1, 1)
            offset = round(Fraction(start) / a_tb)
            end = None if duration is None else offset + Fraction(duration) / a_tb
            audio = []
            for pkt in ain.demux(a_in):
                if pkt.pts is None or pkt.dts is None:
                    continue
                if pkt.pts < offset or (end is not None and pkt.pts >= end):
                    continue
                pkt.pts -= offset
                pkt.dts -= offset
                audio.append(pkt)
            v_tb = v_in.time_base or Fraction(1, 1)
            a = 0
            for pkt in vin.demux(v_in):
                if pkt.dts is None:
                    continue
                t = pkt.dts * v_tb
                while a < len(audio) and audio[a].dts * a_tb <= t:
                    audio[a].stream = a_out
                    dst.mux(audio[a])
                    a += 1
                pkt.stream = v_out
                dst.mux(pkt)
            for pkt in audio[a:]:
                pkt.stream = a_out
                dst.mux(pkt)
    return True


class VideoSink:
    """Encodes frames into a video file (frames must arrive in order; sizes must match).

    Args:
        path: destination (.mp4, .mov, .mkv).
        fps: frame rate (a Fraction such as 30000/1001 is kept exactly).
        codec: FFmpeg encoder name (default libx264).
        crf: constant rate factor for x264/x265 (lower = better; 18 is visually near-lossless).
        audio_from: a media file whose first audio stream is copied into the output (usually the source video).
        audio_start: time (seconds, on ``audio_from``'s timeline) of the first written frame; audio before it is
            dropped and the rest shifted to match (``VideoSource.timestamp(first_index)``).

    Raises:
        OutputError: the folder cannot be created or written, or encoding fails (names the path).
    """

    def __init__(
        self,
        path: str | Path,
        fps: float | Fraction,
        codec: str = "libx264",
        crf: int = 18,
        audio_from: str | Path | None = None,
        *,
        audio_start: float = 0.0,
    ) -> None:
        self.path = Path(path)
        if not fps or fps <= 0:
            raise OutputError(self.path, f"frame rate must be positive, got {fps}")
        self.rate = Fraction(fps).limit_denominator(1001000) if not isinstance(fps, Fraction) else fps
        self.codec = codec
        self.crf = crf
        self.audio_from = Path(audio_from) if audio_from is not None else None
        self.audio_start = audio_start
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                self.path.parent, f"cannot create the output folder: {exc.strerror or exc}"
            ) from exc
        try:  # a folder the video cannot be written to is refused now, not after the first frame is stylized
            _temp_name(self.path).unlink()
        except OSError as exc:
            raise OutputError(self.path, f"cannot create a file in {self.path.parent}: {describe_oserror(exc)}") from exc
        self._tmp: Path | None = None
        self._container: Any = None
        self._stream: Any = None
        self._size: tuple[int, int] | None = None
        self._count = 0
        self._closed = False
        self._warned_alpha = False

    def exists(self, index: int) -> bool:
        """Always False: a video cannot be resumed frame by frame."""
        return False

    def _open(self, h: int, w: int) -> None:
        try:
            self._tmp = _temp_name(self.path)
        except OSError as exc:
            raise OutputError(self.path, f"cannot create a file in {self.path.parent}: {describe_oserror(exc)}") from exc
        try:
            self._container = av.open(str(self._tmp), "w")
            stream = self._container.add_stream(self.codec, rate=self.rate)
            stream.width, stream.height = w + w % 2, h + h % 2
            stream.pix_fmt = "yuv420p"
            if self.codec in _CRF_CODECS:
                stream.options = {"crf": str(self.crf)}
            self._stream = stream
        except _AV_ERRORS as exc:
            self._cleanup()
            raise OutputError(self.path, f"cannot start the video ({self.codec}): {av_reason(exc)}") from exc
        if h % 2 or w % 2:
            log.info("%s: %dx%d padded to even size %dx%d for yuv420p", self.path, w, h, w + w % 2, h + h % 2)
        self._size = (h, w)

    def write(self, frame: Frame) -> None:
        """Encode one frame (clamped to [0, 1], 8-bit).

        H.264 has no alpha: a frame with alpha is composited over black in linear light (decode, premultiply,
        encode), as a compositor's "over" shows the source, instead of showing the colour the network painted
        where the frame is transparent (a warning says so once).
        """
        if self._closed:
            raise OutputError(self.path, "write after the video was closed")
        dims = check_shape(frame.rgb, "H W 3", "frame.rgb")
        h, w = dims["H"], dims["W"]
        if self._size is None:
            self._open(h, w)
        elif self._size != (h, w):
            raise ShapeError(
                f"{self.path}: frame {frame.index} is {w}x{h}, the video is {self._size[1]}x{self._size[0]}"
            )
        rgb = np.clip(frame.rgb, 0.0, 1.0)
        if frame.alpha is not None:
            check_shape(frame.alpha, f"{h} {w}", "frame.alpha")
            if not self._warned_alpha:
                log.warning("%s: video has no alpha; frames are composited over black (write an EXR or PNG "
                            "sequence to keep the alpha)", self.path)
                self._warned_alpha = True
            rgb = linear_to_srgb(premultiply(srgb_to_linear(rgb), np.clip(frame.alpha, 0.0, 1.0)))
        rgb8 = np.rint(rgb * 255.0).astype(np.uint8)
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(_even_pad(rgb8)), format="rgb24")
        vf.pts = self._count
        vf.time_base = 1 / self.rate
        try:
            for packet in self._stream.encode(vf):
                self._container.mux(packet)
        except _AV_ERRORS as exc:
            self._cleanup()
            raise OutputError(self.path, f"cannot encode frame {frame.index}: {av_reason(exc)}") from exc
        self._count += 1

    def close(self) -> None:
        """Flush the encoder, add the audio, and move the finished file into place (no frames: no file)."""
        if self._closed:
            return
        self._closed = True
        if self._container is None:
            log.warning("%s: no frames were written; no video created", self.path)
            return
        assert self._tmp is not None
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._container = None
            final_tmp = self._with_audio(self._tmp)
            try:
                os.replace(final_tmp, self.path)
            finally:
                if final_tmp != self._tmp:
                    with contextlib.suppress(FileNotFoundError):
                        final_tmp.unlink()
        except _AV_ERRORS as exc:
            raise OutputError(self.path, f"cannot finish the video: {av_reason(exc)}") from exc
        finally:
            self._cleanup()

    def _with_audio(self, video: Path) -> Path:
        """The temp file to publish: ``video`` remuxed with audio, or ``video`` itself when that fails."""
        if self.audio_from is None:
            return video
        muxed = _temp_name(self.path)
        try:
            if mux_audio(
                video, self.audio_from, muxed, start=self.audio_start, duration=self._count / float(self.rate)
            ):
                video.unlink()
                return muxed
            log.info("%s: %s has no audio stream", self.path, self.audio_from)
        except _AV_ERRORS as exc:
            log.warning(
                "%s: audio from %s could not be copied (%s); writing the video without audio",
                self.path,
                self.audio_from,
                exc,
            )
        with contextlib.suppress(FileNotFoundError):
            muxed.unlink()
        return video

    def abort(self) -> None:
        """Stop without publishing anything: the temp file is removed and the destination is left alone."""
        self._closed = True
        self._cleanup()

    def _cleanup(self) -> None:
        if self._container is not None:
            with contextlib.suppress(*_AV_ERRORS):
                self._container.close()
            self._container = None
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()
            self._tmp = None

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Normal exit or Cancelled: publish the frames written so far; any other error: publish nothing."""
        if exc_type is None or issubclass(exc_type, Cancelled):
            self.close()
        else:
            self.abort()
