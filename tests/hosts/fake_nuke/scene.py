"""Test scenes for the fake Nuke: a synthetic plate with known motion, written as real EXR files.

The plate is a smooth random texture that moves ``(+1, +1)`` pixel per frame on screen (right and *down*), so in
our convention (docs/architecture.md) every pixel's backward flow is ``(-1, -1)`` and its forward flow ``(+1, +1)``;
in Nuke's y-up vectors that is ``backward = (-1, +1)``, ``forward = (+1, -1)`` (hosts.md §B2).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from fav_nuke.channels import VectorChannels, flows_to_nuke_channels

from fav_core.io.exr import write_exr

BACKWARD = (-1.0, -1.0)
FORWARD = (1.0, 1.0)
NUKE_MOTION = VectorChannels()  # the default backward.u/v, forward.u/v names


def plate_rgb(frame: int, h: int = 16, w: int = 24, seed: int = 0) -> np.ndarray:
    """Frame ``frame`` of the moving texture: (h, w, 3) float32 scene-linear values in (0, 1)."""
    rng = np.random.default_rng(seed)
    big = rng.random((h + 40, w + 40, 3)).astype(np.float32)
    big = (big + np.roll(big, 1, 0) + np.roll(big, 1, 1) + np.roll(big, (1, 1), (0, 1))) / 4
    y0 = x0 = 20 - frame  # content moves right and down by one pixel per frame
    return np.ascontiguousarray(big[y0:y0 + h, x0:x0 + w] ** 2.2)


def write_plate(folder: Path, frames: range, *, vectors: VectorChannels | None = NUKE_MOTION,
                rgb: bool = True, h: int = 16, w: int = 24) -> str:
    """Write ``plate.%04d.exr`` frames (R, G, B, A and, unless ``vectors`` is None, the four vector channels).

    With ``rgb=False`` only the vector channels carry data (R, G, B are black): a separate vectors input.

    Returns:
        The printf pattern.
    """
    folder.mkdir(parents=True, exist_ok=True)
    bwd = np.broadcast_to(np.array(BACKWARD, np.float32), (h, w, 2)).copy()
    fwd = np.broadcast_to(np.array(FORWARD, np.float32), (h, w, 2)).copy()
    for f in frames:
        colour = plate_rgb(f, h, w) if rgb else np.zeros((h, w, 3), np.float32)
        extra = flows_to_nuke_channels(bwd, fwd, vectors) if vectors is not None else None
        write_exr(folder / f"plate.{f:04d}.exr", colour, np.ones((h, w), np.float32), extra)
    return (folder / "plate.%04d.exr").as_posix()
