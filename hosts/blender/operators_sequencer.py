"""Sequencer: "Stylize Sequence" on the active movie or image strip.

The strip's frames go to the core (computed flow for footage; with "Render Pass", an image strip of EXR renders
that carry Blender's Vector pass uses the pass); the stylized frames come back as a new image strip on the first
free channel above, aligned in time with the visible part of the source.

- Image strip: the elements shown at the visible frames, in the order they play (trims, Reverse Frames), are
  linked (copied where links are not allowed) into ``<job>/input/frame_%05d.<ext>`` so that the core sees one
  numbered sequence 1..N, whatever the file names; the result strip starts at the source's first visible frame.
- Movie strip: the core reads the movie itself (frames 1..N), up to the last visible frame; the result strip
  starts where the movie starts and gets the same start trim, so frame k of the movie lines up with its
  stylized frame. A reversed movie is stylized whole and the result keeps both trims and plays reversed too.
- The result strip gets the source's transform, crop and flips (it sits exactly over it) and its colour space.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import bpy

from . import compat, jobs
from .errors import HostError
from .exrheader import exr_channel_names, has_vector_pass
from .inputstamp import Stamp, file_stamp, options_key, read_stamp, restart_reason, write_stamp
from .paths import ensure_dir, job_name, os_error_line, output_root
from .preferences import get_prefs
from .session import JobOperator, Plan, can_start

log = logging.getLogger(__name__)

MAX_CHANNEL = 128
INPUT_PATTERN = "frame_%05d"
OUTPUT_PATTERN = "stylized_%05d"
_LINEAR_EXTS = frozenset({".exr", ".hdr"})


@dataclass(frozen=True)
class StripInput:
    """What the core reads for a strip and where the result goes on the timeline.

    Attributes:
        input: path or printf pattern given to ``fav stylize``.
        sources: the linked/copied input file -> the artist's file it stands for (image strips).
        frames: number of frames the core should produce (numbered 1..frames).
        out_ext: extension of the stylized frames (".png" for footage, ".exr" for float sequences).
        frame_start: timeline frame of result frame 1.
        offset_start: start trim of the result strip (movie strips keep the source's trim).
        offset_end: end trim of the result strip (a reversed movie keeps the source's trims).
        reverse: the result strip plays its frames last to first (a reversed movie strip).
    """

    input: str
    frames: int
    out_ext: str
    frame_start: int
    offset_start: int
    sources: dict[str, str] = field(default_factory=dict)
    offset_end: int = 0
    reverse: bool = False

    def stamp(self) -> Stamp:
        """What the input is made of (:mod:`inputstamp`): the movie file, or the artist's image files in order."""
        if self.sources:
            return {"source": "images", "files": [file_stamp(Path(p)) for p in self.sources.values()]}
        return {"source": file_stamp(Path(self.input)), "files": []}

    def explain(self, message: str) -> str:
        """``message`` with the job's numbered input files replaced by the artist's files."""
        for link, source in self.sources.items():
            message = message.replace(link, source)
        for link, source in self.sources.items():
            message = message.replace(Path(link).name, Path(source).name)
        return message


def source_strip(scene: Any) -> Any:
    """The active strip, if it is a movie or image strip.

    Raises:
        HostError: no sequence editor / no active strip, or a strip of another kind (sound, effect ...).
    """
    se = scene.sequence_editor
    strip = se.active_strip if se is not None else None
    if strip is None:
        raise HostError("no active strip: select a movie or image strip in the Sequencer")
    if strip.type == "SOUND":
        raise HostError(f"strip '{strip.name}' is a sound strip: select a movie or image strip")
    if strip.type not in {"MOVIE", "IMAGE"}:
        raise HostError(f"strip '{strip.name}' is a {strip.type.lower()} strip: select a movie or image strip")
    return strip


def strip_flow(strip: Any) -> tuple[str, str]:
    """The flow for "Render Pass" on ``strip`` and a note to show ("" when none).

    An image strip of EXR renders that carry Blender's Vector pass (multilayer, e.g. from Render Animation)
    gets the pass ("pass") when it plays its files in order; movies and other images have no vectors and get
    computed DIS flow.

    Raises:
        HostError: the strip's first visible EXR frame is missing or unreadable.
    """
    if strip.type == "IMAGE":
        names = visible_elements(strip)
        if names and Path(names[0]).suffix.lower() == ".exr":
            first = Path(bpy.path.abspath(strip.directory)) / names[0]
            if not first.is_file():
                raise HostError(f"{first}: image 1 of strip '{strip.name}' not found")
            if has_vector_pass(exr_channel_names(first)):
                if not _plays_in_file_order(strip, names):
                    return "dis", (f"strip '{strip.name}' plays its frames out of file order (reversed or "
                                   "retimed), so its Vector pass does not apply: using computed DIS flow")
                return "pass", ""
            return "dis", f"strip '{strip.name}': its EXR frames have no Vector pass: using computed DIS flow"
    return "dis", "footage has no Vector pass: using computed DIS flow"


def visible_elements(strip: Any) -> list[str]:
    """The file names an image strip shows, one per visible timeline frame, in the order they play.

    Asks Blender which element each frame shows (``Strip.strip_elem_from_frame``), so trims, Reverse Frames
    and retiming are what the artist sees; the result strip then plays the stylized frames in that order.

    Raises:
        HostError: Blender shows no element at a visible frame.
    """
    first, end = int(strip.frame_final_start), int(strip.frame_final_end)
    if not hasattr(strip, "strip_elem_from_frame"):  # not in this Blender: trims only
        offset = max(0, int(strip.frame_offset_start))
        return [e.filename for e in strip.elements][offset:offset + end - first]
    names: list[str] = []
    for frame in range(first, end):
        element = strip.strip_elem_from_frame(frame)
        if element is None:
            raise HostError(f"strip '{strip.name}' shows no image at frame {frame}")
        names.append(element.filename)
    return names


def _plays_in_file_order(strip: Any, names: list[str]) -> bool:
    """Whether ``names`` (the frames as they play) are consecutive elements of ``strip``, first to last: the
    order the Vector pass of rendered frames describes (each frame's vectors point to the element before)."""
    order = [e.filename for e in strip.elements]
    if len(set(order)) != len(order):
        return False
    position = {name: i for i, name in enumerate(order)}
    start = position.get(names[0], -1)
    return start >= 0 and order[start:start + len(names)] == names


def strip_input(strip: Any, job_dir: Path) -> StripInput:
    """Prepare the core's input for ``strip`` (links image elements into ``job_dir/input``).

    Raises:
        HostError: the movie / image files are missing, a single still image, or mixed file types.
    """
    offset = max(0, int(strip.frame_offset_start))
    visible = int(strip.frame_final_duration)
    if strip.type == "MOVIE":
        movie = Path(bpy.path.abspath(strip.filepath))
        if not movie.is_file():
            raise HostError(f"{movie}: movie file of strip '{strip.name}' not found")
        start = int(round(strip.frame_start))
        if strip.use_reverse_frames:  # the tail plays first: stylize the whole movie, keep both trims
            tail = max(0, int(strip.frame_offset_end))
            return StripInput(str(movie), offset + visible + tail, ".png", start, offset, offset_end=tail,
                              reverse=True)
        return StripInput(str(movie), offset + visible, ".png", start, offset)
    folder = Path(bpy.path.abspath(strip.directory))
    if len(strip.elements) < 2:
        raise HostError(f"strip '{strip.name}' holds a single image: Stylize Sequence needs a movie or an "
                        "image sequence")
    names = visible_elements(strip)
    exts = {Path(n).suffix.lower() for n in names}
    if len(exts) != 1:
        raise HostError(f"strip '{strip.name}' mixes file types ({', '.join(sorted(exts))}); use one type")
    ext = exts.pop()
    in_dir = job_dir / "input"
    if in_dir.exists():
        try:
            shutil.rmtree(in_dir)
        except OSError as exc:
            raise HostError(f"{in_dir}: cannot clear the job's input folder ({os_error_line(exc)})") from exc
    ensure_dir(in_dir)
    sources: dict[str, str] = {}
    for i, name in enumerate(names, start=1):
        src = folder / name
        if not src.is_file():
            raise HostError(f"{src}: image {i} of strip '{strip.name}' not found")
        link = in_dir / f"{INPUT_PATTERN % i}{ext}"
        _link_or_copy(src, link)
        sources[str(link)] = str(src)
    out_ext = ".exr" if ext in _LINEAR_EXTS else ".png"
    return StripInput(str(in_dir / f"{INPUT_PATTERN}{ext}"), len(names), out_ext,
                      int(strip.frame_final_start), 0, sources)


def _link_or_copy(src: Path, dst: Path) -> None:
    """Link ``dst`` to ``src`` (a copy where links are not allowed).

    Raises:
        HostError: neither works (one line naming the file).
    """
    try:
        os.symlink(src.resolve(), dst)
    except OSError:  # no symlink privilege (Windows) or a file system without links
        try:
            shutil.copy2(src, dst)
        except OSError as exc:
            raise HostError(f"{dst}: cannot link or copy {src.name} there ({os_error_line(exc)})") from exc


def free_channel_above(sequence_editor: Any, strip: Any, start: int, end: int) -> int:
    """The lowest channel above ``strip.channel`` with no strip overlapping frames ``[start, end)``.

    Raises:
        HostError: every channel above is taken in that range.
    """
    taken = {
        s.channel
        for s in compat.strips(sequence_editor)
        if s.frame_final_start < end and s.frame_final_end > start
    }
    for channel in range(strip.channel + 1, MAX_CHANNEL + 1):
        if channel not in taken:
            return channel
    raise HostError(f"no free channel above strip '{strip.name}' for frames {start}-{end - 1}")


def stylized_files(folder: Path, ext: str) -> list[Path]:
    """The stylized frames ``stylized_00001<ext>`` ... in ``folder``, numbered 1..n without a gap.

    Raises:
        HostError: none found, or a gap in the numbering.
    """
    rx = re.compile(r"^stylized_(\d+)" + re.escape(ext) + "$")
    found = {int(m.group(1)): p for p in folder.glob(f"stylized_*{ext}") if (m := rx.match(p.name))}
    if not found:
        raise HostError(f"{folder}: the core wrote no stylized frames")
    indices = sorted(found)
    if indices != list(range(1, len(indices) + 1)):
        missing = next(i for i in range(1, indices[-1] + 1) if i not in found)
        raise HostError(f"{folder / (OUTPUT_PATTERN % missing + ext)}: stylized frame missing")
    return [found[i] for i in indices]


def add_result_strip(scene: Any, source: Any, files: list[Path], frame_start: int, offset_start: int, *,
                     offset_end: int = 0, reverse: bool = False) -> Any:
    """Add ``files`` as one image strip on the first free channel above ``source``, placed like it.

    Args:
        scene: the scene whose sequence editor gets the strip.
        source: the stylized strip (gives the channel to start above and the name).
        files: the frames, in order, all in one folder.
        frame_start: timeline frame of the first file.
        offset_start: start trim (frames hidden at the head).
        offset_end: end trim (frames hidden at the tail).
        reverse: play the files last to first (Reverse Frames).
    """
    se = scene.sequence_editor
    start = frame_start + offset_start
    end = frame_start + len(files) - offset_end
    channel = free_channel_above(se, source, start, end)
    strip = compat.strips(se).new_image(f"{source.name} stylized", str(files[0]), channel, frame_start)
    for path in files[1:]:
        strip.elements.append(path.name)
    if offset_start:
        strip.frame_offset_start = offset_start
    if offset_end:
        strip.frame_offset_end = offset_end
    strip.use_reverse_frames = reverse
    copy_placement(source, strip)
    copy_colorspace(source, strip)
    return strip


def copy_colorspace(source: Any, target: Any) -> None:
    """Tag ``target``'s files with ``source``'s colour space.

    The core hands back pixel values in the encoding it read (sRGB-encoded files stay sRGB-encoded, EXR stays
    scene-linear), so the stylized frames are in whatever space the artist declared for the source (e.g.
    ACEScg EXRs, a Rec.1886 movie); left at Blender's default for the file type they would be shown wrongly.
    """
    src = getattr(source, "colorspace_settings", None)
    dst = getattr(target, "colorspace_settings", None)
    if src is None or dst is None or src.name == dst.name:
        return
    try:
        dst.name = src.name
    except TypeError:  # a name this Blender's OCIO config does not offer for images
        log.warning("strip '%s': colour space %r not applied to the stylized strip", source.name, src.name)


#: Where a strip's picture sits in the frame (the stylized frames have the source's pixel size, so the same
#: values put them exactly over it; "Scale to Fit" on import, for one, is stored as the transform's scale).
_TRANSFORM = ("offset_x", "offset_y", "scale_x", "scale_y", "rotation", "origin", "filter")
_CROP = ("min_x", "max_x", "min_y", "max_y")


def copy_placement(source: Any, target: Any) -> None:
    """Give ``target`` the position, scale, rotation, crop and flips of ``source`` in the frame."""
    for group, keys in (("transform", _TRANSFORM), ("crop", _CROP)):
        src, dst = getattr(source, group, None), getattr(target, group, None)
        if src is None or dst is None:
            continue
        for key in keys:
            if hasattr(src, key):
                setattr(dst, key, getattr(src, key))
    for key in ("use_flip_x", "use_flip_y"):
        if hasattr(source, key):
            setattr(target, key, getattr(source, key))


class FAV_OT_stylize_strip(JobOperator, bpy.types.Operator):
    """Stylize the active movie or image strip and add the result as a new strip above it"""

    bl_idname = "fav.stylize_strip"
    bl_label = "Stylize Sequence"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: Any) -> bool:
        return can_start(cls, context)

    def make_plan(self, context: Any) -> Plan:
        scene = context.scene
        settings = scene.fav_settings
        prefs = get_prefs(context)
        strip = source_strip(scene)
        notes: list[str] = []
        flow = None
        if settings.flow == "PASS":
            flow, note = strip_flow(strip)
            if note:
                notes.append(note)
        options = settings.to_config(prefs, flow=flow)
        job_dir = output_root(settings) / job_name(scene.name, strip.name, options.model)
        plan_input = strip_input(strip, job_dir)
        if strip.type == "MOVIE":
            options = replace(options, num_frames=plan_input.frames)
        out_dir = job_dir / "stylized"
        ensure_dir(out_dir)
        stamp = {**plan_input.stamp(), "options": options_key(options)}
        if options.resume and any(out_dir.glob(f"stylized_*{plan_input.out_ext}")):
            if why := restart_reason(read_stamp(job_dir), stamp):
                options = replace(options, resume=False)
                notes.append(f"strip '{strip.name}': {why}: starting over")
        write_stamp(job_dir, stamp)
        spec = jobs.JobSpec(
            input=plan_input.input,
            output=str(out_dir / f"{OUTPUT_PATTERN}{plan_input.out_ext}"),
            options=options,
            python=prefs.python_executable(),
            in_process=prefs.use_in_process(),
            core_path=prefs.core_path,
            log_path=job_dir / "fav.log",
        )
        scene_name, strip_name = scene.name, strip.name

        def finish(result: jobs.JobResult) -> str:
            target = bpy.data.scenes.get(scene_name)
            se = target.sequence_editor if target is not None else None
            source = compat.all_strips(se).get(strip_name) if se is not None else None
            if source is None:
                raise HostError(f"strip '{strip_name}' is gone; stylized frames are in {out_dir}")
            files = stylized_files(out_dir, plan_input.out_ext)
            if len(files) > plan_input.frames:
                files = files[: plan_input.frames]  # frames left from an earlier, longer run
            new = add_result_strip(target, source, files, plan_input.frame_start, plan_input.offset_start,
                                   offset_end=plan_input.offset_end, reverse=plan_input.reverse)
            short = "" if len(files) == plan_input.frames else f" (expected {plan_input.frames})"
            return f"added strip '{new.name}' on channel {new.channel}: {len(files)} frames{short}"

        return Plan(scene.name, spec, finish, notes=tuple(notes), explain=plan_input.explain)


CLASSES = (FAV_OT_stylize_strip,)
