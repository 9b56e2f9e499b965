"""Faces cut wider for the flow: the same pixel grid, and the motion cropped back to the face."""
from __future__ import annotations

import numpy as np
import pytest

from fav_core.errors import ConfigError, ShapeError
from fav_core.io import open_frames
from fav_core.motion import Motion
from fav_core.spherical.faces import FACES, FILE_IDS
from fav_core.spherical.flow_margin import crop_motion, widened
from fav_core.spherical.projection import CubeGeometry, CubeToFaces, EquirectToCube
from fav_core.spherical.sources import EquirectCubes, FaceFiles
from fav_core.spherical.synthetic import rotating_scene
from tests.support import read_png_u8, write_png

GEOM = CubeGeometry(48, 16)


def test_wide_view_has_the_face_in_its_centre() -> None:
    wide = widened(GEOM, 8)
    assert (wide.edge, wide.overlap, wide.core) == (64, 32, GEOM.core)
    scene = rotating_scene(128, 64, 0)
    faces = EquirectToCube(GEOM, (64, 128))(scene)
    wide_faces = EquirectToCube(wide, (64, 128))(scene)
    for f, w in zip(faces, wide_faces, strict=True):
        np.testing.assert_allclose(w[8:56, 8:56], f, atol=1e-6)
    with pytest.raises(ConfigError, match="flow margin must be 0..24 px"):
        widened(GEOM, -1)
    with pytest.raises(ConfigError, match="got 25"):
        widened(GEOM, 25)
    assert widened(GEOM, 24).edge == 96


def test_crop_motion() -> None:
    size, m, e = 12, 2, 8
    flow = np.zeros((size, size, 2), np.float32)
    flow[..., 0] = -1.5  # everything moved 1.5 px to the right since the previous frame
    motion = Motion(flow, np.ones((size, size), np.float32), "dis")
    out = crop_motion(motion, m, e)
    assert out.flow.shape == (e, e, 2) and out.reliable.shape == (e, e)
    np.testing.assert_array_equal(out.flow, flow[m:m + e, m:m + e])
    # columns 0 and 1 look 1.5 px left of the face's first column: nothing of the previous face there
    np.testing.assert_array_equal(out.reliable[:, :2], 0.0)
    np.testing.assert_array_equal(out.reliable[:, 2:], 1.0)
    assert "wider view" in out.source
    with pytest.raises(ShapeError, match="wide-view motion"):
        crop_motion(Motion(flow[:10, :10], np.ones((10, 10), np.float32), "dis"), m, e)


def test_equirect_source_cuts_flow_faces(tmp_path) -> None:  # type: ignore[no-untyped-def]
    write_png(tmp_path / "eq_0001.png", rotating_scene(128, 64, 0))
    plain = EquirectCubes(open_frames(str(tmp_path / "eq_%04d.png")), GEOM).read(1)
    cube = EquirectCubes(open_frames(str(tmp_path / "eq_%04d.png")), GEOM, flow_margin=8).read(1)
    assert plain.flow_faces is None and plain.flow_margin == 0
    assert cube.flow_faces is not None and cube.flow_margin == 8
    for face, wide in zip(cube.faces, cube.flow_faces, strict=True):
        assert wide.rgb.shape == (64, 64, 3) and wide.source == face.source
        np.testing.assert_allclose(wide.rgb[8:56, 8:56], face.rgb, atol=1e-6)


def test_host_vectors_on_the_wide_view_match_the_face() -> None:
    from fav_core.spherical.flow import EquirectFlowToCube

    rng = np.random.default_rng(0)
    to_prev = rng.normal(0, 1.5, (64, 128, 2)).astype(np.float32)
    plain = EquirectFlowToCube(GEOM, (64, 128))(to_prev, None, None)
    wide = EquirectFlowToCube(widened(GEOM, 8), (64, 128))(to_prev, None, None)
    for (p, _, pv), (w, _, wv) in zip(plain, wide, strict=True):
        np.testing.assert_allclose(w[8:56, 8:56], p, atol=1e-4)
        np.testing.assert_array_equal(wv[8:56, 8:56], pv)


def test_the_stylizer_computes_the_flow_on_the_wide_view() -> None:
    from tests.unit.test_spherical_stylizer import GEOM as SGEOM
    from tests.unit.test_spherical_stylizer import Scene, StillMotion, make

    seen: list[tuple[int, int]] = []

    class Recording(StillMotion):
        def motion(self, cur, prev):  # type: ignore[no-untyped-def]
            seen.append(cur.size)
            return super().motion(cur, prev)

    class WideScene(Scene):
        def __init__(self) -> None:
            super().__init__(2)
            self.wide = EquirectToCube(widened(SGEOM, 6), (64, 128))

        def read(self, index: int):  # type: ignore[no-untyped-def]
            cube = super().read(index)
            faces = self.wide(rotating_scene(128, 64, index - 1))
            cube.flow_faces = [type(f)(index, w, source=f.source) for f, w in zip(cube.faces, faces, strict=True)]
            cube.flow_margin = 6
            return cube

    s = make()
    s.motions = [Recording()] * 6
    results = list(s.run(WideScene()))
    assert seen == [(60, 60)] * 6  # frame 2's six faces, each on its 6-px wider view
    # still motion: the cropped flow is zero and reliable except nowhere (zero flow never leaves the face)
    for m in results[1].motions:
        assert m is not None and m.flow.shape == (48, 48, 2) and float(m.reliable.min()) == 1.0


