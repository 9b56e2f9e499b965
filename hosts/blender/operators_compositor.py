"""Compositor: "Stylize Render" renders the scene's frame range with the Vector pass, stylizes it with the
render-pass flow and wires an Image node with the stylized sequence into the compositing tree.

The renders are multilayer EXR (Combined + Vector, all parts read by the core's ``fav_core.io``); the core
converts the vectors (``fav_core.flow.convert``), falls back to computed flow where they are invalid and runs
its reliability check. The stylized frames are scene-linear EXR numbered by scene frame, so the Image node
shows frame f of the shot at scene frame f.
"""
from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import replace
from pathlib import Path
from typing import Any

import bpy

from . import compat, jobs, render
from .errors import HostError
from .inputstamp import options_key, read_stamp, restart_reason, write_stamp
from .paths import ensure_dir, job_name, output_root
from .preferences import get_prefs
from .session import JobOperator, Plan, can_start

log = logging.getLogger(__name__)

NODE_NAME = "FAV Stylized"
#: Why a run that renders again does not resume: the stylized frames already there are of the old renders
#: (the scene may have changed), and the core cannot tell (same file names).
RERENDER_NOTE = "the frames are rendered again, so stylization starts over"
OUTPUT_PATTERN = "stylized_%04d.exr"


def shot_frames(scene: Any) -> range:
    """The frames to stylize: the scene's frame range, every frame (the recurrence needs neighbours)."""
    if scene.frame_end < scene.frame_start:
        raise HostError(f"scene '{scene.name}': frame range {scene.frame_start}-{scene.frame_end} is empty")
    return range(scene.frame_start, scene.frame_end + 1)


def choose_flow(scene: Any, flow: str) -> tuple[str, list[str]]:
    """The flow source to use for a render of ``scene`` and warnings to show.

    Raises:
        HostError: render-pass flow asked for with an engine that writes no Vector pass.
    """
    if flow != "pass":
        return flow, []
    problem = render.vector_pass_problem(scene)
    if problem.startswith("render engine"):
        raise HostError(f"scene '{scene.name}': {problem}, or choose DIS flow")
    if problem:
        return "dis", [f"{problem}: using computed DIS flow instead"]
    return "pass", []


def render_steps(scene_name: str, frames: range, folder: Path, layer: str = "") -> Generator[str, None, None]:
    """Render ``frames`` (only view layer ``layer``, "" = as set) one per ``next()`` (the UI stays responsive
    between frames); settings are restored when the generator ends or is closed."""
    scene = bpy.data.scenes[scene_name]
    current = scene.frame_current
    try:
        with render.exr_output(scene, vector_pass=True, layer=layer):
            for n, frame in enumerate(frames, start=1):
                render.render_frame(scene, frame, folder)
                yield f"rendered frame {frame} ({n}/{len(frames)})"
    finally:
        scene.frame_set(current)


def wire_image_node(scene: Any, files: list[Path], first_frame: int) -> Any:
    """Show the stylized sequence in the compositor: an Image node linked to the compositing output.

    Args:
        scene: the scene whose compositing tree gets the node (created on 5.0 when missing).
        files: the stylized frames in order; ``files[0]`` is scene frame ``first_frame``.
        first_frame: the scene frame of the first file (its number in the file name).

    Returns:
        The Image node (reused when it exists, named "FAV Stylized").
    """
    tree = compat.compositor_tree(scene, create=True)
    image = bpy.data.images.load(str(files[0]), check_existing=True)
    image.source = "SEQUENCE"
    image.reload()
    node = tree.nodes.get(NODE_NAME)
    if node is None:
        node = tree.nodes.new("CompositorNodeImage")
        node.name = node.label = NODE_NAME
    node.image = image
    node.frame_duration = len(files)
    node.frame_start = first_frame
    node.frame_offset = first_frame - 1  # file number = scene frame
    socket = compat.compositor_output_socket(tree)
    node.location = (socket.node.location.x - 300, socket.node.location.y)
    for link in list(socket.links):
        tree.links.remove(link)
    tree.links.new(node.outputs["Image"], socket)
    return node


class FAV_OT_stylize_render(JobOperator, bpy.types.Operator):
    """Render the frame range with the Vector pass, stylize it and show the result in the compositor"""

    bl_idname = "fav.stylize_render"
    bl_label = "Stylize Render"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: Any) -> bool:
        return can_start(cls, context)

    def make_plan(self, context: Any) -> Plan:
        scene = context.scene
        settings = scene.fav_settings
        prefs = get_prefs(context)
        if scene.camera is None:
            raise HostError(f"scene '{scene.name}' has no camera to render with")
        frames = shot_frames(scene)
        flow, notes = choose_flow(scene, settings.flow.lower())
        view_layer = getattr(context, "view_layer", None)
        layer, layer_note = render.stylized_layer(scene, view_layer.name if view_layer is not None else "")
        if layer_note:
            notes.append(layer_note)
        if note := render.working_space_note():
            notes.append(note)
        options = settings.to_config(prefs, flow=flow)
        job_dir = output_root(settings) / job_name(scene.name, options.model)
        render_dir, out_dir = job_dir / "render", job_dir / "stylized"
        prepare = None
        if settings.reuse_renders:
            paths = render.existing_renders(render_dir, frames)
            if flow == "pass":
                render.check_vector_channels(paths[0])
        else:
            prepare = render_steps(scene.name, frames, render_dir, layer)
        ensure_dir(out_dir)
        stamp = {"source": "renders", "files": [], "options": options_key(options)}
        if options.resume and any(out_dir.glob("stylized_*.exr")):
            if not settings.reuse_renders:  # new renders: earlier stylized frames are of the old ones
                options = replace(options, resume=False)
                notes.append(f"{RERENDER_NOTE} (turn on Reuse Renders to continue an interrupted run)")
            elif why := restart_reason(read_stamp(job_dir), stamp):
                options = replace(options, resume=False)
                notes.append(f"scene '{scene.name}': {why}: starting over")
        write_stamp(job_dir, stamp)
        spec = jobs.JobSpec(
            input=str(render_dir / render.RENDER_PATTERN),
            output=str(out_dir / OUTPUT_PATTERN),
            options=options,
            python=prefs.python_executable(),
            in_process=prefs.use_in_process(),
            core_path=prefs.core_path,
            log_path=job_dir / "fav.log",
        )
        scene_name = scene.name

        def finish(result: jobs.JobResult) -> str:
            target = bpy.data.scenes.get(scene_name)
            if target is None:
                raise HostError(f"scene '{scene_name}' is gone; stylized frames are in {out_dir}")
            files = [out_dir / (OUTPUT_PATTERN % f) for f in frames]
            missing = [p for p in files if not p.is_file()]
            if missing:
                raise HostError(f"{missing[0]}: stylized frame missing ({len(missing)} of {len(files)})")
            node = wire_image_node(target, files, frames.start)
            return f"stylized {len(files)} frames into {out_dir}; compositor node '{node.name}' shows them"

        return Plan(scene.name, spec, finish, prepare=prepare, notes=tuple(notes),
                    resume_hint="run again with Reuse Renders and Resume to continue")


CLASSES = (FAV_OT_stylize_render,)
