"""Debug pictures during training: one row per batch item, columns input | warped prior | mask | output."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from fav_core.errors import OutputError
from fav_core.nets.preprocess import deprocess

#: Column order of the grid; missing entries (image mode has no prior or mask) are skipped.
COLUMNS = ("input", "warped_prior", "mask", "output")


def to_rgb8(tensor: torch.Tensor, preprocessing: str) -> np.ndarray:
    """Convert a `(B, 3, H, W)` pre-space batch or a `(B, 1, H, W)` mask to `(B, H, W, 3)` uint8 RGB."""
    tensor = tensor.detach().float().cpu()
    rgb = tensor.repeat(1, 3, 1, 1) if tensor.shape[1] == 1 else deprocess(tensor, preprocessing)
    return np.clip(np.rint(rgb.permute(0, 2, 3, 1).numpy() * 255.0), 0, 255).astype(np.uint8)


def debug_grid(images: dict[str, torch.Tensor], preprocessing: str, max_rows: int = 2) -> np.ndarray:
    """Tile the named batches into one `(rows·H, cols·W, 3)` uint8 RGB picture (2 px white gaps).

    Args:
        images: name -> `(B, C, H, W)` tensors, names from :data:`COLUMNS`.
        preprocessing: Pre-space kind used to deprocess images.
        max_rows: At most this many batch items.
    """
    columns = [to_rgb8(images[name], preprocessing) for name in COLUMNS if name in images]
    rows = min(max_rows, columns[0].shape[0])
    height, width = columns[0].shape[1:3]
    gap = 2
    grid = np.full((rows * (height + gap) - gap, len(columns) * (width + gap) - gap, 3), 255, np.uint8)
    for r in range(rows):
        for c, batch in enumerate(columns):
            grid[r * (height + gap) : r * (height + gap) + height, c * (width + gap) : c * (width + gap) + width] = (
                batch[r]
            )
    return grid


def save_debug_grid(path: str | Path, images: dict[str, torch.Tensor], preprocessing: str) -> Path:
    """Write :func:`debug_grid` as PNG.

    Raises:
        OutputError: the PNG cannot be written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = debug_grid(images, preprocessing)
    if not cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise OutputError(path, "cannot write the debug image")
    return path
