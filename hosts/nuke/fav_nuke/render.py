"""The node's buttons: render the plate, run the core out of process, show the stylized frames.

``Stylize`` (runs on Nuke's main thread):

1. read the knobs (:func:`fav_nuke.knobs.settings_from_values`) and the frame range;
2. copy the vector channels into ``backward.u/v``, ``forward.u/v`` and render plate (+ vectors) through the
   internal Write with ``nuke.execute`` to ``<job>/plate/plate.%04d.exr`` (raw, scene-linear float);
3. run ``<python> -m fav_core.cli stylize ... --progress json`` (docs/job-protocol.md) -- in a worker thread in
   the GUI (with a ``nuke.ProgressTask``; Cancel stops the child cleanly), in the calling thread under
   ``nuke -t``;
4. back on the main thread (``nuke.executeInMainThread``): point the internal Read at
   ``<job>/stylized/stylized.%04d.exr`` and switch the node's output to it.

Re-running resumes: the core keeps the whole frames already written. Every error reaches the artist once, as a
``nuke.message`` at this boundary; the core's messages already name the file and the problem.
"""
from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nuke

from fav_core.errors import ConfigError, FavError
from fav_core.jobclient import stylize_command
from fav_nuke import node as fav_node
from fav_nuke.channels import missing_channels
from fav_nuke.frames import FrameRange, parse_frame_range
from fav_nuke.knobs import VALUE_KNOBS, NodeSettings, settings_from_values, to_cli_args
from fav_nuke.paths import JobPaths, job_folder
from fav_nuke.process import Outcome, core_env, run_core
from fav_nuke.settings import StickySettings, load_settings, resolve_core_python, save_settings, settings_path

log = logging.getLogger(__name__)

HOSTS_NUKE = Path(__file__).resolve().parent.parent
"""``hosts/nuke`` (holds ``fav_nuke``); its parent's parent is the checkout root when run from one."""


@dataclass(frozen=True)
class Job:
    """One prepared run: everything the worker needs, captured on the main thread.

    Attributes:
        node_name: the Group's name (for messages; the worker never touches Nuke objects).
        settings: validated knob values.
        frames: the frames to stylize.
        paths: the job's files.
        cmd: the core's command line.
        env: the core's environment.
    """

    node_name: str
    settings: NodeSettings
    frames: FrameRange
    paths: JobPaths
    cmd: tuple[str, ...]
    env: dict[str, str]


def read_settings(group: nuke.Node) -> NodeSettings:
    """The Group's knob values, validated.

    Raises:
        ConfigError: see :func:`fav_nuke.knobs.settings_from_values`.
    """
    values: dict[str, Any] = {}
    for name in VALUE_KNOBS:
        knob = group.knob(name)
        if knob is not None:
            values[name] = knob.value()
    return settings_from_values(values)


def plate_range(group: nuke.Node) -> FrameRange:
    """The frame range of what is connected to the plate input.

    Raises:
        ConfigError: nothing is connected.
    """
    plate = group.input(0)
    if plate is None:
        raise ConfigError(f"connect a plate to the '{fav_node.PLATE_INPUT}' input")
    r = plate.frameRange()
    return FrameRange(int(r.first()), int(r.last()))


def wire_vectors(group: nuke.Node, settings: NodeSettings) -> None:
    """Point the internal Copy at the vectors input (or the plate) and the Write at the right channels.

    Raises:
        ConfigError: with ``flow == "pass"``, the vectors' source lacks one of the chosen channels (Nuke would
            silently copy black into it).
    """
    copy = fav_node.internal(group, fav_node.COPY)
    write = fav_node.internal(group, fav_node.WRITE)
    use_vectors_input = group.input(1) is not None
    source_name = fav_node.VECTORS_INPUT if use_vectors_input else fav_node.PLATE_INPUT
    copy.setInput(1, fav_node.internal(group, source_name))
    fav_node.set_copy_channels(copy, settings.vectors)
    if settings.flow == "pass":
        upstream = group.input(1) if use_vectors_input else group.input(0)
        missing = missing_channels(settings.vectors, list(upstream.channels()))
        if missing:
            raise ConfigError(
                f"{upstream.name()}: no channel {', '.join(missing)} for the motion vectors "
                f"(input '{source_name}'); set the vector channel knobs or choose a computed flow"
            )
        write["channels"].setValue("all")
    else:
        write["channels"].setValue("rgba")


