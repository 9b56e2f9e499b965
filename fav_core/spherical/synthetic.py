"""A procedural scene on the sphere for tests and demos: smooth colour waves, rotating about the vertical axis."""
from __future__ import annotations

import math

import numpy as np

from fav_core.spherical.projection import equirect_directions


def sphere_texture(dirs: np.ndarray, frequency: float = 1.0) -> np.ndarray:
    """Smooth RGB colour of each direction, in [0.05, 0.95].

    Args:
        dirs: :math:`(..., 3)` directions (any length).
        frequency: scales the wave numbers (1 = a few waves around the sphere).

    Returns:
        :math:`(..., 3)` float32.
    """
    d = dirs / np.linalg.norm(dirs, axis=-1, keepdims=True)
    x, y, z = d[..., 0] * frequency, d[..., 1] * frequency, d[..., 2] * frequency
    r = 0.5 + 0.3 * np.sin(5 * x + 1) * np.cos(4 * y)
    g = 0.5 + 0.3 * np.sin(4 * z + 5 * y)
    b = 0.5 + 0.25 * np.cos(6 * x - 3 * z + y)
    return np.stack([r, g, b], axis=-1).astype(np.float32)


def rotation_y(degrees: float) -> np.ndarray:
    """3×3 rotation about the vertical (y) axis; positive turns +z toward +x."""
    a = math.radians(degrees)
    return np.array([[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0], [-math.sin(a), 0.0, math.cos(a)]])


def rotating_scene(width: int, height: int, frame: int, degrees_per_frame: float = 4.0) -> np.ndarray:
    """Equirectangular frame ``frame`` (0-based) of the texture turning about the vertical axis.

    Returns:
        :math:`(H, W, 3)` float32.
    """
    dirs = equirect_directions(width, height)
    return sphere_texture(dirs @ rotation_y(degrees_per_frame * frame).T)
