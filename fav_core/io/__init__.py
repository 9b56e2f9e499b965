"""Frame and video I/O with correct colour and alpha.

Sources deliver frames in the core convention (sRGB-encoded, unpremultiplied, (H, W, 3) float32, alpha apart);
sinks turn them back into files: PNG/TIFF/JPEG 8/16-bit, EXR float (scene-linear and premultiplied when the
source was), and H.264 video with the source's audio. See docs/architecture.md.
"""

from __future__ import annotations

from fav_core.io.color import linear_to_srgb, premultiply, srgb_to_linear, unpremultiply
from fav_core.io.exr import find_rgba, read_exr_channels, write_exr
from fav_core.io.sequence import ImageSequence, open_frames
from fav_core.io.sinks import FrameSink, ImageSequenceSink, VideoSink, make_sink
from fav_core.io.source import FrameSource
from fav_core.io.video import VideoSource

__all__ = [
    "FrameSink",
    "FrameSource",
    "ImageSequence",
    "ImageSequenceSink",
    "VideoSink",
    "VideoSource",
    "find_rgba",
    "linear_to_srgb",
    "make_sink",
    "open_frames",
    "premultiply",
    "read_exr_channels",
    "srgb_to_linear",
    "unpremultiply",
    "write_exr",
]