def render_plate(group: nuke.Node, paths: JobPaths, frames: FrameRange) -> None:
    """Render the plate (and vectors) through the internal Write; the Write is disabled again afterwards.

    Raises:
        RuntimeError: from ``nuke.execute`` (a render error, or the artist cancelled the render).
    """
    write = fav_node.internal(group, fav_node.WRITE)
    write["file"].setValue(paths.plate_pattern)
    write["disable"].setValue(False)
    try:
        nuke.execute(write, frames.first, frames.last, 1)
    finally:
        write["disable"].setValue(True)


def render_cancelled(exc: RuntimeError) -> bool:
    """True when ``nuke.execute`` raised because the artist pressed Cancel (not a render error).

    Nuke's docs: "If the user hits the cancel button this command will raise a 'cancelled' error" (nuke.execute,
    Python API reference 13.x-17.x); the exception is a RuntimeError whose text says "Cancelled".
    """
    return "cancel" in str(exc).lower()


def prepare(group: nuke.Node, env: dict[str, str]) -> Job:
    """Read the knobs, render the plate and build the core's command (main thread).

    Raises:
        FavError: bad settings, missing inputs or channels, unwritable folders.
        RuntimeError: the plate render failed or was cancelled.
    """
    settings = read_settings(group)
    frames = parse_frame_range(settings.frame_range, plate_range(group))
    paths = JobPaths(job_folder(settings.output_folder, nuke.root()["name"].value(), group.name()))
    wire_vectors(group, settings)
    paths.make_dirs()
    paths.remove_stale_plate(frames)
    render_plate(group, paths, frames)
    python = resolve_core_python(settings.core_python, env, load_settings(settings_path(env)))
    cmd = tuple(stylize_command(python, to_cli_args(settings, paths.plate_pattern, paths.stylized_pattern)))
    return Job(group.name(), settings, frames, paths, cmd, core_env(env, HOSTS_NUKE.parent.parent))


def _set_status(group: nuke.Node, text: str) -> None:
    knob = group.knob("status")
    if knob is not None:
        knob.setValue(text)


def stylize(group: nuke.Node, *, background: bool) -> threading.Thread | None:
    """The ``Stylize`` button: prepare on the calling (main) thread, then run the core.

    Args:
        group: the FastArtisticVideos node.
        background: run the core in a worker thread and finish through ``nuke.executeInMainThread`` (GUI);
            False runs it in the calling thread (``nuke -t``, tests).

    Returns:
        The worker thread when ``background``, else None (the run is over).
    """
    try:
        job = prepare(group, dict(os.environ))
    except FavError as exc:
        _set_status(group, f"error: {exc}")
        nuke.message(f"{group.name()}: {exc}")
        return None
    except RuntimeError as exc:  # nuke.execute: render error or cancelled render
        if render_cancelled(exc):
            _set_status(group, "plate render cancelled")
            return None
        _set_status(group, f"error: plate render failed: {exc}")
        nuke.message(f"{group.name()}: rendering the plate failed: {exc}")
        return None

    group["stylize"].setEnabled(False)
    _set_status(group, f"stylizing {job.frames} ...")

    def work() -> None:
        outcome = _run(job)
        if background:
            nuke.executeInMainThread(finish, (group, job, outcome))
        else:
            finish(group, job, outcome)

    if not background:
        work()
        return None
    worker = threading.Thread(target=work, name=f"fav-{job.node_name}", daemon=True)
    worker.start()
    return worker