def test_wide_views_from_the_faces_match_the_equirect_views() -> None:
    scene = rotating_scene(256, 128, 0)
    wide = widened(GEOM, 8)
    faces = EquirectToCube(GEOM, (128, 256))(scene)
    from_equirect = EquirectToCube(wide, (128, 256))(scene)
    views = CubeToFaces(GEOM, wide)(faces)
    for face, ref, view in zip(faces, from_equirect, views, strict=True):
        assert view.shape == (64, 64, 3)
        # the margin comes from the neighbouring faces: the same picture as cut from the equirect
        assert float(np.abs(view - ref).mean()) < 1e-3 and float(np.abs(view - ref).max()) < 0.01
        np.testing.assert_array_equal(view[16:48, 16:48], face[8:40, 8:40])  # cube face proper: the face itself
    same = CubeToFaces(GEOM, GEOM)(faces)
    for face, view in zip(faces, same, strict=True):
        np.testing.assert_array_equal(view[8:40, 8:40], face[8:40, 8:40])
    with pytest.raises(ShapeError, match="expected 6 cube faces"):
        CubeToFaces(GEOM, wide)(faces[:5])


def write_faces(folder, frames: int, geometry: CubeGeometry = GEOM, width: int = 256):  # type: ignore[no-untyped-def]
    project = EquirectToCube(geometry, (width // 2, width))
    for i in range(1, frames + 1):
        for name, face in zip(FACES, project(rotating_scene(width, width // 2, i - 1)), strict=True):
            write_png(folder / f"frame_{i:05d}-{FILE_IDS[name]}.png", face)
    return str(folder / "frame_%05d-%d.png")


def test_face_files_give_wider_views(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pattern = write_faces(tmp_path, 1)
    plain = FaceFiles(pattern, 16).read(1)
    cube = FaceFiles(pattern, 16, flow_margin=8).read(1)
    assert plain.flow_faces is None and plain.flow_margin == 0
    assert cube.flow_faces is not None and cube.flow_margin == 8
    equirect_views = EquirectToCube(widened(GEOM, 8), (128, 256))(rotating_scene(256, 128, 0))
    for face, wide, ref in zip(cube.faces, cube.flow_faces, equirect_views, strict=True):
        assert wide.rgb.shape == (64, 64, 3) and wide.source == face.source and wide.index == 1
        np.testing.assert_array_equal(wide.rgb[8:56, 8:56], face.rgb)  # exactly the face the stylizer warps
        assert float(np.abs(wide.rgb - ref).mean()) < 0.01  # 8-bit faces: the margin within a few 1/255
    assert read_png_u8(tmp_path / "frame_00001-1.png").shape == (48, 48, 3)
    with pytest.raises(ConfigError, match="flow margin must be 0..24"):
        FaceFiles(pattern, 16, flow_margin=25)
    with pytest.raises(ConfigError, match="own motion vectors"):
        FaceFiles(pattern, 16, flow_margin=8, vectors=True)


def test_face_files_flow_on_wider_views_is_reliable_at_the_borders(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fav_core.flow.providers import DISFlow
    from fav_core.motion import ComputedMotion

    # DIS needs faces of some size to gain from the margin (at 48 px it does not; the bench's faces are 160 px).
    geometry, edge, margin = CubeGeometry(160, 32), 160, 16
    pattern = write_faces(tmp_path, 2, geometry, 512)
    plain, wide = FaceFiles(pattern, 32), FaceFiles(pattern, 32, flow_margin=margin)
    motion = ComputedMotion(DISFlow("medium"))
    ring = np.ones((edge, edge), bool)
    ring[20:-20, 20:-20] = False
    (p1, p2), (w1, w2) = (plain.read(1), plain.read(2)), (wide.read(1), wide.read(2))
    assert w1.flow_faces is not None and w2.flow_faces is not None
    unreliable_plain, unreliable_wide = [], []
    for slot in range(6):
        unreliable_plain.append(1.0 - float(motion.motion(p2.faces[slot], p1.faces[slot]).reliable[ring].mean()))
        m = crop_motion(motion.motion(w2.flow_faces[slot], w1.flow_faces[slot]), margin, edge)
        unreliable_wide.append(1.0 - float(m.reliable[ring].mean()))
    # measured: 0.40 of the outer ring unreliable on the faces themselves, 0.18 on the wider views
    assert np.mean(unreliable_wide) < 0.6 * np.mean(unreliable_plain)
