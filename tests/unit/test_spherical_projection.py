"""Equirect ↔ cube faces: geometry, round trip, anti-aliasing, layouts, seam measures."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fav_core.errors import ConfigError, ShapeError
from fav_core.spherical.faces import AXES, FACES
from fav_core.spherical.layout import cubemap_strip, trim
from fav_core.spherical.projection import (
    CubeGeometry,
    CubeToEquirect,
    EquirectToCube,
    directions_to_equirect,
    equirect_directions,
    nearest_face,
)
from fav_core.spherical.seams import (
    interior_difference,
    seam_contrast,
    seam_difference,
    seam_excess,
    seam_step,
)
from fav_core.spherical.synthetic import rotating_scene, sphere_texture


def analytic_face(name: str, geom: CubeGeometry) -> np.ndarray:
    f, r, d = AXES[name]
    c = geom.coords()
    dirs = f + c[None, :, None] * r + c[:, None, None] * d
    return sphere_texture(dirs)


def test_geometry() -> None:
    g = CubeGeometry(768, 128)
    assert (g.core, g.half, g.expand) == (640, 320.0, 1.2)  # Transform360 expand_coef 1.2
    c = CubeGeometry(48, 16).coords()
    assert c[0] == pytest.approx(-23.5 / 16) and c[-1] == pytest.approx(23.5 / 16)
    assert CubeGeometry(48, 16).coords(2)[0] == pytest.approx(-23.75 / 16)
    with pytest.raises(ConfigError, match="even"):
        CubeGeometry(48, 7)
    with pytest.raises(ConfigError, match="no cube face"):
        CubeGeometry(16, 14)


def test_equirect_convention() -> None:
    # The image centre looks at the front (+z); a quarter to the right at the right face (+x); top row = up.
    u, v = directions_to_equirect(np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), 8, 4)
    np.testing.assert_allclose(u[:2], [3.5, 5.5])
    np.testing.assert_allclose(v[:2], [1.5, 1.5])
    assert v[2] == pytest.approx(-0.5)
    d = equirect_directions(8, 4)
    assert d.shape == (4, 8, 3)
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0)
    u2, v2 = directions_to_equirect(d, 8, 4)
    np.testing.assert_allclose(u2, np.arange(8)[None].repeat(4, 0), atol=1e-9)
    np.testing.assert_allclose(v2, np.arange(4)[:, None].repeat(8, 1), atol=1e-9)


@pytest.mark.parametrize("size", [(64, 128), (48, 96), (128, 256)])
def test_faces_match_the_analytic_scene(size: tuple[int, int]) -> None:
    geom = CubeGeometry(48, 16)
    eq = rotating_scene(size[1], size[0], 0)
    faces = EquirectToCube(geom, size)(eq)
    assert len(faces) == 6
    for name, face in zip(FACES, faces, strict=True):
        assert face.shape == (48, 48, 3) and face.dtype == np.float32
        assert np.abs(face - analytic_face(name, geom)).max() < 0.005, name


def test_round_trip_error_is_small() -> None:
    geom = CubeGeometry(48, 16)
    eq = rotating_scene(128, 64, 0)
    back = CubeToEquirect(geom, (64, 128))(EquirectToCube(geom, (64, 128))(eq))
    err = np.abs(back - eq)
    # measured: mean 7.5e-4, max 3.0e-3 (values in [0, 1]; the output is 2x supersampled + box-filtered)
    assert err.mean() < 1e-3 and err.max() < 6e-3


def test_downsampling_is_area_aware() -> None:
    # 1-px vertical stripes on a dense equirect: faces 4x coarser must come out flat grey, not aliased.
    geom = CubeGeometry(24, 8)
    eq = np.zeros((128, 512, 3), np.float32)
    eq[:, ::2] = 1.0
    e2c = EquirectToCube(geom, (128, 512))
    assert e2c.supersample == 4
    front = e2c(eq)[0]
    assert abs(front.mean() - 0.5) < 0.02 and front.std() < 0.08
    # The other way: dense faces into a small equirect.
    faces = [np.tile(np.array([0.0, 1.0], np.float32), 64)[None, :, None].repeat(128, 0).repeat(3, 2)] * 6
    c2e = CubeToEquirect(CubeGeometry(128, 16), (32, 64))
    assert c2e.supersample == 4
    out = c2e(faces)
    assert abs(out.mean() - 0.5) < 0.03 and out.std() < 0.12


def test_face_index_and_shapes() -> None:
    geom = CubeGeometry(48, 16)
    c2e = CubeToEquirect(geom, (64, 128))
    idx = c2e.face_index
    assert idx.shape == (64, 128)
    assert idx[32, 64] == FACES.index("front") and idx[32, 96] == FACES.index("right")
    assert idx[32, 32] == FACES.index("left") and idx[32, 0] == FACES.index("back")
    assert idx[0, 5] == FACES.index("top") and idx[-1, 5] == FACES.index("bottom")
    assert nearest_face(np.array([0.1, -0.9, 0.2])) == FACES.index("bottom")
    faces = [np.full((48, 48, 3), n, np.float32) for n in range(6)]
    out = c2e(faces)
    inner = (idx == np.roll(idx, 1, 0)) & (idx == np.roll(idx, -1, 0)) & (idx == np.roll(idx, 1, 1)) & (
        idx == np.roll(idx, -1, 1))
    inner[0] = inner[-1] = False
    # each pixel comes from its face; on the seams supersampling averages the two faces
    np.testing.assert_allclose(out[..., 0][inner], idx[inner].astype(np.float32), atol=1e-4)
    assert inner.mean() > 0.85
    with pytest.raises(ShapeError, match="expected 6"):
        c2e(faces[:5])
    with pytest.raises(ShapeError, match="expected 48x48"):
        c2e([np.zeros((40, 40, 3), np.float32)] * 6)
    with pytest.raises(ShapeError, match="set up for 128x64"):
        EquirectToCube(geom, (64, 128))(np.zeros((32, 64, 3), np.float32))


def test_pole_and_wrap_continuity() -> None:
    # The top face straddles the pole and the front column at lon = ±180° straddles the wrap; both must be
    # smooth (no jump larger than the texture's own gradient).
    geom = CubeGeometry(48, 16)
    faces = EquirectToCube(geom, (64, 128))(rotating_scene(128, 64, 0))
    for n in (FACES.index("top"), FACES.index("back")):
        assert np.abs(faces[n] - analytic_face(FACES[n], geom)).max() < 0.006


def test_cubemap_layout() -> None:
    geom = CubeGeometry(12, 4)
    faces = [np.full((12, 12, 3), n, np.float32) for n in range(6)]
    faces[FACES.index("top")][4, 11] = 99.0  # marker in the top face's right overlap... trimmed away
    faces[FACES.index("top")][2, 9] = 50.0  # marker at the top face's top-right core corner
    strip = cubemap_strip(faces, geom)
    assert strip.shape == (8, 48, 3)
    order = [FACES.index(n) for n in ("back", "front", "top", "bottom", "right", "left")]
    assert [int(strip[4, 8 * k + 1, 0]) for k in range(6) if order[k] != FACES.index("top")] == [
        o for o in order if o != FACES.index("top")]
    assert 99.0 not in strip
    # rot90 (counter-clockwise) moves the top-right corner to the top-left of its tile
    assert strip[0, 16, 0] == 50.0
    assert trim(faces[0], geom).shape == (8, 8, 3)


def test_seam_measures() -> None:
    idx = np.zeros((4, 8), np.int8)
    idx[:, 4:] = 1
    img = np.zeros((4, 8, 3), np.float32)
    img[:, 4:] = 0.3
    # two seams per row (x=3|4 and the wrap 7|0), each a jump of 0.3; vertical pairs never cross
    assert seam_difference(img, idx) == pytest.approx(0.3)
    assert interior_difference(img, idx) == pytest.approx(0.0)
    ramp_img = np.repeat(np.arange(8, dtype=np.float32)[None, :, None], 4, 0).repeat(3, 2) * 0.1
    idx2 = np.zeros((4, 8), np.int8)
    idx2[:, 2:6] = 1
    assert seam_step(ramp_img, idx2) == pytest.approx(0.0, abs=1e-6)  # a linear ramp has no step
    assert math.isfinite(seam_difference(rotating_scene(32, 16, 0), CubeToEquirect(CubeGeometry(12, 4),
                                                                                    (16, 32)).face_index))
    # seam_contrast: across = the jump; beside = the flat pixels next to it (0); a ramp: both equal the slope
    assert seam_contrast(img, idx) == pytest.approx((0.3, 0.0))
    assert seam_excess(ramp_img, idx2) == pytest.approx(0.0, abs=1e-6)
    # borders at 1|2 and 5|6 (7|0 is inside face 0); lifting face 1 by 0.2 makes the steps 0.3 and |−0.1|
    lifted = ramp_img + 0.2 * (idx2 == 1)[:, :, None]
    across, beside = seam_contrast(lifted, idx2)
    assert across == pytest.approx(0.2) and beside == pytest.approx(0.1)
    with pytest.raises(ShapeError, match="no pair"):
        seam_contrast(img, np.zeros((4, 8), np.int8))


def reference_equirect_lookup(d: np.ndarray) -> tuple[int, float, float]:
    """The reference's cube→equirect face choice and face position (vr_helper.lua
    make_cube_to_equirectangular_map), for one direction in *our* frame. Their y axis points down (the top output
    row has y = −1); the top/bottom strips are rot180 of the faces. Returns (slot, s, t) in [0, 1] on the strip."""
    x, y, z = d[0], -d[1], d[2]
    m = max(abs(x), abs(y), abs(z))
    xa, ya, za = x / m, y / m, z / m
    if xa == 1:
        return 2, abs((za + 1) / 2 - 1), (ya + 1) / 2
    if xa == -1:
        return 1, (za + 1) / 2, (ya + 1) / 2
    if ya == 1:
        return 5, (xa + 1) / 2, abs((za + 1) / 2 - 1)
    if ya == -1:
        return 4, (xa + 1) / 2, (za + 1) / 2
    if za == 1:
        return 0, (xa + 1) / 2, (ya + 1) / 2
    return 3, abs((xa + 1) / 2 - 1), (ya + 1) / 2


def test_face_orientation_matches_the_reference_equirect_map() -> None:
    # Our face axes were derived from the adjacency table alone; the reference's equirect map fixes them
    # independently (which face is where, and which way up): both must agree for every direction.
    rng = np.random.default_rng(3)
    for d in rng.normal(size=(500, 3)):
        slot, s, t = reference_equirect_lookup(d)
        ours = int(nearest_face(d))
        assert ours == slot
        f, r, down = AXES[FACES[ours]]
        s_ours, t_ours = ((d @ r) / (d @ f) + 1) / 2, ((d @ down) / (d @ f) + 1) / 2
        if FACES[ours] in ("top", "bottom"):  # the reference samples rot180 of these faces
            s_ours, t_ours = 1 - s_ours, 1 - t_ours
        assert (s_ours, t_ours) == pytest.approx((s, t), abs=1e-12)
