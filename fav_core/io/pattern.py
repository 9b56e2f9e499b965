"""Frame-number placeholders in file names: printf ``%d`` / ``%05d`` and hash runs ``####``.

A hash run of length N means "zero-padded to N digits" (``#`` alone = no padding), as in Blender and Nuke.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from fav_core.errors import ConfigError

_PLACEHOLDER = re.compile(r"%%|%(0?)(\d*)d|#+", re.ASCII)
#: Largest zero-padding width accepted (a file name is at most 255 bytes; %0999999999d would make 1 GB names).
MAX_WIDTH = 32


@dataclass(frozen=True)
class FramePattern:
    """A file path with exactly one frame-number placeholder in its file name.

    Attributes:
        text: the pattern as given.
        prefix: everything before the placeholder.
        suffix: everything after it.
        width: zero-padding width (0 = none).
    """

    text: str
    prefix: str
    suffix: str
    width: int

    def format(self, index: int) -> str:
        """The file path of frame ``index`` (e.g. ``frame_00007.png``)."""
        number = f"{index:0{self.width}d}" if self.width else str(index)
        return f"{self.prefix}{number}{self.suffix}"

    @property
    def folder(self) -> Path:
        """The folder the frames live in."""
        return Path(self.prefix + "0" + self.suffix).parent

    def match_name(self, name: str) -> int | None:
        """The frame number if file name ``name`` (no folder) is a frame of this pattern, else None.

        The padding must be exactly what ``format`` would write (``frame_7.png`` is not ``frame_%05d.png``).
        """
        lead = "" if self.prefix.endswith(("/", "\\")) else Path(self.prefix).name
        tail = self.suffix
        if not (name.startswith(lead) and name.endswith(tail)) or len(name) <= len(lead) + len(tail):
            return None
        digits = name[len(lead) : len(name) - len(tail)]
        if not digits.isdigit():
            return None
        index = int(digits)
        width_ok = digits == (f"{index:0{self.width}d}" if self.width else str(index))
        return index if width_ok else None


def parse_pattern(text: str | Path) -> FramePattern | None:
    """Parse a frame pattern; None when ``text`` has no placeholder.

    ``%%`` is a literal ``%`` (printf).

    Raises:
        ConfigError: more than one placeholder, a placeholder in a folder name, or a width above
            :data:`MAX_WIDTH`.
    """
    s = str(text)
    found = [m for m in _PLACEHOLDER.finditer(s) if m.group(0) != "%%"]  # printf: %% is a literal %
    if not found:
        return None
    if len(found) > 1:
        raise ConfigError(f"{s}: more than one frame-number placeholder (use one %05d or ####)")
    m = found[0]
    prefix, suffix = s[: m.start()].replace("%%", "%"), s[m.end() :].replace("%%", "%")
    if "/" in suffix or "\\" in suffix:
        raise ConfigError(f"{s}: the frame-number placeholder must be in the file name, not in a folder")
    if m.group(0).startswith("#"):
        n = len(m.group(0))
        width = n if n > 1 else 0
    elif m.group(2) and not m.group(1):
        raise ConfigError(f"{s}: space-padded %{m.group(2)}d is not supported; use %0{m.group(2)}d or %d")
    else:
        width = int(m.group(2)) if m.group(2) else 0
    if width > MAX_WIDTH:
        raise ConfigError(f"{s}: frame-number width {width} is too large (at most {MAX_WIDTH})")
    return FramePattern(text=s, prefix=prefix, suffix=suffix, width=width)
