"""Shared helpers of the Blender host tests (real ``bpy`` 5.0 wheel): load the extension, build a tiny scene,
write placeholder image sequences (and tiny random models: ``write_models`` is tests.support.write_tiny_models),
and record what a modal operator asks of the window manager (``FakeWindowManager``, ``FakeWorkspace``,
``FakeEvent``: the UI path without a UI).

The scene: 96x64 px, Cycles CPU, 2 samples, a perspective camera at distance 10 looking along +y and panning
+0.3 units/frame, a checker-textured quad (2x2 units, facing the camera at y=0) moving +0.6 x and +0.3 z per
frame, and a checker backdrop at y=10 that fills the view. All motion is LINEAR, frames 1-3. At 50 mm /
36 mm sensor and 96 px width, 1 unit at distance 10 is 13.33 px: the quad moves (+4, +4 up) px per frame on
screen and the backdrop (-2, 0).
"""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from tests.support import write_png
from tests.support import write_tiny_models as write_models  # noqa: F401 (imported by the test files)

ROOT = Path(__file__).resolve().parents[2]
ADDON_DIR = ROOT / "hosts" / "blender"
WIDTH, HEIGHT = 96, 64


def load_addon() -> ModuleType:
    """Import ``hosts/blender`` as the package ``fav_blender`` (what batch.py does), once per process."""
    if "fav_blender" in sys.modules:
        return sys.modules["fav_blender"]
    spec = importlib.util.spec_from_file_location("fav_blender", ADDON_DIR / "__init__.py",
                                                  submodule_search_locations=[str(ADDON_DIR)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fav_blender"] = module
    spec.loader.exec_module(module)
    return module


def write_png_sequence(folder: Path, n: int, h: int = 24, w: int = 32, prefix: str = "shot_") -> list[Path]:
    """``n`` textured frames panning right 1 px per frame: ``<prefix>0001.png`` ..."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    big = rng.random((h, w + n + 2, 3)).astype(np.float32)
    paths = []
    for i in range(1, n + 1):
        path = folder / f"{prefix}{i:04d}.png"
        write_png(path, big[:, i:i + w])
        paths.append(path)
    return paths


def _checker_material(bpy: Any, name: str, scale: float) -> Any:
    mat = bpy.data.materials.new(name)
    if mat.node_tree is None:  # 4.x: node trees are opt-in (5.0 always has one; use_nodes is deprecated)
        mat.use_nodes = True
    nodes = mat.node_tree.nodes
    checker = nodes.new("ShaderNodeTexChecker")
    checker.inputs["Scale"].default_value = scale
    mat.node_tree.links.new(checker.outputs["Color"], nodes["Principled BSDF"].inputs["Base Color"])
    return mat


def _quad(bpy: Any, scene: Any, name: str, size: float, location: tuple[float, float, float], mat: Any) -> Any:
    mesh = bpy.data.meshes.new(name)
    h = size / 2
    mesh.from_pydata([(-h, 0, -h), (h, 0, -h), (h, 0, h), (-h, 0, h)], [], [(0, 1, 2, 3)])
    mesh.uv_layers.new()
    mesh.materials.append(mat)
    obj = bpy.data.objects.new(name, mesh)
    scene.collection.objects.link(obj)
    obj.location = location
    return obj


def _linear_keys(obj: Any, keys: dict[int, tuple[float, float, float]]) -> None:
    for frame, loc in keys.items():
        obj.location = loc
        obj.keyframe_insert("location", frame=frame)
    for layer in obj.animation_data.action.layers:  # 4.4+ slotted actions
        for strip in layer.strips:
            for bag in strip.channelbags:
                for fc in bag.fcurves:
                    fc.extrapolation = "LINEAR"
                    for kp in fc.keyframe_points:
                        kp.interpolation = "LINEAR"


def build_scene() -> Any:
    """Reset Blender to an empty file and build the test scene (see module docstring); returns the scene."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 2
    scene.cycles.use_denoising = False
    scene.cycles.use_adaptive_sampling = False
    scene.render.threads_mode = "FIXED"
    scene.render.threads = 1
    scene.render.resolution_x, scene.render.resolution_y = WIDTH, HEIGHT
    scene.render.resolution_percentage = 100
    scene.render.use_motion_blur = False
    scene.frame_start, scene.frame_end = 1, 3
    _quad(bpy, scene, "Backdrop", 40.0, (0.0, 10.0, 0.0), _checker_material(bpy, "BackdropMat", 20.0))
    quad = _quad(bpy, scene, "Quad", 2.0, (0.0, 0.0, 0.0), _checker_material(bpy, "QuadMat", 4.0))
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(cam)
    cam.rotation_euler = (math.radians(90), 0.0, 0.0)
    scene.camera = cam
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    scene.collection.objects.link(sun)
    sun.rotation_euler = (math.radians(60), 0.0, 0.0)
    _linear_keys(quad, {1: (-0.6, 0.0, -0.3), 3: (0.6, 0.0, 0.3)})
    _linear_keys(cam, {1: (-0.3, -10.0, 0.0), 3: (0.3, -10.0, 0.0)})
    return scene


def screen_position(scene: Any, obj_name: str, frame: int) -> np.ndarray:
    """Pixel position (x right, y **down**, pixel centres on integers) of an object's origin at ``frame``.

    Uses ``bpy_extras.object_utils.world_to_camera_view`` (normalised camera coords, origin bottom-left).
    """
    import bpy
    from bpy_extras.object_utils import world_to_camera_view

    current = scene.frame_current
    scene.frame_set(frame)
    ndc = world_to_camera_view(scene, scene.camera, bpy.data.objects[obj_name].matrix_world.translation.copy())
    scene.frame_set(current)
    return np.array([ndc.x * WIDTH - 0.5, (1.0 - ndc.y) * HEIGHT - 0.5])


class FakeWindowManager:
    """The window-manager calls a modal operator makes (records them)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def event_timer_add(self, step: float, window: object = None) -> str:
        self.calls.append("timer_add")
        return "timer"

    def event_timer_remove(self, timer: str) -> None:
        self.calls.append("timer_remove")

    def modal_handler_add(self, op: object) -> None:
        self.calls.append("modal_handler_add")

    def progress_begin(self, a: int, b: int) -> None:
        self.calls.append("progress_begin")

    def progress_update(self, v: int) -> None:
        self.calls.append("progress_update")

    def progress_end(self) -> None:
        self.calls.append("progress_end")


class FakeWorkspace:
    """``workspace.status_text_set`` (records the texts)."""

    def __init__(self) -> None:
        self.texts: list[str | None] = []

    def status_text_set(self, text: str | None) -> None:
        self.texts.append(text)


class FakeEvent:
    """A window-manager event (``type``, ``value``) as a modal operator sees it."""

    def __init__(self, type: str, value: str = "NOTHING") -> None:
        self.type, self.value = type, value
