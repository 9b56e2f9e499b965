"""Run the core on a sequence without blocking Blender: a child process or a worker thread.

Both runners speak the progress protocol of docs/job-protocol.md: a stream of event dicts (``start``,
``frame``, ``done``, ``error``, ``cancelled``) pushed into a queue. Blender's main thread drains that queue
(``Job.poll`` from a ``bpy.app.timers`` poller or a modal operator), and background mode (``blender -b``) uses
``Job.wait`` instead, because there timers and modal handlers never run.

- Subprocess (default): ``<python> -m fav_core.cli stylize INPUT -o OUTPUT ... --progress json``; stdout carries
  the events, stderr goes to a log file. Cancel sends SIGTERM (CTRL_BREAK on Windows); the core then finishes
  or discards the frame being written, so only whole frames remain. Torch never enters Blender's process.
- In-process: the same CLI entry, called in a worker thread of Blender's own Python (only when torch and
  fav_core import there and the preference asks for it). Cancel sets the core's ``CancelToken``.

This module imports ``bpy`` only inside :func:`start_poller`, so it can be tested without Blender.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .errors import HostError
from .options import StylizeOptions

log = logging.getLogger(__name__)

Event = dict[str, Any]

#: Exit status of a cancelled core run (docs/job-protocol.md).
EXIT_CANCELLED = 130
#: Seconds a cancelled child gets to finish its frame before it is killed.
CANCEL_GRACE_S = 60.0

_END = object()  # queue sentinel: the runner has stopped and pushed everything it had


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

    def cli_args(self) -> list[str]:
        """Arguments after ``fav`` (sub-command first), with JSON progress."""
        return ["stylize", self.input, "-o", self.output, *self.options.to_cli_args(), "--progress", "json"]

    def command(self) -> list[str]:
        """The child-process command line."""
        return [self.python, "-m", "fav_core.cli", *self.cli_args()]


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


class Job:
    """A running (or finished) stylization: start it, poll/wait for events, cancel it.

    Events are plain dicts as in docs/job-protocol.md; they are recorded into :attr:`result` as they are
    drained, so callers only need to look at the ones they display.
    """

    def __init__(self, spec: JobSpec) -> None:
        self.spec = spec
        self._events: queue.Queue[Any] = queue.Queue()
        self._cancel = threading.Event()
        self._proc: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None
        self._returncode: int | None = None
        self._ended = False
        self._written: list[tuple[int, str | None]] = []
        self._total = 0
        self._error = ""
        self._saw_done = False
        self._saw_cancelled = False
        self._cancel_at: float | None = None
        self.result: JobResult | None = None

    # ------------------------------------------------------------------ start
    def start(self) -> Job:
        """Start the run in the background and return self.

        Raises:
            HostError: the interpreter cannot be started (missing file, not executable).
        """
        if self.spec.in_process:
            self._thread = threading.Thread(target=self._run_in_process, name="fav-core", daemon=True)
        else:
            self._proc = self._spawn()
            self._thread = threading.Thread(target=self._read_child, name="fav-core-reader", daemon=True)
        self._thread.start()
        return self

    def _spawn(self) -> subprocess.Popen[str]:
        env = dict(os.environ)
        env.pop("PYTHONHOME", None)
        env["PYTHONUNBUFFERED"] = "1"
        if self.spec.core_path:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (self.spec.core_path, env.get("PYTHONPATH", "")) if p)
        kwargs: dict[str, Any] = {}
        if os.name == "nt":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        log_file: IO[str] | int = subprocess.DEVNULL
        if self.spec.log_path is not None:
            self.spec.log_path.parent.mkdir(parents=True, exist_ok=True)
            log_file = open(self.spec.log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed after Popen)
        log.info("starting core: %s", " ".join(self.spec.command()))
        try:
            return subprocess.Popen(
                self.spec.command(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log_file,
                text=True,
                encoding="utf-8",
                bufsize=1,
                env=env,
                **kwargs,
            )
        except OSError as exc:
            raise HostError(f"{self.spec.python}: cannot start the core's Python ({exc.strerror})") from exc
        finally:
            if not isinstance(log_file, int):
                log_file.close()

    def _read_child(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        for line in proc.stdout:
            text = line.strip()
            if not text:
                continue
            try:
                event = json.loads(text)
            except json.JSONDecodeError:
                log.warning("core printed a non-protocol line on stdout: %s", text)
                continue
            if isinstance(event, dict) and "event" in event:
                self._events.put(event)
        self._returncode = proc.wait()
        self._events.put(_END)

    def _run_in_process(self) -> None:
        from . import inprocess  # imports fav_core (and so torch) only here, in the worker

        try:
            self._returncode = inprocess.run(self.spec.cli_args(), self._events.put, self._cancel,
                                             self.spec.core_path)
        finally:
            self._events.put(_END)

    # ------------------------------------------------------------------ control
    def cancel(self) -> None:
        """Ask the run to stop after (or instead of) the frame in progress; never leaves half a frame.

        A child that has not stopped :data:`CANCEL_GRACE_S` seconds later is killed (by :meth:`poll` /
        :meth:`wait`); its atomic writes still leave no partial frame.
        """
        if self._cancel_at is None:
            self._cancel_at = _now()
        self._cancel.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                proc.send_signal(signal.CTRL_BREAK_EVENT if os.name == "nt" else signal.SIGTERM)
            except OSError:
                log.debug("core process already gone when cancelling")

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    @property
    def finished(self) -> bool:
        """True once every event has been drained and :attr:`result` is set."""
        return self._ended

    # ------------------------------------------------------------------ events
    def poll(self) -> list[Event]:
        """Drain the events that arrived so far (non-blocking, call on the main thread)."""
        self._enforce_grace()
        out: list[Event] = []
        while not self._ended:
            try:
                item = self._events.get_nowait()
            except queue.Empty:
                break
            self._take(item, out)
        return out

    def wait(self, on_event: Callable[[Event], None] | None = None, timeout: float | None = None) -> JobResult:
        """Block until the run ends, calling ``on_event`` for each event in this thread (background mode).

        Args:
            on_event: called with every event, in order; it may call :meth:`cancel`.
            timeout: seconds to wait for the next event before giving up (None = forever).

        Raises:
            HostError: no event arrived within ``timeout`` seconds (the run is cancelled first).
        """
        while not self._ended:
            cancelling = self._cancel_at is not None and self._proc is not None
            try:
                item = self._events.get(timeout=0.5 if cancelling else timeout)
            except queue.Empty:
                if cancelling:
                    self._enforce_grace()
                    continue
                self.cancel()
                raise HostError(f"the core sent nothing for {timeout:.0f} s; run cancelled") from None
            out: list[Event] = []
            self._take(item, out)
            for event in out:
                if on_event is not None:
                    on_event(event)
        assert self.result is not None
        return self.result

    def _enforce_grace(self) -> None:
        if self._cancel_at is not None and _now() - self._cancel_at >= CANCEL_GRACE_S:
            self._kill()

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            log.warning("core did not stop within %.0f s of cancel; killing it", CANCEL_GRACE_S)
            self._proc.kill()

    def _take(self, item: Any, out: list[Event]) -> None:
        if item is _END:
            if self._thread is not None:
                self._thread.join()
            self._ended = True
            self.result = self._finish()
            return
        kind = item.get("event")
        if kind == "start":
            self._total = int(item.get("total", 0))
        elif kind == "frame":
            path = item.get("path")
            self._written.append((int(item["index"]), None if path is None else str(path)))
        elif kind == "error":
            self._error = str(item.get("message", "")).strip()
        elif kind == "done":
            self._saw_done = True
        elif kind == "cancelled":
            self._saw_cancelled = True
        out.append(item)

    def _finish(self) -> JobResult:
        rc = self._returncode if self._returncode is not None else 1
        if rc == 0 and self._saw_done:
            status, message = "done", f"{len(self._written)} frames stylized"
        elif rc == EXIT_CANCELLED or self._saw_cancelled or (self._cancel.is_set() and not self._error):
            status, message = "cancelled", f"cancelled after {len(self._written)} frames"
        else:
            status = "failed"
            message = self._error or self._last_log_line() or f"the core stopped with exit status {rc}"
        return JobResult(status, list(self._written), self._total, message, rc)

    def _last_log_line(self) -> str:
        path = self.spec.log_path
        if path is None or not path.is_file():
            return ""
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()]
        lines = [ln for ln in lines if ln]
        return f"the core failed: {lines[-1]} (log: {path})" if lines else ""


def _now() -> float:
    return time.monotonic()


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
