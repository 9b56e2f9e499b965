"""Equirect host vectors reprojected to cube faces (fav_core.spherical.flow), against known rotations."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fav_core.errors import ConfigError, ShapeError
from fav_core.spherical.faces import AXES, FACES
from fav_core.spherical.flow import EquirectFlowToCube, equirect_to_directions
from fav_core.spherical.projection import CubeGeometry, directions_to_equirect, equirect_directions
from fav_core.spherical.synthetic import rotation_y

GEOM = CubeGeometry(24, 4)
W, H = 96, 48


def rotation_x(degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    return np.array([[1.0, 0.0, 0.0], [0.0, math.cos(a), -math.sin(a)], [0.0, math.sin(a), math.cos(a)]])


def face_flow(face: str, rotation: np.ndarray, geometry: CubeGeometry = GEOM) -> np.ndarray:
    """Flow of a face's pixels when every view direction d moves to ``rotation @ d`` (on the same face's plane).

    Returns:
        (E, E, 2) float32, dx, dy in pixels (y down).
    """
    f, r, d = AXES[face]
    coords = geometry.coords()
    dirs = f + coords[None, :, None] * r + coords[:, None, None] * d
    moved = dirs @ rotation.T
    depth = moved @ f
    px = geometry.to_pixel((moved @ r) / depth)
    py = geometry.to_pixel((moved @ d) / depth)
    cols, rows = np.meshgrid(np.arange(geometry.edge), np.arange(geometry.edge))
    return np.stack([px - cols, py - rows], axis=-1).astype(np.float32)


def equirect_flow(rotation: np.ndarray, width: int = W, height: int = H) -> np.ndarray:
    """Equirect flow when every direction d moves to ``rotation @ d`` (horizontal part wrapped to ±W/2)."""
    dirs = equirect_directions(width, height)
    u, v = directions_to_equirect(dirs, width, height)
    u2, v2 = directions_to_equirect(dirs @ rotation.T, width, height)
    du = np.mod(u2 - u + width / 2, width) - width / 2
    return np.stack([du, v2 - v], axis=-1).astype(np.float32)


def test_equirect_to_directions_inverts_directions_to_equirect() -> None:
    dirs = equirect_directions(W, H)
    u, v = directions_to_equirect(dirs, W, H)
    np.testing.assert_allclose(equirect_to_directions(u, v, W, H), dirs, atol=1e-12)


def test_turn_about_the_vertical_axis() -> None:
    """A pure longitude shift (constant equirect flow) becomes the exact face flow, incl. the in-plane turn of
    top and bottom."""
    rot = rotation_y(3.0)
    flow = equirect_flow(rot)
    assert np.allclose(flow[..., 0], 3.0 / 360 * W, atol=1e-9) and np.allclose(flow[..., 1], 0, atol=1e-9)
    faces = EquirectFlowToCube(GEOM, (H, W)).face_flows(flow)
    for (got, ok), name in zip(faces, FACES, strict=True):
        assert ok.all(), name
        np.testing.assert_allclose(got, face_flow(name, rot), atol=1e-4, err_msg=name)


def test_tilt_about_the_horizontal_axis() -> None:
    """A tilt: non-uniform equirect flow, interpolated bilinearly (worst near the poles, seen by top/bottom)."""
    rot = rotation_x(2.0)
    faces = EquirectFlowToCube(GEOM, (H, W)).face_flows(equirect_flow(rot))
    for (got, ok), name in zip(faces, FACES, strict=True):
        want = face_flow(name, rot)
        err = np.abs(got - want).max(axis=-1)
        assert ok.all(), name
        assert np.percentile(err, 95) < 0.01, name  # measured 0.002
        assert err.max() < 0.15, name  # measured 0.10 at the pole
        assert np.abs(want).max() > 0.3  # it does move


def test_invalid_equirect_vectors_make_face_pixels_invalid() -> None:
    flow = equirect_flow(rotation_y(3.0))
    valid = np.ones((H, W), bool)
    valid[:, W // 2] = False  # the column the front face's centre looks at
    flow[5, 5] = np.nan
    convert = EquirectFlowToCube(GEOM, (H, W))
    fronts = convert(flow, -flow, valid)
    to_prev, to_next, ok = fronts[0]
    assert to_prev is not None and to_next is not None
    assert not ok[:, GEOM.edge // 2].any()  # its equirect position has column W/2 as a bilinear neighbour
    assert ok[:, :4].all()
    assert np.isfinite(to_prev).all() and (to_prev[~ok] == 0).all()
    assert fronts[4][1] is not None and 0.5 < fronts[4][2].mean() < 1.0  # the top sees every longitude


def test_bad_sizes() -> None:
    with pytest.raises(ConfigError):
        EquirectFlowToCube(GEOM, (1, 3))
    convert = EquirectFlowToCube(GEOM, (H, W))
    with pytest.raises(ShapeError):
        convert.face_flows(np.zeros((H, W + 1, 2), np.float32))
    with pytest.raises(ShapeError):
        convert(None, None, None)
