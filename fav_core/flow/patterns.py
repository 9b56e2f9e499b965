"""Flow / reliability file-name patterns with ``[fmt]`` (start frame) and ``{fmt}`` (target frame).

Same idea as the reference's ``getFormatedFlowFileName`` (fast_artistic_video.lua): the printf format inside
square brackets is filled with the frame the flow *starts at*, the one inside braces with the frame it *points to*.
``backward_[%d]_{%d}.flo`` for frame 5 (flow 5 -> 4) is ``backward_5_4.flo``. Any other ``%`` text (for example a
face id ``%d`` left for the caller) is not touched.

Evaluation ground truth named by the start frame only (Sintel: ``flow/frame_0001.flo`` = flow 1 -> 2,
``occlusions/frame_0001.png``) is accepted with ``need_target=False``: ``flow/frame_[%04d].flo``.
"""

from __future__ import annotations

import re

from fav_core.errors import ConfigError

# printf integer conversion: flags, width, precision, conversion letter.
_INT_FMT = r"%[-+ 0#]*\d*(?:\.\d+)?[diuoxX]"
_START_RE = re.compile(r"\[(" + _INT_FMT + r")\]", re.ASCII)
_TARGET_RE = re.compile(r"\{(" + _INT_FMT + r")\}", re.ASCII)
#: Largest printf width/precision accepted (``%0999999999d`` would make a 1 GB file name).
MAX_WIDTH = 32


def check_pattern(pattern: str, *, need_target: bool = True) -> None:
    """Raise ConfigError unless ``pattern`` has a ``[fmt]`` and (when ``need_target``) a ``{fmt}`` placeholder
    (widths <= 32)."""
    for m in (*_START_RE.finditer(pattern), *_TARGET_RE.finditer(pattern)):
        if any(int(n) > MAX_WIDTH for n in re.findall(r"\d+", m.group(1))):
            raise ConfigError(f"flow pattern {pattern!r}: width/precision in {m.group(0)} is too large "
                              f"(at most {MAX_WIDTH})")
    if not need_target and _START_RE.search(pattern):
        return
    if not _START_RE.search(pattern) or not _TARGET_RE.search(pattern):
        if not need_target:
            raise ConfigError(
                f"flow pattern {pattern!r} needs a [%d] (start frame) placeholder, e.g. backward_[%d]_{{%d}}.flo "
                "or frame_[%04d].flo"
            )
        raise ConfigError(
            f"flow pattern {pattern!r} needs both a [%d] (start frame) and a {{%d}} (target frame) placeholder, "
            "e.g. backward_[%d]_{%d}.flo"
        )


def format_pattern(pattern: str, start: int, target: int, *, need_target: bool = True) -> str:
    """Fill a flow file-name pattern.

    Args:
        pattern: text with at least one ``[fmt]`` and one ``{fmt}`` (fmt = printf integer format such as
            ``%d`` or ``%05d``); every occurrence is replaced.
        start: the frame the flow starts at (goes into ``[fmt]``).
        target: the frame the flow points to (goes into ``{fmt}``).
        need_target: False accepts a pattern with ``[fmt]`` only (files named by the start frame).

    Returns:
        The file name.

    Raises:
        ConfigError: a placeholder is missing.

    Example:
        >>> format_pattern("flow/backward_[%d]_{%d}.flo", 5, 4)
        'flow/backward_5_4.flo'
        >>> format_pattern("reliable_[%05d]_{%05d}_face%d.pgm", 12, 11)
        'reliable_00012_00011_face%d.pgm'
    """
    check_pattern(pattern, need_target=need_target)
    filled = _START_RE.sub(lambda m: m.group(1) % int(start), pattern)
    return _TARGET_RE.sub(lambda m: m.group(1) % int(target), filled)
