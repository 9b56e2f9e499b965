"""Render a scene's frames to multilayer EXR with the Vector pass, for the core's ``--flow pass``.

The user's render settings are changed only for the duration of :func:`exr_output` and restored afterwards
(output path, file format, Vector and Depth passes, compositing). Compositing is switched off while rendering so that a
stylized sequence already wired into the compositor never feeds back into the renders.

Vector pass facts (shared/reference/hosts.md §A2): Cycles and EEVEE write it, Workbench does not; with motion
blur on, Blender still writes Vector channels but they carry no usable motion, so the host falls back to
computed flow. The conversion of the vectors to our flow convention happens in the core
(``fav_core.flow.convert``), never here.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bpy

from . import compat
from .errors import HostError
from .exrheader import exr_channel_names, has_vector_pass
from .paths import ensure_dir

log = logging.getLogger(__name__)

#: printf pattern of the rendered frames inside the render folder (what ``fav stylize`` reads).
RENDER_PATTERN = "render_%04d.exr"


def render_path(folder: Path, frame: int) -> Path:
    """The EXR file of ``frame`` in ``folder``."""
    return folder / (RENDER_PATTERN % frame)


def vector_pass_problem(scene: Any) -> str:
    """Why this scene cannot give usable render-pass flow ("" when it can).

    Covers the engine (Workbench writes no Vector pass) and motion blur (vectors carry no motion then).
    """
    engine = scene.render.engine
    if engine not in compat.VECTOR_PASS_ENGINES:
        return f"render engine {engine} writes no Vector pass (use Cycles or EEVEE)"
    if scene.render.use_motion_blur:
        return "motion blur is on, so the Vector pass holds no usable motion"
    return ""


def working_space_note() -> str:
    """A warning when the scene-linear working space is not Linear Rec.709 ("" otherwise).

    The core decodes EXR frames as Linear Rec.709 (Blender's default and the only 4.x working space).
    """
    colorspace = getattr(bpy.data, "colorspace", None)
    interop = getattr(colorspace, "working_space_interop_id", "lin_rec709_scene") if colorspace else ""
    if interop and interop != "lin_rec709_scene":
        return f"working space is {interop}; the core assumes Linear Rec.709, colours may shift"
    return ""


def stylized_layer(scene: Any, preferred: str = "") -> tuple[str, str]:
    """The view layer whose render is stylized, and a note when others are left out ("" otherwise).

    With compositing off (see :func:`exr_output`) every view layer lands in the EXR on its own, and the core
    reads one Combined and one Vector pass; so exactly one layer is rendered: ``preferred`` (the artist's
    current layer) when it renders, else the first that does.

    Raises:
        HostError: ``preferred`` names no layer of the scene, or no layer is enabled for rendering.
    """
    enabled = [vl.name for vl in scene.view_layers if vl.use]
    if preferred and preferred not in scene.view_layers:
        names = ", ".join(f"'{vl.name}'" for vl in scene.view_layers)
        raise HostError(f"scene '{scene.name}' has no view layer '{preferred}' (it has {names})")
    if not enabled:
        raise HostError(f"scene '{scene.name}': no view layer is enabled for rendering (View Layer > Use for "
                        "Rendering)")
    name = preferred if preferred in enabled else enabled[0]
    others = [n for n in enabled if n != name]
    if not others:
        return name, ""
    return name, (f"only view layer '{name}' is stylized (the scene renders {len(enabled)}; the compositor "
                  "does not run for these renders)")


@contextmanager
def exr_output(scene: Any, *, vector_pass: bool, layer: str = "") -> Iterator[None]:
    """Temporarily set ``scene`` to write 32-bit multilayer EXR (+ Vector and Depth passes), compositing off.

    The Depth pass lets the core tell Cycles' world background (depth 1e10, no motion vectors) from surfaces
    that did not move, and use computed flow there (fav_core.flow.vectors). ``layer``: render only this view
    layer (the others are switched off meanwhile; two layers would give the core two Combined and two Vector
    passes to choose from); "" = the layers as they are."""
    rd = scene.render
    ims = rd.image_settings
    saved_render = {k: getattr(rd, k) for k in ("filepath", "use_file_extension", "use_compositing")}
    saved_media = getattr(ims, "media_type", None)
    saved_image = {k: getattr(ims, k) for k in ("file_format", "color_depth", "exr_codec", "color_mode")}
    saved_layers = {vl.name: (vl.use_pass_vector, vl.use_pass_z, vl.use) for vl in scene.view_layers}
    try:
        compat.set_multilayer_exr(ims)
        rd.use_file_extension = True
        rd.use_compositing = False
        for vl in scene.view_layers:
            if layer:
                vl.use = vl.name == layer
            if vector_pass:
                vl.use_pass_vector = True
                vl.use_pass_z = True  # Depth marks Cycles' world, which has no motion vectors (hosts.md §A2)
        yield
    finally:
        for name, (vector, depth, use) in saved_layers.items():
            if name in scene.view_layers:
                scene.view_layers[name].use_pass_vector = vector
                scene.view_layers[name].use_pass_z = depth
                scene.view_layers[name].use = use
        if saved_media is not None:
            ims.media_type = saved_media
        for key, value in saved_image.items():
            _try_set(ims, key, value)
        for key, value in saved_render.items():
            setattr(rd, key, value)


#: Camera data settings :func:`equirect_camera` changes (and restores).
_PANO_KEYS = ("type", "panorama_type", "latitude_min", "latitude_max", "longitude_min", "longitude_max")


def equirect_problem(scene: Any) -> str:
    """Why ``scene`` cannot be rendered as a full equirectangular panorama ("" when it can).

    Panoramic cameras are a Cycles feature (EEVEE and Workbench render them as perspective).
    """
    if scene.camera is None:
        return f"scene '{scene.name}' has no camera to render with"
    if scene.camera.type != "CAMERA":
        return f"the scene camera '{scene.camera.name}' is a {scene.camera.type.lower()}, not a camera"
    if scene.render.engine != "CYCLES":
        return f"render engine {scene.render.engine} cannot render panoramic cameras (use Cycles)"
    return ""


@contextmanager
def equirect_camera(scene: Any) -> Iterator[None]:
    """Temporarily make the scene camera a full-sphere equirectangular panorama (restored afterwards).

    Blender 4.x/5.0 API: ``Camera.type = 'PANO'``, ``Camera.panorama_type = 'EQUIRECTANGULAR'`` and the
    latitude/longitude range on the camera data (±90°, ±180°: the whole sphere). The image centre looks along
    the camera's view direction; use a 2:1 resolution.

    Raises:
        HostError: :func:`equirect_problem` is not empty.
    """
    import math

    problem = equirect_problem(scene)
    if problem:
        raise HostError(f"cannot render an equirectangular panorama: {problem}")
    cam = scene.camera.data
    if not hasattr(cam, "panorama_type"):
        raise HostError("this Blender has no Camera.panorama_type (Blender 4.0 or newer is needed)")
    saved = {k: getattr(cam, k) for k in _PANO_KEYS}
    width, height = scene.render.resolution_x, scene.render.resolution_y
    if width != 2 * height:
        log.warning("equirectangular render at %dx%d; a 2:1 resolution keeps pixels square", width, height)
    try:
        cam.type = "PANO"
        cam.panorama_type = "EQUIRECTANGULAR"
        cam.latitude_min, cam.latitude_max = -math.pi / 2, math.pi / 2
        cam.longitude_min, cam.longitude_max = -math.pi, math.pi
        yield
    finally:
        for key in _PANO_KEYS:
            _try_set(cam, key, saved[key])


def _try_set(obj: Any, key: str, value: Any) -> None:
    """Restore a setting whose valid values depend on another one (file_format after media_type)."""
    try:
        setattr(obj, key, value)
    except (TypeError, AttributeError):
        log.debug("could not restore %s = %r", key, value)


def render_frame(scene: Any, frame: int, folder: Path) -> Path:
    """Render ``frame`` of ``scene`` into ``folder`` (inside :func:`exr_output`); returns the file.

    Raises:
        HostError: the folder cannot be written, the render failed, or Blender did not write the file
            (render cancelled).
    """
    path = render_path(folder, frame)
    ensure_dir(folder)
    scene.frame_set(frame)
    scene.render.filepath = str(path)
    try:
        bpy.ops.render.render(write_still=True, scene=scene.name)
    except RuntimeError as exc:  # Blender's report of a failed render ("Error: ...")
        reason = str(exc).strip().splitlines()[0].removeprefix("Error: ") if str(exc).strip() else "failed"
        raise HostError(f"{path}: rendering frame {frame} failed ({reason})") from exc
    if not path.is_file():
        raise HostError(f"{path}: Blender did not write the rendered frame {frame}")
    return path


def render_frames(
    scene: Any,
    frames: range,
    folder: Path,
    *,
    on_frame: Callable[[int, Path], bool] | None = None,
    layer: str = "",
) -> list[Path]:
    """Render ``frames`` to ``folder`` as multilayer EXR with the Vector pass (blocking).

    Args:
        scene: the scene to render (its camera, engine and samples as set by the user).
        frames: frame numbers, e.g. ``range(scene.frame_start, scene.frame_end + 1)``.
        folder: output folder; files are ``render_%04d.exr``.
        on_frame: called after each frame with (frame, path); returning False stops early.
        layer: render only this view layer ("" = as set; see :func:`stylized_layer`).

    Returns:
        The files written, in frame order.
    """
    problem = vector_pass_problem(scene)
    if problem and problem.startswith("render engine"):
        log.warning("%s; rendering without motion vectors", problem)
    written: list[Path] = []
    current = scene.frame_current
    try:
        with exr_output(scene, vector_pass=True, layer=layer):
            for frame in frames:
                written.append(render_frame(scene, frame, folder))
                if on_frame is not None and on_frame(frame, written[-1]) is False:
                    break
    finally:
        scene.frame_set(current)
    return written


def check_vector_channels(path: Path) -> None:
    """Make sure a rendered EXR carries a Vector pass (for ``--flow pass`` on reused renders).

    Reads the EXR header with the standard library (:mod:`exrheader`), so the check works in a Blender
    whose Python has neither the core nor OpenImageIO.

    Raises:
        HostError: the file has no ``.Vector.`` channels or cannot be read.
    """
    if not has_vector_pass(exr_channel_names(path)):
        raise HostError(f"{path}: rendered without the Vector pass; render again (the pass is enabled "
                        "automatically) or choose DIS flow")


def existing_renders(folder: Path, frames: range) -> list[Path]:
    """The rendered files for ``frames`` in ``folder``.

    Raises:
        HostError: a frame is missing (names the first missing file).
    """
    paths = [render_path(folder, f) for f in frames]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise HostError(f"{missing[0]}: rendered frame missing ({len(missing)} of {len(paths)} missing); "
                        "render again or turn off Reuse Renders")
    return paths
