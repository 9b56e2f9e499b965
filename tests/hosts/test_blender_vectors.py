"""Real bpy: the extension's render step writes multilayer EXR with a Vector pass whose flow, read with
fav_core.io and converted with fav_core.flow.convert, matches the projected screen-space motion."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from blender_support import HEIGHT, WIDTH, build_scene, load_addon, screen_position  # noqa: E402

from fav_core.flow.convert import blender_backward, blender_forward  # noqa: E402
from fav_core.io import read_exr_channels  # noqa: E402

pytestmark = pytest.mark.host

addon = load_addon()
from fav_blender import render  # noqa: E402
from fav_blender.errors import HostError  # noqa: E402
from fav_blender.operators_compositor import choose_flow  # noqa: E402


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Frames 1-3 of the test scene rendered by ``render.render_frames``, plus the projected positions."""
    scene = build_scene()
    folder = tmp_path_factory.mktemp("renders")
    settings_before = _output_settings(scene)
    paths = render.render_frames(scene, range(1, 4), folder)
    return {
        "paths": paths,
        "settings_before": settings_before,
        "settings_after": _output_settings(scene),
        "quad": {f: screen_position(scene, "Quad", f) for f in (1, 2, 3)},
        "backdrop": {f: screen_position(scene, "Backdrop", f) for f in (1, 2, 3)},
    }


def _output_settings(scene: Any) -> dict[str, Any]:
    ims = scene.render.image_settings
    return {
        "filepath": scene.render.filepath,
        "media_type": ims.media_type,
        "file_format": ims.file_format,
        "color_depth": ims.color_depth,
        "use_compositing": scene.render.use_compositing,
        "vector": scene.view_layers[0].use_pass_vector,
        "frame": scene.frame_current,
    }


def _vector(path: Path) -> np.ndarray:
    channels = read_exr_channels(path)
    names = [n for n in channels if ".Vector." in n]
    assert sorted(n[-1] for n in names) == ["W", "X", "Y", "Z"], sorted(channels)
    by = {n[-1]: channels[n] for n in names}
    return np.stack([by["X"], by["Y"], by["Z"], by["W"]], axis=-1)


def _patch(flow: np.ndarray, centre: np.ndarray, r: int = 2) -> np.ndarray:
    x, y = int(round(centre[0])), int(round(centre[1]))
    return flow[y - r:y + r + 1, x - r:x + r + 1].reshape(-1, 2)


def test_render_writes_multilayer_exr_per_frame(rendered: dict[str, Any]) -> None:
    paths = rendered["paths"]
    assert [p.name for p in paths] == ["render_0001.exr", "render_0002.exr", "render_0003.exr"]
    channels = read_exr_channels(paths[0])
    assert {"ViewLayer.Combined.R", "ViewLayer.Vector.X", "ViewLayer.Vector.W"} <= set(channels)
    assert channels["ViewLayer.Combined.R"].shape == (HEIGHT, WIDTH)
    assert channels["ViewLayer.Combined.R"].std() > 0.01  # the checker texture is there


def test_render_restores_the_users_settings(rendered: dict[str, Any]) -> None:
    assert rendered["settings_after"] == rendered["settings_before"]
    assert rendered["settings_before"]["vector"] is False


def test_expected_motion_of_the_test_scene(rendered: dict[str, Any]) -> None:
    quad, back = rendered["quad"], rendered["backdrop"]
    np.testing.assert_allclose(quad[2] - quad[1], [4.0, -4.0], atol=1e-3)  # right and up (y down)
    np.testing.assert_allclose(back[2] - back[1], [-2.0, 0.0], atol=1e-3)  # camera pans right


@pytest.mark.parametrize("obj", ["quad", "backdrop"])
def test_backward_flow_from_vector_pass_matches_projection(rendered: dict[str, Any], obj: str) -> None:
    pos = rendered[obj]
    flow = blender_backward(_vector(rendered["paths"][1]))  # frame 2 -> frame 1
    centre = pos[2] if obj == "quad" else np.array([4.0, 4.0])
    expected = pos[1] - pos[2]  # where the surface point was in frame 1, relative to frame 2
    got = _patch(flow, centre)
    np.testing.assert_allclose(got, np.broadcast_to(expected, got.shape), atol=0.05)
    assert np.sign(expected[0]) == (-1 if obj == "quad" else 1)  # both horizontal directions covered


