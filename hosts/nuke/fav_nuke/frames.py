"""Frame ranges: parse what the artist types into the node's ``frame range`` knob.

Stylization is recursive (frame t needs frame t-1's output), so a range is always contiguous: Nuke's step
syntax (``1-100x2``) is accepted only with step 1, and a list of frames is refused.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from fav_core.errors import ConfigError

_RANGE = re.compile(r"^\s*(-?\d+)\s*(?:(?:-|\s)\s*(-?\d+))?\s*(?:x\s*(\d+))?\s*$")


@dataclass(frozen=True)
class FrameRange:
    """An inclusive, contiguous range of frame numbers.

    Attributes:
        first: first frame number (>= 0: the core's file patterns hold unsigned numbers).
        last: last frame number (>= first).
    """

    first: int
    last: int

    def __post_init__(self) -> None:
        if self.first < 0:
            raise ConfigError(f"frame range {self}: negative frame numbers are not supported")
        if self.last < self.first:
            raise ConfigError(f"frame range {self}: the last frame is before the first")

    def __len__(self) -> int:
        return self.last - self.first + 1

    def __contains__(self, frame: object) -> bool:
        return isinstance(frame, int) and self.first <= frame <= self.last

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


def parse_frame_range(text: str, default: FrameRange) -> FrameRange:
    """Parse ``""`` (the default), ``"12"``, ``"1001-1100"``, ``"1001 1100"`` or ``"1001-1100x1"``.

    Args:
        text: what the artist typed.
        default: the range used for empty text (the plate's range).

    Returns:
        The range.

    Raises:
        ConfigError: unparseable text, a step other than 1, negative frames, or last < first.

    Example:
        >>> parse_frame_range("1001-1010", FrameRange(1, 1))
        FrameRange(first=1001, last=1010)
    """
    s = str(text).strip()
    if not s:
        return default
    m = _RANGE.match(s)
    if m is None:
        raise ConfigError(f"frame range {s!r}: expected first-last, e.g. 1001-1100")
    if m.group(3) is not None and int(m.group(3)) != 1:
        raise ConfigError(f"frame range {s!r}: stylization is recursive, every frame is needed (step must be 1)")
    first = int(m.group(1))
    last = int(m.group(2)) if m.group(2) is not None else first
    return FrameRange(first, last)
