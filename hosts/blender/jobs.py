"""Run the core on a sequence without blocking Blender: a child process or a worker thread.

Both runners speak the progress protocol of docs/job-protocol.md through :mod:`fav_core.jobclient` (the one
protocol client of every host): events are queued by a background thread, and Blender's main thread drains them
(``Job.poll`` from a ``bpy.app.timers`` poller or a modal operator), or background mode (``blender -b``) uses
``Job.wait`` instead, because there timers and modal handlers never run.

- Subprocess (default): :class:`fav_core.jobclient.CoreProcess` runs ``<python> -m fav_core.cli stylize INPUT
  -o OUTPUT ... --progress json``; stdout carries the events, stderr goes to a log file. Cancel sends SIGTERM
  (CTRL_BREAK on Windows); the core then finishes or discards the frame being written, so only whole frames
  remain. Torch never enters Blender's process.
- In-process: the same CLI entry, called in a worker thread of Blender's own Python (only when torch and
  fav_core import there and the preference asks for it), feeding a :class:`fav_core.jobclient.EventStream`.
  Cancel sets the core's ``CancelToken``.

The client module is this extension's own copy (``build.py`` puts ``fav_core/jobclient.py`` into the zips) or,
from a checkout, ``fav_core/jobclient.py`` itself, loaded by path so that add-on start-up never imports the
``fav_core`` package. This module imports ``bpy`` only inside :func:`start_poller`, so it can be tested without
Blender.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import HostError
from .options import StylizeOptions

log = logging.getLogger(__name__)

Event = dict[str, Any]

#: Seconds a cancelled child gets to finish its frame before it is killed.
CANCEL_GRACE_S = 60.0


def _load_jobclient() -> ModuleType:
    """``jobclient.py`` next to this file (zips), else the checkout's ``fav_core/jobclient.py``, else fav_core's."""
    name = f"{__package__}.jobclient"
    if name in sys.modules:
        return sys.modules[name]
    here = Path(__file__).resolve().parent
    for path in (here / "jobclient.py", here.parent.parent / "fav_core" / "jobclient.py"):
        if path.is_file():
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # dataclasses look their module up while the file runs
            spec.loader.exec_module(module)
            return module
    try:
        from fav_core import jobclient  # the core installed in Blender's Python
    except ImportError as exc:
        raise ImportError(f"{here}: jobclient.py is missing from this extension and fav_core is not installed "
                          "in Blender's Python; build the extension with hosts/blender/build.py (Blender's "
                          "'extension build' does not bundle the core's job client)") from exc
    return jobclient


jobclient = _load_jobclient()

#: Exit status of a cancelled core run (docs/job-protocol.md).
EXIT_CANCELLED = jobclient.EXIT_CANCELLED


@dataclass(frozen=True)
class JobSpec:
    """One stylization run.

    Attributes:
        input: video file, printf pattern or folder of numbered images (what ``fav stylize`` accepts).
        output: printf pattern (``.../stylized_%04d.exr``), folder or video file.
        options: the stylization options.
        python: interpreter that has ``fav_core`` installed (child-process mode).
        in_process: run in a worker thread of this Python instead of a child process.
        core_path: extra folder to put on the path so that ``fav_core`` imports ("" = none).
        log_path: file that receives the core's log (stderr); None = discard.
    """

    input: str
    output: str
    options: StylizeOptions
    python: str = sys.executable
    in_process: bool = False
    core_path: str = ""
    log_path: Path | None = None

    def stylize_args(self) -> list[str]:
        """Arguments of ``fav stylize`` (after the sub-command, without ``--progress``)."""
        return [self.input, "-o", self.output, *self.options.to_cli_args()]

    def cli_args(self) -> list[str]:
        """Arguments after ``fav`` (sub-command first), with JSON progress."""
        return ["stylize", *self.stylize_args(), "--progress", "json"]

    def command(self) -> list[str]:
        """The child-process command line."""
        return jobclient.stylize_command(self.python, self.stylize_args())


@dataclass
class JobResult:
    """How a run ended.

    Attributes:
        status: "done" | "cancelled" | "failed".
        written: (frame index, file path or None for video) of every frame the core reported as written,
            in the order written (includes frames written before a cancel).
        total: frames the run meant to process (from the ``start`` event; 0 when it never started).
        message: one line for the artist (the core's error message, or why the run stopped).
        returncode: exit status of the child (0 / 2 / 130 / other), or the in-process equivalent.
    """

    status: str
    written: list[tuple[int, str | None]] = field(default_factory=list)
    total: int = 0
    message: str = ""
    returncode: int = 0


class _InProcessRun(jobclient.EventStream):  # type: ignore[name-defined,misc]
    """``fav stylize`` in a worker thread of this Python (see :mod:`inprocess`), as an event stream."""

    def __init__(self, spec: JobSpec) -> None:
        super().__init__("Blender's Python")
        self._spec = spec
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="fav-core", daemon=True)

    def start(self) -> _InProcessRun:
        super().start()
        self._thread.start()
        return self

    def cancel(self, grace_s: float = CANCEL_GRACE_S) -> None:
        super().cancel(grace_s)
        self._stop.set()

    def _work(self) -> None:
        from . import inprocess  # imports fav_core (and so torch) only here, in the worker

        code: int | None = 1
        try:
            code = inprocess.run(self._spec.cli_args(), self.push, self._stop, self._spec.core_path)
        finally:
            self.close(code)


class Job:
    """A running (or finished) stylization: start it, poll/wait for events, cancel it.

    Events are plain dicts as in docs/job-protocol.md; they are recorded into :attr:`result` as they are
    drained, so callers only need to look at the ones they display.
    """

    def __init__(self, spec: JobSpec) -> None:
        self.spec = spec
        self._run: Any = None  # a jobclient.EventStream once started
        self._written: list[tuple[int, str | None]] = []
        self._total = 0
        self.result: JobResult | None = None

    # ------------------------------------------------------------------ start
    def start(self) -> Job:
        """Start the run in the background and return self.

        Raises:
            HostError: the interpreter cannot be started (missing file, not executable).
        """
        if self.spec.in_process:
            self._run = _InProcessRun(self.spec).start()
            return self
        env = jobclient.child_env(os.environ, self.spec.core_path or None)
        proc = jobclient.CoreProcess(self.spec.command(), env=env, log_path=self.spec.log_path)
        try:
            self._run = proc.start()
        except jobclient.CoreStartError as exc:
            raise HostError(f"{exc.exe}: cannot start the core's Python ({exc.reason})") from exc
        return self

    # ------------------------------------------------------------------ control
    def cancel(self) -> None:
        """Ask the run to stop after (or instead of) the frame in progress; never leaves half a frame.

        A child that has not stopped :data:`CANCEL_GRACE_S` seconds later is killed; its atomic writes still
        leave no partial frame.
        """
        if self._run is not None:
            self._run.cancel(CANCEL_GRACE_S)

    @property
    def cancel_requested(self) -> bool:
        return self._run is not None and bool(self._run.cancel_requested)

    @property
    def finished(self) -> bool:
        """True once every event has been drained and :attr:`result` is set."""
        return self.result is not None

    # ------------------------------------------------------------------ events
    def poll(self) -> list[Event]:
        """Drain the events that arrived so far (non-blocking, call on the main thread)."""
        if self._run is None or self.result is not None:
            return []
        return self._take(self._run.poll())

    def wait(self, on_event: Callable[[Event], None] | None = None, timeout: float | None = None) -> JobResult:
        """Block until the run ends, calling ``on_event`` for each event in this thread (background mode).

        Args:
            on_event: called with every event, in order; it may call :meth:`cancel`.
            timeout: seconds to wait for the next event before giving up (None = forever).

        Raises:
            HostError: no event arrived within ``timeout`` seconds (the run is cancelled first).
        """
        if self._run is None:
            raise HostError("the job was never started")
        while self.result is None:
            patient = timeout is None or self.cancel_requested
            events = self._take(self._run.poll(timeout=0.5 if patient else timeout))
            if not events and self.result is None and not patient:
                self.cancel()
                raise HostError(f"the core sent nothing for {timeout:.0f} s; run cancelled")
            for event in events:
                if on_event is not None:
                    on_event(event)
        return self.result

    def _take(self, events: list[Event]) -> list[Event]:
        for item in events:
            kind = item.get("event")
            if kind == "start":
                self._total = int(item.get("total", 0))
            elif kind == "frame":
                path = item.get("path")
                self._written.append((int(item["index"]), None if path is None else str(path)))
        if self._run.finished and self.result is None:
            self.result = self._finish(self._run.outcome)
        return events

    def _finish(self, outcome: Any) -> JobResult:
        n = len(self._written)
        rc = outcome.returncode if outcome.returncode is not None else 1
        if outcome.status == jobclient.DONE:
            status, message = "done", f"{n} frames stylized"
        elif outcome.status == jobclient.CANCELLED:
            status, message = "cancelled", f"cancelled after {n} frames"
        else:
            status, message = "failed", outcome.message
            if outcome.status == jobclient.CRASHED and self.spec.log_path is not None and not self.spec.in_process:
                message = f"{message} (log: {self.spec.log_path})"
        return JobResult(status, list(self._written), self._total, message, rc)


def start_poller(
    job: Job,
    on_event: Callable[[Event], None],
    on_finished: Callable[[JobResult], None],
    interval: float = 0.2,
) -> Callable[[], float | None]:
    """Drain ``job`` on Blender's main thread with ``bpy.app.timers`` (UI mode only).

    ``on_event`` gets every event and ``on_finished`` the result, both on the main thread, where touching
    ``bpy`` data is allowed. Returns the registered timer function (to unregister it early).
    """
    import bpy

    def tick() -> float | None:
        for event in job.poll():
            on_event(event)
        if job.finished:
            assert job.result is not None
            on_finished(job.result)
            return None
        return interval

    bpy.app.timers.register(tick, first_interval=interval, persistent=False)
    return tick
