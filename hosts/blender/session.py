"""What the two "Stylize" operators share: prepare (render), run the core, show progress, finish or cancel.

A :class:`Plan` says what to do; :class:`JobOperator` runs it two ways:

- UI: ``invoke`` starts a modal operator. Blocking preparation (rendering one frame) happens one unit per
  timer event, the core runs in the background (:mod:`jobs`), a ``bpy.app.timers`` poller drains its progress
  on the main thread into the scene settings and the window-manager progress indicator, and ESC cancels.
- Background (``blender -b``, scripts, tests): ``execute`` does the same synchronously (timers and modal
  handlers never run there).

Errors reach the artist through ``Operator.report`` as one line; nothing raises out of an operator.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bpy

from . import jobs
from .errors import HostError
from .paths import os_error_line

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """One operator run.

    Attributes:
        scene_name: the scene whose ``fav_settings`` show the progress.
        spec: the core run.
        finish: called on the main thread with a successful result; builds the strip / node and returns the
            message to report. May raise :class:`HostError`.
        prepare: blocking work before the core starts, one unit per ``next()`` (e.g. render one frame); each
            unit yields a status line. None = nothing to prepare.
        notes: warnings to report when the run starts (e.g. flow fallback).
        explain: rewrites a failure message for the artist (e.g. job-internal file names -> theirs).
        resume_hint: how to continue a cancelled run (shown with the cancel warning).
    """

    scene_name: str
    spec: jobs.JobSpec
    finish: Callable[[jobs.JobResult], str]
    prepare: Generator[str, None, None] | None = None
    notes: tuple[str, ...] = ()
    explain: Callable[[str], str] | None = None
    resume_hint: str = "run again with Resume to continue"


class Progress:
    """Mirrors job events into ``scene.fav_settings`` (panel) and the window manager's progress counter."""

    def __init__(self, scene_name: str, wm: Any | None, workspace: Any | None = None) -> None:
        self.scene_name = scene_name
        self.wm = wm
        self.workspace = workspace
        self.total = 0

    def _settings(self) -> Any | None:
        scene = bpy.data.scenes.get(self.scene_name)
        return None if scene is None else scene.fav_settings

    def status(self, text: str, fraction: float | None = None) -> None:
        log.info("%s", text)
        settings = self._settings()
        if settings is not None:
            settings.status = text
            if fraction is not None:
                settings.progress = max(0.0, min(1.0, fraction))
        if self.wm is not None:
            if fraction is not None:
                self.wm.progress_update(int(round(9999 * max(0.0, min(1.0, fraction)))))
            if self.workspace is not None:
                self.workspace.status_text_set(f"Stylize: {text} (Esc cancels)")
        _redraw()

    def begin(self) -> None:
        settings = self._settings()
        if settings is not None:
            settings.running = True
            settings.progress = 0.0
        if self.wm is not None:
            self.wm.progress_begin(0, 9999)

    def end(self, text: str) -> None:
        settings = self._settings()
        if settings is not None:
            settings.running = False
            settings.status = text
        if self.wm is not None:
            self.wm.progress_end()
            if self.workspace is not None:
                self.workspace.status_text_set(None)  # back to Blender's own status bar
        _redraw()

    def on_event(self, event: jobs.Event) -> None:
        kind = event.get("event")
        if kind == "start":
            self.total = int(event.get("total", 0))
            resumed = event.get("resumed_from")
            more = f" (resuming at frame {resumed})" if resumed is not None else ""
            self.status(f"stylizing {self.total} frames{more}", 0.0)
        elif kind == "frame":
            done, total = int(event.get("done", 0)), int(event.get("total", self.total) or 1)
            self.status(f"stylized frame {event.get('index')} ({done}/{total})", done / max(total, 1))


def _redraw() -> None:
    wm = bpy.context.window_manager
    for window in getattr(wm, "windows", []):
        for area in window.screen.areas:
            if area.type in {"SEQUENCE_EDITOR", "NODE_EDITOR", "PROPERTIES"}:
                area.tag_redraw()


#: What a plan's own steps (make_plan, prepare, finish) may raise for the artist to read: our own errors and
#: file-system errors (an output folder that cannot be written, a disk that is full).
ARTIST_ERRORS = (HostError, OSError)


def message_of(exc: BaseException) -> str:
    """The one line to report for an :data:`ARTIST_ERRORS` (or Blender ``RuntimeError``) exception."""
    if isinstance(exc, OSError):
        return os_error_line(exc)
    text = str(exc).strip()
    return text.splitlines()[0].removeprefix("Error: ") if text else type(exc).__name__


def outcome(plan: Plan, result: jobs.JobResult) -> tuple[str, str]:
    """(report level, message) for a finished run; runs ``plan.finish`` on success."""
    if result.status == "done":
        try:
            return "INFO", plan.finish(result)
        except ARTIST_ERRORS as exc:
            return "ERROR", message_of(exc)
        except RuntimeError as exc:  # Blender refused the strip / image ("Error: ..."): the frames are there
            return "ERROR", f"{message_of(exc)}; stylized frames are in {Path(plan.spec.output).parent}"
    if result.status == "cancelled":
        folder = plan.spec.output
        return "WARNING", f"{result.message}; the frames written are whole and kept ({folder}); {plan.resume_hint}"
    return "ERROR", plan.explain(result.message) if plan.explain is not None else result.message