def _run(job: Job) -> Outcome:
    """Run the core with a ProgressTask (any thread; touches only the ProgressTask)."""
    task = nuke.ProgressTask(f"Stylizing {job.node_name}")
    task.setMessage(f"starting the core for frames {job.frames}")

    def on_event(event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start":
            resumed = event.get("resumed_from")
            task.setMessage(f"resuming at frame {resumed}" if resumed is not None else "first frame")
            task.setProgress(0)
        elif kind == "frame":
            total = max(int(event.get("total", 0)), 1)
            task.setProgress(min(100, int(100 * int(event.get("done", 0)) / total)))
            task.setMessage(f"frame {event.get('index')} ({event.get('done')}/{event.get('total')})")

    try:
        return run_core(job.cmd, on_event=on_event, is_cancelled=task.isCancelled, env=job.env)
    except Exception as exc:  # a bug here must still re-enable the button and reach the artist once
        log.exception("stylize worker failed")
        return Outcome("error", f"internal error: {exc}", 0, None)


def finish(group: nuke.Node, job: Job, outcome: Outcome) -> None:
    """Main thread: re-enable the button and show the result, or show the error once."""
    try:
        group["stylize"].setEnabled(True)
    except ValueError:  # the node was deleted while the core ran
        log.warning("%s was deleted while stylizing; %s", job.node_name, outcome.message)
        return
    if outcome.status == "done":
        try:
            show_result(group, job.paths, job.frames)
        except FavError as exc:
            _set_status(group, f"error: {exc}")
            nuke.message(f"{job.node_name}: {exc}")
            return
        _set_status(group, f"stylized {job.frames}: {outcome.message}")
        _remember_python(job)
    elif outcome.status == "cancelled":
        _set_status(group, f"{outcome.message}; press Stylize to resume")
    else:
        _set_status(group, f"error: {outcome.message}")
        nuke.message(f"{job.node_name}: {outcome.message}")


def show_result(group: nuke.Node, paths: JobPaths, frames: FrameRange) -> None:
    """Point the internal Read at the stylized frames and switch the node's output to it."""
    read = fav_node.internal(group, fav_node.READ)
    read["file"].setValue(paths.stylized_pattern)
    for knob in ("first", "origfirst"):
        read[knob].setValue(frames.first)
    for knob in ("last", "origlast"):
        read[knob].setValue(frames.last)
    read["reload"].execute()
    fav_node.internal(group, fav_node.SWITCH)["which"].setValue(1)


def _remember_python(job: Job) -> None:
    path = settings_path(job.env)
    python = job.cmd[0]
    if load_settings(path).core_python == python:
        return
    try:
        save_settings(path, StickySettings(core_python=python))
    except FavError as exc:  # remembering is a convenience; the run itself succeeded
        log.warning("%s", exc)


def on_stylize_button() -> threading.Thread | None:
    """Code of the ``Stylize`` PyScript knob."""
    return stylize(nuke.thisNode(), background=bool(nuke.env["gui"]))


@dataclass(frozen=True)
class CatteryExport:
    """One prepared Cattery export (captured on the main thread; the worker never touches Nuke objects).

    Attributes:
        node_name: the Group's name (for messages).
        cmd: the exporter's command line.
        env: its environment (``hosts/nuke`` on PYTHONPATH).
        target: the ``.pt`` it writes.
    """

    node_name: str
    cmd: tuple[str, ...]
    env: dict[str, str]
    target: Path


def prepare_cattery_export(group: nuke.Node, env: dict[str, str]) -> CatteryExport:
    """Read the knobs and build the exporter's command (main thread).

    Raises:
        FavError: bad settings.
    """
    settings = read_settings(group)
    out = job_folder(settings.output_folder, nuke.root()["name"].value(), group.name()) / "cattery"
    target = out / (Path(settings.image_model or settings.model).stem + "_image.pt")
    python = resolve_core_python(settings.core_python, env, load_settings(settings_path(env)))
    cmd = [python, "-m", "fav_nuke.cattery", settings.model, "-o", str(target)]
    if settings.image_model:
        cmd += ["--image-model", settings.image_model]
    child_env = core_env(env, HOSTS_NUKE.parent.parent)
    child_env["PYTHONPATH"] = os.pathsep.join([str(HOSTS_NUKE), child_env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return CatteryExport(group.name(), tuple(cmd), child_env, target)


def run_cattery_export(export: CatteryExport, timeout_s: float = 600.0,
                       is_cancelled: Callable[[], bool] = lambda: False) -> Path | None:
    """Run the exporter (any thread); None when ``is_cancelled`` turned true (the exporter is killed; it writes
    its file atomically, so nothing half-written is left).

    Raises:
        FavError: the exporter could not start, timed out or failed (its last error line).
    """
    python = export.cmd[0]
    try:
        proc = subprocess.Popen(export.cmd, env=export.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    except OSError as exc:
        raise ConfigError(f"{python}: cannot run the Cattery export ({exc})") from exc
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _, stderr = proc.communicate(timeout=0.2)  # retrying after TimeoutExpired loses no output
            break
        except subprocess.TimeoutExpired:
            cancelled = is_cancelled()
            if cancelled or time.monotonic() > deadline:
                proc.kill()
                proc.communicate()
                if cancelled:
                    return None
                raise ConfigError(f"{python}: the Cattery export took longer than {timeout_s:g} s") from None
    if proc.returncode != 0:
        tail = next((s for s in reversed(stderr.splitlines()) if s.strip()), f"exit code {proc.returncode}")
        raise ConfigError(f"Cattery export failed: {tail.strip()}")
    return export.target


def export_cattery(group: nuke.Node, env: dict[str, str], timeout_s: float = 600.0) -> Path:
    """Export the node's image model as TorchScript (``<job>/cattery/<model>.pt``) with the core's Python, here.

    Returns:
        The written ``.pt`` file.

    Raises:
        FavError: bad settings, or the export failed (the message carries the exporter's last error line).
    """
    target = run_cattery_export(prepare_cattery_export(group, env), timeout_s)
    assert target is not None  # never cancelled here
    return target


def _cattery_message(target: Path) -> str:
    return (
        f"Wrote {target}.\nIn NukeX: CatFileCreator, torchScriptFile = this file, channelsIn/Out = "
        "rgba.red, rgba.green, rgba.blue, then 'Create .cat file' and load it in an Inference node "
        "(per-frame preview: temporal consistency needs this node). See hosts/nuke/README.md."
    )


def _finish_cattery(group: nuke.Node, export: CatteryExport, target: Path | None, error: str) -> None:
    """Main thread: re-enable the button and say how the export went (once; nothing after a cancel)."""
    try:
        group["export_cattery"].setEnabled(True)
    except ValueError:  # the node was deleted meanwhile
        log.warning("%s was deleted while exporting for Cattery", export.node_name)
    if error:
        nuke.message(f"{export.node_name}: {error}")
    elif target is not None:
        nuke.message(_cattery_message(target))
    else:
        log.info("%s: Cattery export cancelled", export.node_name)


def on_export_cattery_button() -> threading.Thread | Path | None:
    """Code of the ``Export for Cattery`` PyScript knob: export, then say what to do next (once).

    The exporter imports torch and scripts the model (seconds to a minute): in the GUI it runs in a worker thread
    with a cancellable ``nuke.ProgressTask`` and the message comes back through ``nuke.executeInMainThread``, so
    Nuke stays usable; under ``nuke -t`` it runs here.

    Returns:
        The worker thread (GUI), the written file (terminal), or None (error, shown once).
    """
    group = nuke.thisNode()
    try:
        export = prepare_cattery_export(group, dict(os.environ))
    except FavError as exc:
        nuke.message(f"{group.name()}: {exc}")
        return None
    if not nuke.env["gui"]:
        try:
            target = run_cattery_export(export)
        except FavError as exc:
            nuke.message(f"{export.node_name}: {exc}")
            return None
        nuke.message(_cattery_message(target) if target is not None else f"{export.node_name}: cancelled")
        return target

    def work() -> None:
        task = nuke.ProgressTask(f"Exporting {export.node_name} for Cattery")
        task.setMessage(f"scripting the image model into {export.target.name}")
        target: Path | None = None
        error = ""
        try:
            target = run_cattery_export(export, is_cancelled=task.isCancelled)
        except FavError as exc:
            error = str(exc)
        except Exception as exc:  # a bug here must still re-enable the button and reach the artist once
            log.exception("Cattery export worker failed")
            error = f"internal error: {exc}"
        del task  # closes Nuke's progress bar
        nuke.executeInMainThread(_finish_cattery, (group, export, target, error))

    group["export_cattery"].setEnabled(False)
    worker = threading.Thread(target=work, name=f"fav-cattery-{export.node_name}", daemon=True)
    worker.start()
    return worker
