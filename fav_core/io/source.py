"""The abstract frame source every reader implements (image sequences, single images, videos)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from fractions import Fraction
from types import TracebackType

from fav_core.types import Frame

COLORSPACES = ("auto", "linear", "srgb")


class FrameSource(ABC):
    """An ordered set of frames with a common size, read one at a time.

    Attributes:
        path: the pattern / folder / file the source was opened from.
        indices: the frame numbers, ascending and contiguous (the user's numbering).
        size: (H, W) of every frame.
        fps: frames per second when the container knows it (videos), else None.
        rate: the exact frame rate as a fraction when known (videos), else None.
        linear: True when the stored values are scene-linear (EXR, float TIFF, or forced); frames are still
            delivered sRGB-encoded, and sinks use this flag to convert back.
        pixel_format: storage of the source samples: "uint8", "uint16", "half" or "float".
    """

    path: str
    indices: list[int]
    size: tuple[int, int]
    fps: float | None = None
    rate: Fraction | None = None
    linear: bool = False
    pixel_format: str = "uint8"

    @abstractmethod
    def read(self, index: int) -> Frame:
        """Read frame ``index`` (one of ``indices``).

        Returns:
            Frame with rgb (H, W, 3) float32 sRGB-encoded and unpremultiplied, alpha (H, W) or None.

        Raises:
            InputError: the frame cannot be read, or ``index`` is not in the source.
        """

    @abstractmethod
    def describe(self) -> str:
        """One line for logs and UIs, e.g. ``"frames/frame_%05d.png: frames 1-120, 1920x1080, sRGB uint8"``."""

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[Frame]:
        """Frames in ascending order (readers override this when sequential reading is cheaper)."""
        for index in self.indices:
            yield self.read(index)

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release open files (no-op for image sequences)."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _range_text(self) -> str:
        if not self.indices:
            return "no frames"
        first, last = self.indices[0], self.indices[-1]
        return f"frame {first}" if first == last else f"frames {first}-{last} ({len(self.indices)})"
