"""``fav stylize-360 --flow pass``: cube-face and equirect EXRs with Blender Vector channels for a known rotation."""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pytest

from fav_core.cli.stylize_360 import _motion, _open_input, add_parser
from fav_core.errors import InputError
from fav_core.io import srgb_to_linear, write_exr
from fav_core.motion import PassMotion
from fav_core.spherical.faces import FACES, FILE_IDS
from fav_core.spherical.projection import CubeGeometry, EquirectToCube
from fav_core.spherical.synthetic import rotating_scene, rotation_y
from fav_core.warp import warp_backward_np
from tests.e2e.test_stylize_360 import base, fav, model  # noqa: F401 (fixture)
from tests.unit.test_spherical_flow import equirect_flow, face_flow

GEOM = CubeGeometry(40, 8)
DEG = 3.0  # rotation per frame about the vertical axis


def write_faces(folder: Path, frames: int = 2, vectors: bool = True) -> str:
    """Cube-face EXRs of the rotating scene; Blender Vector pass: X, Y = backward (dx, −dy); Z, W = (−fwd dx, fwd dy)."""
    project = EquirectToCube(GEOM, (80, 160))
    for t in range(1, frames + 1):
        faces = project(rotating_scene(160, 80, t - 1, DEG))
        for name, face in zip(FACES, faces, strict=True):
            extra = None
            if vectors:  # frame t -> t-1: direction d was at R(θ)·d
                extra = blender_vectors(face_flow(name, rotation_y(DEG), GEOM), face_flow(name, rotation_y(-DEG), GEOM))
            write_exr(folder / f"frame_{t:05d}-{FILE_IDS[name]}.exr", srgb_to_linear(face), extra=extra)
    return str(folder / "frame_%05d-%d.exr")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fav")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_known_rotation_flow_is_self_consistent() -> None:
    """The test's own ground truth: warping frame t−1's face with its backward flow gives frame t's face."""
    project = EquirectToCube(GEOM, (80, 160))
    prev, cur = project(rotating_scene(160, 80, 0, DEG)), project(rotating_scene(160, 80, 1, DEG))
    inner = slice(6, GEOM.edge - 6)
    for slot, name in enumerate(FACES):
        flow = face_flow(name, rotation_y(DEG), GEOM)
        warped = warp_backward_np(prev[slot], flow)
        err = np.abs(warped - cur[slot])[inner, inner].mean()
        still = np.abs(prev[slot] - cur[slot])[inner, inner].mean()
        assert err < 0.2 * still, (name, err, still)
    # top and bottom turn in their image plane: the flow at the face centre is zero, at the corners ≈ θ·radius
    top = face_flow("top", rotation_y(DEG), GEOM)
    c = GEOM.edge // 2
    assert np.abs(top[c - 1:c + 1, c - 1:c + 1]).max() < 0.2
    assert float(np.linalg.norm(top[0, 0])) == pytest.approx(math.radians(DEG) * math.hypot(c - 0.5, c - 0.5),
                                                           rel=0.02)


def test_pass_vectors_reach_each_face_motion(tmp_path: Path) -> None:
    pattern = write_faces(tmp_path)
    args = parse(["stylize-360", pattern, "-o", str(tmp_path / "out"), "--overlap", str(GEOM.overlap),
                  "--flow", "pass"])
    cubes, _ = _open_input(args)
    motion = _motion(args)
    assert isinstance(motion, PassMotion)
    prev, cur = cubes.read(1), cubes.read(2)
    for slot, name in enumerate(FACES):
        m = motion.motion(cur.faces[slot], prev.faces[slot])
        assert m.source == "pass", name  # no pixel needed the computed fallback
        np.testing.assert_allclose(m.flow, face_flow(name, rotation_y(DEG), GEOM), atol=1e-5, err_msg=name)
        assert cur.faces[slot].flow_to_next is not None
        # rigid rotation, no occlusion: the consistency check keeps the face interior
        assert m.reliable[8:-8, 8:-8].mean() > 0.9, name


def test_pass_run_end_to_end(tmp_path: Path, model: str) -> None:  # noqa: F811
    pattern = write_faces(tmp_path)
    out = tmp_path / "out"
    assert fav(base(pattern, out, model, "--overlap", str(GEOM.overlap), "--flow", "pass")) == 0
    assert (out / "frame_00002.exr").is_file()  # EXR faces in -> EXR equirect out


def test_pass_needs_vectors(tmp_path: Path, model: str) -> None:  # noqa: F811
    pattern = write_faces(tmp_path, vectors=False)
    with pytest.raises(InputError, match="vector"):
        fav(base(pattern, tmp_path / "out", model, "--overlap", str(GEOM.overlap), "--flow", "pass"))
    assert not (tmp_path / "out").exists()


def blender_vectors(backward: np.ndarray, forward: np.ndarray) -> dict[str, np.ndarray]:
    """Blender Vector pass channels (y up) from our backward / forward flows (y down)."""
    return {"ViewLayer.Vector.X": backward[..., 0], "ViewLayer.Vector.Y": -backward[..., 1],
            "ViewLayer.Vector.Z": -forward[..., 0], "ViewLayer.Vector.W": forward[..., 1]}


def test_pass_on_equirect_input_reprojects_the_vectors(tmp_path: Path, model: str) -> None:  # noqa: F811
    """Equirect EXRs with a panoramic camera's Vector pass: every face gets the flow of the known rotation."""
    w, h = 160, 80
    for t in (1, 2):
        write_exr(tmp_path / f"eq_{t:04d}.exr", srgb_to_linear(rotating_scene(w, h, t - 1, DEG)),
                  extra=blender_vectors(equirect_flow(rotation_y(DEG), w, h), equirect_flow(rotation_y(-DEG), w, h)))
    pattern = str(tmp_path / "eq_%04d.exr")
    args = parse(["stylize-360", pattern, "-o", str(tmp_path / "out"), "--cube-edge", str(GEOM.edge),
                  "--overlap", str(GEOM.overlap), "--flow", "pass"])
    cubes, _ = _open_input(args)
    motion = _motion(args)
    prev, cur = cubes.read(1), cubes.read(2)
    for slot, name in enumerate(FACES):
        m = motion.motion(cur.faces[slot], prev.faces[slot])
        assert m.source == "pass", name
        np.testing.assert_allclose(m.flow, face_flow(name, rotation_y(DEG), GEOM), atol=1e-3, err_msg=name)
    assert fav(base(pattern, tmp_path / "out", model, "--cube-edge", str(GEOM.edge), "--overlap",
                    str(GEOM.overlap), "--flow", "pass")) == 0
    assert (tmp_path / "out" / "frame_00002.exr").is_file()


def test_pass_on_equirect_without_vectors_is_refused(tmp_path: Path, model: str) -> None:  # noqa: F811
    write_exr(tmp_path / "eq_0001.exr", srgb_to_linear(rotating_scene(32, 16, 0)))
    with pytest.raises(InputError, match="vector"):
        fav(base(str(tmp_path / "eq_%04d.exr"), tmp_path / "out", model, "--flow", "pass"))
