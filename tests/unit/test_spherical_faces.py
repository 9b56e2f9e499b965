"""Cube faces: adjacency derived from the axes agrees with the reference table, and shared edges coincide."""
from __future__ import annotations

import numpy as np
import pytest

from fav_core.errors import ConfigError
from fav_core.spherical.faces import (
    AXES,
    FACES,
    FILE_IDS,
    SIDES,
    adjacency,
    face_directions,
    neighbour,
    rotated_axes,
)
from fav_core.spherical.sources import count_frame_placeholders, face_pattern

# The reference's table (algorithm.md §9.3 and §9.6, fast_artistic_video_vr.lua blend_other_sides):
# face -> side -> (neighbour, numpy rot90 k, border map). Written out by hand from the spec, not from the code.
REFERENCE = {
    "front": {"left": ("left", 0, "right"), "right": ("right", 0, "left"),
              "top": ("top", 2, "bottom"), "bottom": ("bottom", 2, "top")},
    "left": {"right": ("front", 0, "left"), "left": ("back", 0, "right"),
             "top": ("top", -1, "bottom"), "bottom": ("bottom", 1, "top")},
    "right": {"left": ("front", 0, "right"), "right": ("back", 0, "left"),
              "top": ("top", 1, "bottom"), "bottom": ("bottom", -1, "top")},
    "back": {"right": ("left", 0, "left"), "left": ("right", 0, "right"),
             "top": ("top", 0, "bottom"), "bottom": ("bottom", 0, "top")},
    "top": {"right": ("left", 1, "left"), "left": ("right", -1, "right"),
            "bottom": ("back", 0, "top"), "top": ("front", 2, "bottom")},
    "bottom": {"right": ("left", -1, "left"), "left": ("right", 1, "right"),
               "bottom": ("front", 2, "top"), "top": ("back", 0, "bottom")},
}


def test_order_and_file_ids_are_the_reference() -> None:
    assert FACES == ("front", "left", "right", "back", "top", "bottom")
    assert [FILE_IDS[f] for f in FACES] == [6, 1, 2, 5, 3, 4]


def test_axes_are_right_handed_image_frames() -> None:
    for name, (f, r, d) in AXES.items():
        assert np.allclose(np.cross(f, r), -d), name  # same handedness as the front face
        assert {tuple(np.abs(v)) for v in (f, r, d)} == {(1, 0, 0), (0, 1, 0), (0, 0, 1)}, name
    assert {tuple(AXES[f][0]) for f in FACES} == {(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1),
                                                   (0, 0, -1)}


def test_derived_adjacency_equals_reference_table() -> None:
    derived = {face: {s: (n.face, n.rot, n.border_map) for s, n in sides.items()} for face, sides in adjacency().items()}
    assert derived == REFERENCE


def test_rotated_axes_match_numpy_rot90() -> None:
    # An image whose pixels hold their own (col, row): after rot90 k, stepping right/down in the new image must
    # step along rotated_axes' right/down in the old one.
    n = 5
    rows, cols = np.mgrid[0:n, 0:n]
    coords = np.stack([cols, rows], axis=-1)  # (x, y)
    for k in (0, 1, 2, -1, 3):
        rot = np.rot90(coords, k)
        step_right = rot[2, 3] - rot[2, 2]
        step_down = rot[3, 2] - rot[2, 2]
        right, down = rotated_axes(np.array([1.0, 0.0]), np.array([0.0, 1.0]), k)
        assert tuple(step_right) == tuple(right.astype(int)), k
        assert tuple(step_down) == tuple(down.astype(int)), k


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("side", SIDES)
def test_shared_edges_coincide_point_for_point(face: str, side: str) -> None:
    # Face images sampled on a grid that includes the cube edges (a, b = ±1). The neighbour, rotated as derived,
    # must show exactly the same directions along its opposite edge, in the same order.
    grid = np.linspace(-1.0, 1.0, 9)
    nb = neighbour(face, side)  # type: ignore[arg-type]
    own = face_directions(face, grid)
    other = np.rot90(face_directions(nb.face, grid), nb.rot)
    own_edge = {"left": own[:, 0], "right": own[:, -1], "top": own[0], "bottom": own[-1]}[side]
    other_edge = {"left": other[:, -1], "right": other[:, 0], "top": other[-1], "bottom": other[0]}[side]
    assert np.allclose(own_edge, other_edge)
    # ... and one step further into the neighbour continues away from this face (not back into it).
    inner = {"left": other[:, -2], "right": other[:, 1], "top": other[-2], "bottom": other[1]}[side]
    f = AXES[face][0]
    assert np.all(inner @ f < own_edge @ f)


def test_every_edge_is_shared_by_exactly_two_faces() -> None:
    pairs = {frozenset((face, n.face)) for face, sides in adjacency().items() for n in sides.values()}
    assert len(pairs) == 12
    for face, sides in adjacency().items():
        for side, n in sides.items():
            back_sides = [s for s, m in adjacency()[n.face].items() if m.face == face]
            assert len(back_sides) == 1, (face, side)


def test_bad_names() -> None:
    with pytest.raises(ConfigError, match="unknown cube face"):
        neighbour("up", "left")
    with pytest.raises(ConfigError, match="unknown face side"):
        neighbour("front", "north")  # type: ignore[arg-type]


def test_face_patterns() -> None:
    assert face_pattern("frames/frame_%05d-%d.png", 6, expect=2) == "frames/frame_%05d-6.png"
    assert face_pattern("flow_768-%d/backward_[%d]_{%d}.flo", 3, expect=1) == "flow_768-3/backward_[%d]_{%d}.flo"
    assert face_pattern("f_%05d_%02d.exr", 4, expect=2) == "f_%05d_04.exr"
    assert count_frame_placeholders("frame_%05d-%d.png") == 2
    assert count_frame_placeholders("frame_%05d.png") == 1
    assert count_frame_placeholders("100%%_%d.png") == 1
    with pytest.raises(ConfigError, match="expected 2 printf placeholder"):
        face_pattern("frame_%05d.png", 1, expect=2)
