"""``hosts/blender/batch.py --equirect`` with the real bpy wheel: an equirectangular panorama rendered with Cycles
(camera PANO / EQUIRECTANGULAR), its Vector pass, and the spherical pipeline (``fav stylize-360``) on it."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from blender_support import ADDON_DIR, ROOT, build_scene, load_addon, write_models  # noqa: E402

from fav_core.io import open_frames, read_exr_channels  # noqa: E402
from fav_core.motion import Motion, PassMotion  # noqa: E402
from fav_core.spherical.faces import FACES  # noqa: E402
from fav_core.spherical.projection import CubeGeometry  # noqa: E402
from fav_core.spherical.sources import EquirectCubes  # noqa: E402
from fav_core.types import Frame  # noqa: E402
from fav_core.warp import warp_backward_np  # noqa: E402

pytestmark = pytest.mark.host

BATCH = ADDON_DIR / "batch.py"
W, H = 64, 32
CUBE = ["--cube-edge", "24", "--overlap", "8"]


def equirect_scene() -> object:
    """The shared test scene at 64x32, 1 sample, frames 1-2."""
    scene = build_scene()
    scene.render.resolution_x, scene.render.resolution_y = W, H
    scene.cycles.samples = 1
    scene.frame_start, scene.frame_end = 1, 2
    return scene


class NoMotion:
    """Fallback that claims no motion, so that only the host vectors can make the warp fit."""

    def motion(self, cur: Frame, prev: Frame) -> Motion:
        return Motion(np.zeros((*cur.size, 2), np.float32), np.ones(cur.size, np.float32), "none")


def save(path: Path) -> Path:
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


def _batch(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FAV_PYTHON", "FAV_CORE_MODE")}
    return subprocess.run([sys.executable, str(BATCH), *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=300, check=False)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return write_models(tmp_path_factory.mktemp("models"))


def test_equirect_camera_is_set_and_restored() -> None:
    render = load_addon().render
    scene = equirect_scene()
    cam = scene.camera.data
    with render.equirect_camera(scene):
        assert (cam.type, cam.panorama_type) == ("PANO", "EQUIRECTANGULAR")
        assert cam.longitude_max - cam.longitude_min == pytest.approx(2 * math.pi)
        assert cam.latitude_max - cam.latitude_min == pytest.approx(math.pi)
    assert cam.type == "PERSP"
    assert cam.panorama_type != "EQUIRECTANGULAR"  # the factory default (fisheye) is back


def test_batch_equirect_renders_and_stylizes(tmp_path: Path, models: tuple[str, str]) -> None:
    equirect_scene()
    blend = save(tmp_path / "scene.blend")
    out = tmp_path / "out"
    done = _batch(str(blend), "--model", models[0], "--image-model", models[1], "--out", str(out), "--equirect",
                  *CUBE, "--median-filter", "1")
    assert done.returncode == 0, done.stderr
    assert "2 frames stylized" in done.stderr
    renders = sorted(p.name for p in (out / "render_equirect").glob("*.exr"))
    assert renders == ["render_0001.exr", "render_0002.exr"]
    assert not (out / "render").exists()
    channels = read_exr_channels(out / "render_equirect" / "render_0002.exr")
    assert channels["ViewLayer.Combined.R"].shape == (H, W)
    assert "ViewLayer.Vector.X" in channels
    assert "ViewLayer.Depth.Z" in channels  # marks the world, which has no motion vectors
    for i in (1, 2):
        stylized = read_exr_channels(out / f"stylized_{i:04d}.exr")
        assert stylized["R"].shape == (H, W)  # the equirect output has the render's size
    settings = json.loads((out / ".fav-state" / "settings.json").read_text())
    assert (settings["mode"], settings["cube_edge"], settings["overlap"]) == ("stylize-360", 24, 8)
    assert settings["flow"] == "pass"  # Cycles: the panorama's Vector pass, reprojected to the faces


def test_panorama_vector_pass_fits_the_faces(tmp_path: Path) -> None:
    """The camera turns 11.25° per frame about the vertical: Cycles' equirect Vector pass, reprojected to the
    cube faces, warps frame 1's faces onto frame 2's far better than no motion."""
    render = load_addon().render
    scene = equirect_scene()
    cam = scene.camera
    cam.animation_data_clear()
    cam.location = (0.0, 0.0, 0.0)
    for frame, degrees in ((1, 0.0), (2, 11.25)):
        cam.rotation_euler = (math.radians(90), 0.0, math.radians(degrees))
        cam.keyframe_insert("rotation_euler", frame=frame)
    scene.world = bpy.data.worlds.new("Black")
    with render.equirect_camera(scene):
        render.render_frames(scene, range(1, 3), tmp_path)
    channels = read_exr_channels(tmp_path / "render_0002.exr")
    x, depth = channels["ViewLayer.Vector.X"], channels["ViewLayer.Depth.Z"]
    assert np.median(x[x != 0]) == pytest.approx(-2.0, abs=0.05)  # 11.25° of 360° at 64 px: content moves right
    assert (depth[x == 0] > 1e9).mean() > 0.8  # zero vectors are mostly the world: the core distrusts them
    assert not scene.view_layers[0].use_pass_z  # the render settings are restored
    cubes = EquirectCubes(open_frames(str(tmp_path / "render_%04d.exr"), vectors=True), CubeGeometry(24, 8))
    prev, cur = cubes.read(1), cubes.read(2)
    motion = PassMotion(fallback=NoMotion())
    checked = 0
    for slot, name in enumerate(FACES):
        a, b = prev.faces[slot], cur.faces[slot]
        m = motion.motion(b, a)
        # surface pixels that carry motion (Cycles writes none for the world) and pass the consistency check
        moving = (m.reliable > 0.5) & (np.linalg.norm(m.flow, axis=-1) > 0.5)
        moving[:4], moving[-4:], moving[:, :4], moving[:, -4:] = False, False, False, False
        if moving.sum() < 20:
            continue
        err = float(np.abs(warp_backward_np(a.rgb, m.flow) - b.rgb)[moving].mean())
        still = float(np.abs(a.rgb - b.rgb)[moving].mean())
        print(name, int(moving.sum()), round(err, 4), round(still, 4))
        assert err < 0.6 * still, (name, err, still)
        checked += 1
    assert checked >= 2


def test_batch_equirect_refuses_what_it_cannot_do(tmp_path: Path, models: tuple[str, str]) -> None:
    scene = equirect_scene()
    scene.render.engine = "BLENDER_EEVEE"
    eevee = save(tmp_path / "eevee.blend")
    done = _batch(str(eevee), "--model", models[0], "--out", str(tmp_path / "o1"), "--equirect")
    assert done.returncode == 2
    assert "render engine BLENDER_EEVEE cannot render panoramic cameras" in done.stderr
    assert not (tmp_path / "o1" / "render_equirect").exists()
    equirect_scene()
    cycles = save(tmp_path / "cycles.blend")
    done = _batch(str(cycles), "--model", models[0], "--out", str(tmp_path / "o2"), "--equirect", "--backward")
    assert done.returncode == 2 and "forward only" in done.stderr
    done = _batch(str(cycles), "--model", models[0], "--out", str(tmp_path / "o3"), *CUBE)
    assert done.returncode == 2 and "need --equirect" in done.stderr
