"""Cube faces: names, processing order, file ids, 3-D axes, and their adjacency derived from the geometry.

World frame: x right, y up, z forward (the viewer stands inside the cube looking at the front face). Each face has
an image frame (forward f, right r, down d): the face pixel with normalised coordinates (a, b) looks along
``f + a·r + b·d``, a to the right, b downwards, a, b ∈ [−1, 1] on the cube face proper (more with overlap).

The axes are chosen so that the neighbour relations *and rotations* of the reference (algorithm.md §9.3, §9.6) hold:
left and right and back share "down" = −y with the front; the top face's image has the back below it and the
(rot180) front above it, the bottom face the back above it. :func:`neighbour` derives which face touches which side
of a face and how the neighbour must be rotated (``numpy.rot90`` k on the H, W axes) so that its touching edge
lines up — purely from these axes; tests/unit/test_spherical_faces.py checks the result against the reference table
and checks the shared edges point for point. The same axes also reproduce the reference's cube→equirect map
(``make_cube_to_equirectangular_map``: which face each direction hits and which way up it is drawn), checked in
tests/unit/test_spherical_projection.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from fav_core.errors import ConfigError

Side = Literal["left", "right", "top", "bottom"]
SIDES: tuple[Side, ...] = ("left", "right", "top", "bottom")

#: Faces in the reference's processing order (slots 0..5).
FACES: tuple[str, ...] = ("front", "left", "right", "back", "top", "bottom")
#: The reference's face-file number of each face (``frame_%05d-%d``; processing order 6, 1, 2, 5, 3, 4).
FILE_IDS: dict[str, int] = {"front": 6, "left": 1, "right": 2, "back": 5, "top": 3, "bottom": 4}

_X = np.array([1.0, 0.0, 0.0])
_Y = np.array([0.0, 1.0, 0.0])
_Z = np.array([0.0, 0.0, 1.0])

#: (forward, right, down) of each face's image, in world coordinates.
AXES: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {
    "front": (_Z, _X, -_Y),
    "left": (-_X, _Z, -_Y),
    "right": (_X, -_Z, -_Y),
    "back": (-_Z, -_X, -_Y),
    "top": (_Y, -_X, -_Z),
    "bottom": (-_Y, -_X, _Z),
}

#: The border map that fills a face's ``side`` (maps are named after the neighbour part they take content from).
MAP_FOR_SIDE: dict[Side, str] = {"right": "left", "left": "right", "bottom": "top", "top": "bottom"}


@dataclass(frozen=True)
class Neighbour:
    """The face touching one side of a face.

    Attributes:
        face: its name.
        rot: ``numpy.rot90`` k (1 = counter-clockwise 90°, −1 = clockwise, 2 = 180°) that lines its image up.
        border_map: which border map (``left|right|top|bottom``) warps the rotated neighbour into that side.
    """

    face: str
    rot: int
    border_map: str


def face_of_axis(forward: np.ndarray) -> str:
    """The face whose forward axis is ``forward`` (a ±unit axis vector)."""
    for name, (f, _, _) in AXES.items():
        if np.allclose(f, forward):
            return name
    raise ConfigError(f"no cube face looks along {forward.tolist()}")


def rotated_axes(right: np.ndarray, down: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(right, down) of an image after ``numpy.rot90(img, k)`` on its (H, W) axes.

    Convention:
        - rot90 k=1 turns the image counter-clockwise: the old right points up (new down = −old right) and the old
          down points right (new right = old down).
    """
    r, d = right, down
    for _ in range(k % 4):
        r, d = d, -r
    return r, d


def neighbour(face: str, side: Side) -> Neighbour:
    """Derive which face touches ``side`` of ``face`` and how to rotate it, from :data:`AXES`.

    The rotated neighbour must be ``face`` turned about the shared edge: for the right side its forward is the face's
    right, its right is minus the face's forward, its down is the face's down (and analogous for the other sides).

    Raises:
        ConfigError: unknown face or side.
    """
    if face not in AXES:
        raise ConfigError(f"unknown cube face {face!r} (use one of {', '.join(FACES)})")
    if side not in SIDES:
        raise ConfigError(f"unknown face side {side!r} (use one of {', '.join(SIDES)})")
    f, r, d = AXES[face]
    want = {
        "right": (r, -f, d),
        "left": (-r, f, d),
        "bottom": (d, r, -f),
        "top": (-d, r, f),
    }[side]
    name = face_of_axis(want[0])
    _, nr, nd = AXES[name]
    for k in (0, 1, 2, -1):
        rr, rd = rotated_axes(nr, nd, k)
        if np.allclose(rr, want[1]) and np.allclose(rd, want[2]):
            return Neighbour(name, k, MAP_FOR_SIDE[side])
    raise ConfigError(f"cube axes are inconsistent: no rotation lines {name} up with the {side} of {face}")


def adjacency() -> dict[str, dict[Side, Neighbour]]:
    """:func:`neighbour` for every face and side."""
    return {face: {side: neighbour(face, side) for side in SIDES} for face in FACES}


def face_directions(face: str, coords: np.ndarray) -> np.ndarray:
    """World directions of face pixels.

    Args:
        face: face name.
        coords: :math:`(N,)` normalised coordinates used for both a (columns) and b (rows).

    Returns:
        :math:`(N, N, 3)` float64 directions ``f + a·r + b·d`` (not normalised), rows = b, columns = a.

    Convention:
        - a right, b down in the face image; a, b = ±1 on the cube edges.
    """
    f, r, d = AXES[face]
    a = coords[None, :, None]
    b = coords[:, None, None]
    return f[None, None, :] + a * r[None, None, :] + b * d[None, None, :]
