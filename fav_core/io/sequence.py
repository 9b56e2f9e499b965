"""Opening frame sources: image sequences (pattern or folder), single images and videos.

Everything that can be checked before work starts is checked in :func:`open_frames`: the files exist, the
numbering has no gaps, every frame has the same size (from headers, without decoding pixels), and the first
frame decodes.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from fav_core.budget import check_decode
from fav_core.errors import ConfigError, InputError
from fav_core.io.imagefile import (
    ALPHA_MODES,
    IMAGE_EXTENSIONS,
    ImageHeader,
    has_vector_channels,
    is_linear,
    read_header,
    read_image_frame,
)
from fav_core.io.pattern import FramePattern, parse_pattern
from fav_core.io.source import COLORSPACES, FrameSource
from fav_core.types import Frame

log = logging.getLogger(__name__)

_NUMBERED = re.compile(r"^(.*?)(\d+)$")


class ImageSequence(FrameSource):
    """Numbered image files (or one image) read on demand.

    Args:
        path: the pattern / folder / file as the user gave it (for messages).
        files: frame number -> file, contiguous numbers (checked by :func:`open_frames`).
        header: header of the first file (size, sample format, EXR or not).
        colorspace: "auto", "linear" or "srgb".
        vectors: None = host vectors when present, True = required, False = ignored.
        alpha: "auto" (carry alpha) or "ignore" (colour as stored, no alpha); see :func:`read_image_frame`.
        warn_first_frame: check the first frame read (light where alpha is 0, highlights; see :func:`open_frames`).
    """

    def __init__(
        self,
        path: str,
        files: dict[int, Path],
        header: ImageHeader,
        *,
        colorspace: str = "auto",
        vectors: bool | None = None,
        vector_convention: str = "auto",
        alpha: str = "auto",
        warn_first_frame: bool = False,
    ) -> None:
        self.path = path
        self._files = dict(sorted(files.items()))
        self.indices = list(self._files)
        self.size = header.size
        self.fps = None
        self.rate = None
        self.linear = is_linear(header, colorspace)
        self.pixel_format = header.pixel_format
        self._colorspace = colorspace
        self._vectors = vectors
        self._vector_convention = vector_convention
        self._is_exr = header.is_exr
        self._alpha = alpha
        self._warn_first_frame = warn_first_frame  # checked on the first frame read (open_frames reads it)

    def file(self, index: int) -> Path:
        """The file of frame ``index``."""
        try:
            return self._files[index]
        except KeyError:
            raise InputError(
                self.path, f"frame {index} is not in this sequence ({self._range_text()})"
            ) from None

    def read(self, index: int) -> Frame:
        path = self.file(index)
        warn, self._warn_first_frame = self._warn_first_frame, False
        frame = read_image_frame(path, index, colorspace=self._colorspace, vectors=self._vectors,
                                 vector_convention=self._vector_convention, alpha_mode=self._alpha,
                                 warn_first_frame=warn)
        if frame.size != self.size:
            raise InputError(
                path, f"is {frame.size[1]}x{frame.size[0]}, the sequence is {self.size[1]}x{self.size[0]}"
            )
        return frame

    def describe(self) -> str:
        space = "scene-linear" if self.linear else "sRGB"
        kind = "EXR " if self._is_exr else ""
        return f"{self.path}: {kind}{self._range_text()}, {self.size[1]}x{self.size[0]}, {space} {self.pixel_format}"


def _pattern_files(pattern: FramePattern) -> dict[int, Path]:
    folder = pattern.folder
    if not folder.is_dir():
        raise InputError(pattern.text, f"folder {folder} does not exist")
    files: dict[int, Path] = {}
    for entry in folder.iterdir():
        if entry.name.startswith("."):
            continue
        index = pattern.match_name(entry.name)
        if index is not None and entry.is_file():
            files[index] = entry
    if not files:
        raise InputError(pattern.text, "no files match this pattern" + _padding_hint(pattern))
    return files


def _padding_hint(pattern: FramePattern) -> str:
    """``" (the folder has frame_0001.png: use frame_%04d.png)"`` when files differ from the pattern only in the
    zero padding of their numbers (``%d`` vs ``%04d`` vs ``####``), else ``""``."""
    lead = "" if pattern.prefix.endswith(("/", "\\")) else Path(pattern.prefix).name
    tail = pattern.suffix
    for name in sorted(e.name for e in pattern.folder.iterdir() if not e.name.startswith(".")):
        digits = name[len(lead) : len(name) - len(tail)]
        if name.startswith(lead) and name.endswith(tail) and len(name) > len(lead) + len(tail) and digits.isdigit():
            placeholder = f"%0{len(digits)}d" if digits.startswith("0") and len(digits) > 1 else "%d"
            return f" (the folder has {name}: use {lead}{placeholder}{tail})"
    return ""


def _folder_files(folder: Path) -> tuple[dict[int, Path], FramePattern]:
    """Numbered images of one extension in ``folder``, and a pattern that names them (for messages)."""
    images = [
        f
        for f in folder.iterdir()
        if not f.name.startswith(".") and f.suffix.lower().lstrip(".") in IMAGE_EXTENSIONS and f.is_file()
    ]
    if not images:
        raise InputError(folder, "folder has no images (" + ", ".join(sorted(IMAGE_EXTENSIONS)) + ")")
    suffixes = sorted({f.suffix for f in images})
    if len(suffixes) > 1:
        raise InputError(
            folder, f"folder mixes image types ({', '.join(suffixes)}); use a pattern such as frame_%05d.png"
        )
    groups: dict[str, dict[int, Path]] = {}
    widths: set[int] = set()
    for f in images:
        m = _NUMBERED.match(f.stem)
        if m is None:
            raise InputError(
                f, "has no frame number at the end of its name; use a pattern to pick the frames"
            )
        prefix, digits = m.group(1), m.group(2)
        group = groups.setdefault(prefix, {})
        index = int(digits)
        if index in group:
            raise InputError(f, f"frame {index} appears twice ({group[index].name} and {f.name})")
        group[index] = f
        widths.add(len(digits))
    if len(groups) > 1:
        names = ", ".join(repr(g + "#") for g in sorted(groups))
        raise InputError(folder, f"folder holds more than one sequence ({names}); use a pattern")
    prefix = next(iter(groups))
    width = widths.pop() if len(widths) == 1 else 0
    pattern = FramePattern(
        text=str(folder / f"{prefix}%0{width}d{suffixes[0]}"),
        prefix=str(folder / prefix),
        suffix=suffixes[0],
        width=width,
    )
    return groups[prefix], pattern


def _select(files: dict[int, Path], pattern: FramePattern, start: int | None) -> dict[int, Path]:
    """Drop frames before ``start`` and check that the numbering has no gaps."""
    if start is not None:
        if start not in files:
            raise InputError(pattern.format(start), f"missing: the first frame asked for is {start}")
        files = {i: f for i, f in files.items() if i >= start}
    indices = sorted(files)
    for a, b in zip(indices, indices[1:], strict=False):
        if b != a + 1:
            raise InputError(
                pattern.format(a + 1),
                f"missing frame {a + 1} (the sequence has frames {indices[0]}..{indices[-1]} with a gap)",
            )
    return {i: files[i] for i in indices}


def _check_headers(files: dict[int, Path], need_vectors: bool) -> ImageHeader:
    """Compare every header with the first (size; with ``need_vectors`` also the motion-vector channels, so a
    frame without them stops the job before it starts, not half-way); return the first header."""
    first_path = next(iter(files.values()))
    first = read_header(first_path)
    for path in files.values():
        h = first if path == first_path else read_header(path)
        if h.size != first.size:
            raise InputError(
                path, f"is {h.size[1]}x{h.size[0]} but {first_path.name} is {first.size[1]}x{first.size[0]}"
            )
        if need_vectors and not has_vector_channels(list(h.channels)):
            raise InputError(path, "no motion-vector channels (expected <layer>.Vector.X/Y/Z/W or "
                             "forward/backward.u/v), which --flow pass needs in every frame")
    return first


def open_frames(
    spec: str | Path,
    *,
    colorspace: str = "auto",
    start: int | None = None,
    vectors: bool | None = None,
    vector_convention: str = "auto",
    alpha: str = "auto",
    warn_first_frame: bool = False,
) -> FrameSource:
    """Open frames from a pattern, a folder, a single image or a video, validating them first.

    Args:
        spec: ``frames/frame_%05d.png`` or ``frames/frame_####.exr`` (printf or hash placeholder), a folder of
            numbered images of one type, one image file, or a video file (mp4/mov/mkv/... via PyAV).
        colorspace: "auto" (EXR/float images are scene-linear, integer images sRGB), "linear" or "srgb".
        start: first frame number to use (earlier frames are skipped). For a single image it is the frame
            number given to that image (default 1); for a video frames are numbered 1..N.
        vectors: EXR host motion vectors: None = use when present, True = required, False = ignore.
        vector_convention: whose channels hold the vectors: "auto" (by channel names), "blender" or "nuke".
        alpha: "auto" = carry alpha (unpremultiplied for the network, premultiplied again on output); "ignore"
            = the colour as stored and no alpha (videos have none).
        warn_first_frame: warn when the first frame is premultiplied and has light where alpha is 0, which an
            output premultiplied by alpha loses, or is scene-linear with highlights above 1.0, which the networks
            clip (for jobs that write stylized output).

    Returns:
        A :class:`FrameSource` whose frames are sRGB-encoded, unpremultiplied (H, W, 3) float32.

    Raises:
        ConfigError: bad ``colorspace`` or a malformed pattern.
        InputError: nothing matches, gaps in the numbering (names the missing file), frames of different
            sizes (names the first bad file), frames too large to decode in the available memory, unreadable
            first frame, or an undecodable video.
    """
    if colorspace not in COLORSPACES:
        raise ConfigError(f"colorspace must be one of {', '.join(COLORSPACES)}, got {colorspace!r}")
    if alpha not in ALPHA_MODES:
        raise ConfigError(f"alpha must be one of {', '.join(ALPHA_MODES)}, got {alpha!r}")
    text = str(spec)
    path = Path(text)
    pattern = parse_pattern(text)
    if pattern is None and path.is_file() and path.suffix.lower().lstrip(".") not in IMAGE_EXTENSIONS:
        from fav_core.io.video import VideoSource  # lazy: PyAV is only needed for videos

        if vectors:
            raise ConfigError(
                f"{text}: not an image sequence; host motion vectors need EXR frames with vector channels "
                "(videos carry none)"
            )
        if colorspace == "linear":
            raise ConfigError(
                f"{text}: videos are sRGB-encoded; colorspace='linear' is not supported for videos"
            )
        return VideoSource(text, start=start)
    if pattern is not None:
        files = _select(_pattern_files(pattern), pattern, start)
    elif path.is_dir():
        found, pattern = _folder_files(path)
        files = _select(found, pattern, start)
    elif path.is_file():
        files = {1 if start is None else start: path}
    else:
        raise InputError(text, "no such file or folder (and no %05d or #### frame placeholder in the name)")
    header = _check_headers(files, bool(vectors))
    check_decode(next(iter(files.values())), header.size)  # before a huge header makes us allocate GBs
    source = ImageSequence(text, files, header, colorspace=colorspace, vectors=vectors,
                           vector_convention=vector_convention, alpha=alpha, warn_first_frame=warn_first_frame)
    source.read(source.indices[0])  # the first frame must decode before any work starts
    log.info("opened %s", source.describe())
    return source