@pytest.mark.parametrize("obj", ["quad", "backdrop"])
def test_forward_flow_from_vector_pass_matches_projection(rendered: dict[str, Any], obj: str) -> None:
    pos = rendered[obj]
    flow = blender_forward(_vector(rendered["paths"][1]))  # frame 2 -> frame 3
    centre = pos[2] if obj == "quad" else np.array([WIDTH - 5.0, HEIGHT - 5.0])
    expected = pos[3] - pos[2]
    got = _patch(flow, centre)
    np.testing.assert_allclose(got, np.broadcast_to(expected, got.shape), atol=0.05)


def test_quad_pixels_and_backdrop_pixels_move_differently(rendered: dict[str, Any]) -> None:
    flow = blender_backward(_vector(rendered["paths"][2]))  # frame 3
    quad_px = _patch(flow, rendered["quad"][3])
    assert np.all(quad_px[:, 0] < -3.9) and np.all(quad_px[:, 1] > 3.9)
    assert np.all(np.abs(flow[:3, :3, 0] - 2.0) < 0.05)


def test_render_pass_flow_needs_an_engine_with_a_vector_pass() -> None:
    scene = build_scene()
    scene.render.engine = "BLENDER_WORKBENCH"
    with pytest.raises(HostError, match="BLENDER_WORKBENCH writes no Vector pass"):
        choose_flow(scene, "pass")
    assert choose_flow(scene, "dis") == ("dis", [])


def test_motion_blur_falls_back_to_computed_flow() -> None:
    scene = build_scene()
    scene.render.use_motion_blur = True
    flow, notes = choose_flow(scene, "pass")
    assert flow == "dis"
    assert notes == ["motion blur is on, so the Vector pass holds no usable motion: using computed DIS flow instead"]


def test_missing_renders_are_named(tmp_path: Path) -> None:
    with pytest.raises(HostError, match=r"render_0002\.exr: rendered frame missing \(2 of 3 missing\)"):
        (tmp_path / "render_0001.exr").write_bytes(b"")
        render.existing_renders(tmp_path, range(1, 4))


def test_renders_without_vector_pass_are_refused(tmp_path: Path) -> None:
    scene = build_scene()
    scene.render.image_settings.media_type = "MULTI_LAYER_IMAGE"
    scene.render.filepath = str(tmp_path / "render_0001.exr")
    bpy.ops.render.render(write_still=True)
    with pytest.raises(HostError, match="rendered without the Vector pass"):
        render.check_vector_channels(tmp_path / "render_0001.exr")


def test_core_reads_the_pass_so_that_the_warped_prior_lands_on_the_current_frame(rendered: dict[str, Any]) -> None:
    """End to end through the core's own path for ``--flow pass --vectors blender`` (what the host asks for):
    read the host's renders, build the motion, warp frame 1 with it. The warp must reproduce frame 2 where the
    check calls it reliable, and clearly better than the opposite sign would."""
    from fav_core.flow.providers import make_provider
    from fav_core.io.imagefile import read_image_frame
    from fav_core.motion import ComputedMotion, PassMotion
    from fav_core.warp import warp_backward_np

    paths, quad = rendered["paths"], rendered["quad"]
    prev, cur = (read_image_frame(paths[i - 1], i, vectors=True, vector_convention="blender") for i in (1, 2))
    motion = PassMotion(ComputedMotion(make_provider("dis"))).motion(cur, prev)
    x, y = (int(round(v)) for v in quad[2])
    np.testing.assert_allclose(motion.flow[y, x], quad[1] - quad[2], atol=0.05)  # (-4, +4): from the pass
    inner = np.zeros(motion.reliable.shape, bool)
    inner[3:-3, 3:-3] = True
    inner &= motion.reliable > 0.5
    assert inner.mean() > 0.7
    errors = {}
    for sign in (1, -1):
        warped = warp_backward_np(prev.rgb, sign * motion.flow)
        errors[sign] = float(np.abs(warped - cur.rgb).mean(-1)[inner].mean())
    assert errors[1] < 0.05
    assert errors[-1] > 3 * errors[1]


def test_core_pass_motion_of_a_backward_run_points_to_the_next_frame(rendered: dict[str, Any]) -> None:
    """A Backward run warps frame t+1's output to frame t: it needs the flow t -> t+1 (the pass's Z, W half)."""
    from fav_core.flow.providers import make_provider
    from fav_core.io.imagefile import read_image_frame
    from fav_core.motion import ComputedMotion, PassMotion

    paths, quad = rendered["paths"], rendered["quad"]
    cur, nxt = (read_image_frame(paths[i - 1], i, vectors=True, vector_convention="blender") for i in (2, 3))
    motion = PassMotion(ComputedMotion(make_provider("dis"))).motion(cur, nxt)  # what the stylizer asks, backward
    x, y = (int(round(v)) for v in quad[2])
    np.testing.assert_allclose(motion.flow[y, x], quad[3] - quad[2], atol=0.05)