class JobOperator:
    """Mixin for an ``Operator`` that builds a :class:`Plan` in ``make_plan`` and runs it (UI or background).

    Subclasses implement ``make_plan(context) -> Plan`` (raising :class:`HostError` on bad input).
    """

    _plan: Plan | None = None
    _job: jobs.Job | None = None
    _timer: Any = None
    _wm: Any = None
    _tick: Any = None
    _progress: Progress | None = None
    _result: jobs.JobResult | None = None

    def make_plan(self, context: Any) -> Plan:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---------------------------------------------------------------- background / scripted
    def execute(self, context: Any) -> set[str]:
        try:
            plan = self.make_plan(context)
        except ARTIST_ERRORS as exc:
            self.report({"ERROR"}, message_of(exc))
            return {"CANCELLED"}
        for note in plan.notes:
            self.report({"WARNING"}, note)
        progress = Progress(plan.scene_name, None)
        progress.begin()
        try:
            if plan.prepare is not None:
                for text in plan.prepare:
                    progress.status(text)
            job = jobs.Job(plan.spec).start()
            result = job.wait(progress.on_event)
        except ARTIST_ERRORS as exc:
            progress.end(message_of(exc))
            self.report({"ERROR"}, message_of(exc))
            return {"CANCELLED"}
        level, message = outcome(plan, result)
        progress.end(message)
        self.report({level}, message)
        return {"FINISHED"} if level == "INFO" else {"CANCELLED"}

    # ---------------------------------------------------------------- UI (modal)
    def interactive(self, context: Any) -> bool:
        """Whether there is a UI event loop (modal handlers and timers run); False in ``blender -b``."""
        return not bpy.app.background and context.window is not None

    def invoke(self, context: Any, event: Any) -> set[str]:
        if not self.interactive(context):
            return self.execute(context)
        try:
            self._plan = self.make_plan(context)
        except ARTIST_ERRORS as exc:
            self.report({"ERROR"}, message_of(exc))
            return {"CANCELLED"}
        for note in self._plan.notes:
            self.report({"WARNING"}, note)
        wm = self._wm = context.window_manager
        self._progress = Progress(self._plan.scene_name, wm, getattr(context, "workspace", None))
        self._progress.begin()
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        if self._plan.prepare is None:
            return self._start_job()
        return {"RUNNING_MODAL"}

    def _start_job(self) -> set[str]:
        assert self._plan is not None and self._progress is not None
        try:
            self._job = jobs.Job(self._plan.spec).start()
        except ARTIST_ERRORS as exc:
            return self._stop("ERROR", message_of(exc))
        self._tick = jobs.start_poller(self._job, self._progress.on_event, self._store_result)
        return {"RUNNING_MODAL"}

    def _store_result(self, result: jobs.JobResult) -> None:
        self._result = result

    def modal(self, context: Any, event: Any) -> set[str]:
        assert self._plan is not None and self._progress is not None
        if event.type == "ESC" and event.value == "PRESS":
            if self._job is None:
                return self._stop("WARNING", "cancelled before stylizing; rendered frames are kept")
            if not self._job.cancel_requested:
                self._job.cancel()
                self._progress.status("cancelling after the current frame ...")
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if self._job is None:  # still preparing: one blocking unit per timer event
            try:
                text = next(self._plan.prepare) if self._plan.prepare is not None else None
            except StopIteration:
                return self._start_job()
            except ARTIST_ERRORS as exc:
                return self._stop("ERROR", message_of(exc))
            if text:
                self._progress.status(text)
            return {"RUNNING_MODAL"}
        if self._result is not None:
            level, message = outcome(self._plan, self._result)
            return self._stop(level, message)
        return {"PASS_THROUGH"}

    def _stop(self, level: str, message: str) -> set[str]:
        self._release(message)
        self.report({level}, message)
        return {"FINISHED"} if level == "INFO" else {"CANCELLED"}

    def _release(self, message: str) -> None:
        """Undo everything ``invoke`` set up: the event timer, the progress display and the running flag,
        and close the preparation (which restores the render settings it changed)."""
        if self._timer is not None:
            self._wm.event_timer_remove(self._timer)
            self._timer = None
        if self._progress is not None:
            self._progress.end(message)
            self._progress = None
        if self._plan is not None and self._plan.prepare is not None:
            self._plan.prepare.close()

    def cancel(self, context: Any) -> None:
        """Blender ends the modal operator (file load, window closed): stop the core and clean up as well."""
        if self._job is not None and not self._job.finished:
            self._job.cancel()
        if self._tick is not None and bpy.app.timers.is_registered(self._tick):
            bpy.app.timers.unregister(self._tick)
        self._release("interrupted: Blender ended the run; whole frames are kept (Resume continues)")


def can_start(operator: type, context: Any) -> bool:
    """``poll`` of the Stylize operators: a scene, and no run of that scene in progress (two runs would write
    the same job folder). Says why in the tooltip of a greyed-out menu entry."""
    scene = context.scene
    if scene is None:
        return False
    if scene.fav_settings.running:
        operator.poll_message_set("a stylization of this scene is running (Esc cancels it)")
        return False
    return True
