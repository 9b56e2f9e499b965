"""Output layouts of the cube faces: trimmed faces and the reference's one-row cube map (algorithm.md §9.6)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fav_core.errors import ShapeError
from fav_core.spherical.faces import FACES
from fav_core.spherical.projection import CubeGeometry

#: Faces of the cube-map strip, left to right, with their numpy rot90 k (reference ``-out_cubemap``).
CUBEMAP_ORDER: tuple[tuple[str, int], ...] = (
    ("back", 0), ("front", 0), ("top", 1), ("bottom", -1), ("right", 0), ("left", 0),
)


def trim(face: np.ndarray, geometry: CubeGeometry) -> np.ndarray:
    """Cut the overlap off a face: (E, E, C) → (E − overlap, E − overlap, C)."""
    e, o = geometry.edge, geometry.overlap // 2
    if face.shape[:2] != (e, e):
        raise ShapeError(f"face: expected {e}x{e}, got {face.shape[1]}x{face.shape[0]}")
    return face[o:e - o, o:e - o]


def cubemap_strip(faces: Sequence[np.ndarray], geometry: CubeGeometry) -> np.ndarray:
    """The reference's cube map: trimmed back, front, rot90(top), rot−90(bottom), right, left in one row.

    Args:
        faces: 6 × (E, E, C) in slot order (faces.FACES).

    Returns:
        (core, 6·core, C) float32, core = E − overlap.
    """
    if len(faces) != len(FACES):
        raise ShapeError(f"faces: expected 6 cube faces, got {len(faces)}")
    by_name = dict(zip(FACES, faces, strict=True))
    tiles = [np.rot90(trim(by_name[name], geometry), k) for name, k in CUBEMAP_ORDER]
    return np.ascontiguousarray(np.concatenate(tiles, axis=1), dtype=np.float32)
