"""Frame writers: image sequences (every file written atomically) and videos (PyAV, renamed at close).

Frames arrive sRGB-encoded and unpremultiplied (the core convention). Image sinks clamp to [0, 1] only when
quantising to 8/16-bit (the caller's arrays are never modified); EXR output is float, scene-linear (converted
back from the sRGB encoding unless the source was a float image read as sRGB, see :func:`exr_linear`), and
re-premultiplied when there is alpha.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Protocol, runtime_checkable

import numpy as np
import OpenImageIO as oiio

from fav_core.errors import ConfigError, OutputError, check_shape
from fav_core.io.atomic import atomic_write
from fav_core.io.color import premultiply, srgb_to_linear
from fav_core.io.exr import write_exr
from fav_core.io.pattern import FramePattern, parse_pattern
from fav_core.io.source import FrameSource
from fav_core.io.videosink import VideoSink
from fav_core.types import Frame

log = logging.getLogger(__name__)

IMAGE_OUT_EXTENSIONS = ("png", "exr", "tif", "tiff", "jpg", "jpeg")
VIDEO_OUT_EXTENSIONS = ("mp4", "mov", "mkv")
#: Media types that cannot be written: an output ending in one is refused, not taken as a folder name.
UNWRITABLE_EXTENSIONS = frozenset({
    "avi", "webm", "gif", "m4v", "mpg", "mpeg", "wmv", "flv", "ogv", "mxf", "apng",
    "bmp", "ppm", "pgm", "pnm", "tga", "webp", "hdr", "dpx", "cin", "sgi", "psd", "heic", "jp2",
})
DEFAULT_NAME = "frame_%05d"


@runtime_checkable
class FrameSink(Protocol):
    """Where stylized frames go."""

    def write(self, frame: Frame) -> None:
        """Write one frame (its ``index`` decides where)."""

    def close(self) -> None:
        """Finish: flush and move the output into place."""

    def exists(self, index: int) -> bool:
        """True when frame ``index`` is already completely written (used to resume)."""


def _quantise(x: np.ndarray, bits: int) -> np.ndarray:
    """[0, 1] float -> uint8/uint16 with clamping and rounding to nearest (new array)."""
    top = 255.0 if bits == 8 else 65535.0
    q = np.rint(np.clip(x, 0.0, 1.0) * top)
    return q.astype(np.uint8 if bits == 8 else np.uint16)


def _write_integer_image(path: Path, final: Path, data: np.ndarray, bits: int, has_alpha: bool) -> None:
    """Write (H, W, C) uint8/uint16 pixels with OIIO (alpha stored unassociated, as PNG/TIFF expect)."""
    h, w, c = data.shape
    spec = oiio.ImageSpec(w, h, c, oiio.UINT8 if bits == 8 else oiio.UINT16)
    if has_alpha:
        spec.alpha_channel = 3
        spec.attribute("oiio:UnassociatedAlpha", 1)
    out = oiio.ImageOutput.create(str(path))
    if out is None:
        raise OutputError(final, f"cannot create image writer: {oiio.geterror()}")
    try:
        if not out.open(str(path), spec) or not out.write_image(np.ascontiguousarray(data)):
            raise OutputError(final, f"cannot write image: {out.geterror()}")
    finally:
        out.close()


class ImageSequenceSink:
    """Writes one image file per frame; each file appears atomically (temp file + ``os.replace``).

    Args:
        target: a pattern (``out/frame_%05d.png``, ``out/shot_####.exr``), a folder (files are named
            ``frame_%05d.<ext>``), or with ``single=True`` one file that every frame overwrites.
        ext: file type for a folder target ("png", "exr", "tif", "jpg"); taken from the pattern otherwise.
        root: the chosen output folder; relative targets are taken inside it and no output path may leave it.
            Default: the target's own folder.
        bits: 8 or 16 for PNG/TIFF (JPEG is always 8).
        linear: the source was scene-linear: EXR output is converted back from sRGB encoding to linear.
        half: EXR output as 16-bit half floats.
        single: ``target`` is one file without a frame placeholder.

    Raises:
        ConfigError: unsupported extension or bits.
        OutputError: the target leaves ``root`` (``../`` escapes) or the folder cannot be created.
    """

    def __init__(
        self,
        target: str | Path,
        ext: str | None = None,
        *,
        root: str | Path | None = None,
        bits: int = 8,
        linear: bool = False,
        half: bool = False,
        single: bool = False,
    ) -> None:
        text = str(target)
        if root is not None and not Path(text).is_absolute():
            text = str(Path(root) / text)
        pattern = parse_pattern(text)
        if pattern is None and not single:
            ext_ = (ext or "png").lower().lstrip(".")
            pattern = parse_pattern(str(Path(text) / f"{DEFAULT_NAME}.{ext_}"))
        elif pattern is None:
            pattern = FramePattern(text=text, prefix=text, suffix="", width=0)
        assert pattern is not None
        self._pattern = pattern
        self._single = single
        self.folder = Path(os.path.dirname(self._format_unchecked(1)) or ".")
        self.root = Path(root) if root is not None else self.folder
        suffix = Path(self._format_unchecked(1)).suffix.lower().lstrip(".")
        if suffix not in IMAGE_OUT_EXTENSIONS:
            raise ConfigError(
                f"{text}: cannot write .{suffix} images (use one of {', '.join(IMAGE_OUT_EXTENSIONS)})"
            )
        self.ext = suffix
        if bits not in (8, 16) or (bits == 16 and suffix in ("jpg", "jpeg")):
            raise ConfigError(f"{text}: {bits}-bit output is not supported for .{suffix}")
        self.bits = bits
        self.linear = linear
        self.half = half
        self._root_resolved = self.root.resolve()
        self._check_inside(Path(self._format_unchecked(1)))
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(self.folder, f"cannot create the output folder: {exc.strerror or exc}") from exc
        self._warned_alpha = False
        self._closed = False

    @property
    def pattern(self) -> str:
        """The output pattern (or the single file)."""
        return self._pattern.text

    def _format_unchecked(self, index: int) -> str:
        return self._pattern.text if self._single else self._pattern.format(index)

    def _check_inside(self, path: Path) -> None:
        resolved = path.resolve()
        if not resolved.is_relative_to(self._root_resolved) or resolved == self._root_resolved:
            raise OutputError(path, f"output path leaves the output folder {self.root}")

    def path(self, index: int) -> Path:
        """The file frame ``index`` is written to (checked to stay inside the output folder)."""
        p = Path(self._format_unchecked(index))
        self._check_inside(p)
        return p

    def exists(self, index: int) -> bool:
        return self.path(index).is_file()

    def existing_indices(self) -> list[int]:
        """Frame numbers whose files are already in the output folder (sorted; [] for a single-file sink)."""
        if self._single or not self.folder.is_dir():
            return []
        found = (self._pattern.match_name(p.name) for p in self.folder.iterdir() if not p.name.startswith("."))
        return sorted(i for i in found if i is not None)

    def write(self, frame: Frame) -> None:
        """Write ``frame`` atomically to ``path(frame.index)``.

        Raises:
            OutputError: unwritable folder, disk full (the temp file is removed), or writing after close.
        """
        final = self.path(frame.index)
        if self._closed:
            raise OutputError(final, "write after the sink was closed")
        check_shape(frame.rgb, "H W 3", "frame.rgb")
        alpha = frame.alpha
        if alpha is not None:
            check_shape(alpha, f"{frame.rgb.shape[0]} {frame.rgb.shape[1]}", "frame.alpha")
        if self.ext == "exr":
            rgb = srgb_to_linear(frame.rgb) if self.linear else np.asarray(frame.rgb, dtype=np.float32)
            if alpha is not None:
                rgb = premultiply(rgb, alpha)
            write_exr(final, rgb, alpha, half=self.half)
            return
        planes = [np.asarray(frame.rgb, dtype=np.float32)]
        keep_alpha = alpha is not None and self.ext not in ("jpg", "jpeg")
        if alpha is not None and not keep_alpha and not self._warned_alpha:
            log.warning("%s: JPEG has no alpha; alpha is dropped", final)
            self._warned_alpha = True
        if keep_alpha:
            assert alpha is not None
            planes.append(np.asarray(alpha, dtype=np.float32)[..., None])
        data = _quantise(np.concatenate(planes, axis=-1), self.bits)
        atomic_write(final, lambda tmp: _write_integer_image(tmp, final, data, self.bits, keep_alpha))

    def close(self) -> None:
        """Nothing is pending (every write is complete); later writes are refused."""
        self._closed = True

    def __enter__(self) -> ImageSequenceSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def exr_linear(like: FrameSource) -> bool:
    """Whether EXR output of frames from ``like`` is converted to scene-linear (the EXR convention).

    Yes when the source was scene-linear, and for integer sources (PNG, JPEG, 8/16-bit TIFF, video): their
    sRGB-encoded values written into an EXR as they are would be taken as linear by every compositor (a
    washed-out, doubly encoded image). Only a float source read as sRGB (``colorspace="srgb"``) keeps its
    encoding, so that its round trip stays the identity.
    """
    return bool(like.linear) or like.pixel_format in ("uint8", "uint16")


def make_sink(
    output: str | Path,
    *,
    like: FrameSource,
    root: str | Path | None = None,
    fps: float | Fraction | None = None,
    bits: int | None = None,
    half: bool | None = None,
) -> FrameSink:
    """Choose a sink for ``output`` that fits the source ``like``.

    ``.mp4/.mov/.mkv`` -> :class:`VideoSink` (frame rate and audio from a video source); other media types
    (``.avi``, ``.gif``, ``.bmp`` ...) are refused rather than taken as a folder name; a pattern or a folder ->
    :class:`ImageSequenceSink` (a folder gets ``frame_%05d.png`` for integer sources, ``.exr`` for
    scene-linear ones; 16-bit sources give 16-bit PNG); one image file -> that file (single-frame sources only).

    Args:
        output: the output path, pattern or folder.
        like: the source being processed (decides colour space, bit depth, fps and audio).
        root: the chosen output folder that image paths may not leave (default: the output's own folder).
        fps: frame rate for video output when the source has none (default 24).
        bits: 8/16 for PNG/TIFF (default: 16 for 16-bit sources, else 8).
        half: EXR as half floats (default: when the source is half float).

    EXR output is scene-linear whenever the source was linear or integer (see :func:`exr_linear`).

    Raises:
        ConfigError: a single image file given for a multi-frame source, or a media type that cannot be written.
        OutputError: see the sinks.
    """
    text = str(output)
    suffix = Path(text).suffix.lower().lstrip(".")
    if suffix in VIDEO_OUT_EXTENSIONS:
        audio_from, audio_start = None, 0.0
        timestamp = getattr(like, "timestamp", None)
        if timestamp is not None:
            audio_from, audio_start = like.path, float(timestamp(like.indices[0]))
        rate = fps or like.rate or like.fps
        if rate is None:
            log.warning("%s: the input has no frame rate (an image sequence); writing 24 fps (--fps sets it)", text)
            rate = 24
        return VideoSink(text, rate, audio_from=audio_from, audio_start=audio_start)
    if suffix in UNWRITABLE_EXTENSIONS and parse_pattern(text) is None:
        raise ConfigError(
            f"{text}: cannot write .{suffix} (videos: {', '.join('.' + e for e in VIDEO_OUT_EXTENSIONS)}; images: "
            f"a pattern such as frame_%05d.png with {', '.join(IMAGE_OUT_EXTENSIONS)})"
        )
    if bits is None:
        bits = 16 if like.pixel_format == "uint16" else 8
    if half is None:
        half = like.pixel_format == "half"
    linear = exr_linear(like)
    if parse_pattern(text) is not None:
        return ImageSequenceSink(text, root=root, bits=bits, linear=linear, half=half)
    if suffix in IMAGE_OUT_EXTENSIONS:
        if len(like) != 1:
            raise ConfigError(f"{text}: {len(like)} frames need a frame placeholder such as %05d or ####")
        return ImageSequenceSink(text, root=root, bits=bits, linear=linear, half=half, single=True)
    default_ext = "exr" if like.linear else "png"
    return ImageSequenceSink(text, default_ext, root=root, bits=bits, linear=linear, half=half)


__all__ = ["FrameSink", "ImageSequenceSink", "VideoSink", "exr_linear", "make_sink"]
