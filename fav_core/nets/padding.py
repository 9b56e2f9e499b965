"""Pad a frame to a size the network takes, and crop the result back (TorchScript-compatible).

Convention:
    Padding is split as evenly as possible, the extra pixel (if any) going to the bottom/right, and the
    network output is the centre of its input (``shrink`` px lost on each side), so output pixel
    ``before - shrink + i`` is the result for input pixel ``i``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_amounts(size: int, multiple: int, min_size: int, shrink: int) -> tuple[int, int]:
    """Padding (before, after) that brings ``size`` to the smallest body input that covers it.

    Args:
        size: frame size along one axis (H or W), >= 1.
        multiple: body inputs must be a multiple of this (the total stride).
        min_size: smallest body input that works (a multiple of ``multiple``).
        shrink: pixels the body loses on each side.

    Returns:
        (before, after) padding in pixels; the body input is ``size + before + after``.
    """
    n = max(size + 2 * shrink, min_size)
    n = (n + multiple - 1) // multiple * multiple
    before = shrink + (n - 2 * shrink - size) // 2
    return before, n - size - before


def pad_frame(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Pad a (B, C, H, W) tensor by reflection, or by replication where the frame is too small to reflect.

    Reflection needs every pad to be smaller than the frame along its axis; otherwise (tiny frames, e.g.
    1×1) edge replication is used for the whole frame. Returns ``x`` itself when nothing is padded.
    """
    if top == 0 and bottom == 0 and left == 0 and right == 0:
        return x
    h, w = x.shape[-2], x.shape[-1]
    if top < h and bottom < h and left < w and right < w:
        return F.pad(x, [left, right, top, bottom], mode="reflect")
    return F.pad(x, [left, right, top, bottom], mode="replicate")
