"""Client of the job protocol (docs/job-protocol.md): run the core as a child process and follow its progress.

The one implementation used by every host (Nuke, Blender, the GUI) and by farm scripts:

- :func:`stylize_command` builds ``<python> -m fav_core.cli stylize ARGS --progress json``;
- :func:`child_env` builds the child's environment (a checkout folder on PYTHONPATH, unbuffered output);
- :func:`parse_event` turns one stdout line into an event dict (other lines are logged and ignored);
- :class:`CoreProcess` starts the child and follows it without blocking the caller: one reader thread feeds
  the events into a queue (the caller drains it with :meth:`CoreProcess.poll`, e.g. from a UI timer), another
  keeps the tail of stderr (and copies it to a log file if asked). :meth:`CoreProcess.cancel` sends SIGTERM
  (CTRL_BREAK on Windows): the core finishes or discards the frame it is writing and exits 130; a child that
  has not exited ``grace_s`` seconds later is killed (its writes are atomic, so no half frame is left);
- :class:`EventStream` is the queue between the threads that produce events and the caller that drains them
  (``poll``/``events``/``wait``); :class:`CoreProcess` is one, and so is a host's in-process runner;
- :func:`decide_outcome` is the only place that decides how a run ended (:class:`Outcome`).

Pure standard library and Python 3.9 syntax: Nuke 14 (Python 3.9) and Blender import this file in the artist's
process, where neither torch nor numpy may be imported. It imports nothing from ``fav_core`` either, so the
Blender extension can ship this file on its own (``hosts/blender/build.py`` copies it into the zip).
"""
from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

#: Exit status of a finished run.
EXIT_OK = 0
#: Exit status of a ``FavError`` (bad input or option); the message is also the ``error`` event.
EXIT_ERROR = 2
#: Exit status of a cancelled run (SIGINT / SIGTERM).
EXIT_CANCELLED = 130
#: Seconds a cancelled child gets to finish its frame before it is killed (hosts pass their own).
DEFAULT_GRACE_S = 15.0
#: Lines of stderr kept for the message of a run that ended without a protocol event.
STDERR_TAIL_LINES = 20

#: ``Outcome.status`` values.
DONE, ERROR, CANCELLED, CRASHED = "done", "error", "cancelled", "crashed"

_END = object()  # queue sentinel, queued as (_END, outcome) after the run's last event


@dataclass(frozen=True)
class Outcome:
    """How a run ended.

    Attributes:
        status: ``done`` (exit 0 after a ``done`` event), ``error`` (the core sent an ``error`` event: bad input
            or option), ``cancelled`` (cancel was asked, exit 130 or a ``cancelled`` event) or ``crashed``
            (the process ended without any of these: a traceback, a signal, a missing module, a failed start).
        message: one line for the artist (the core's error message, or what went wrong with the process).
        written: frames written by this run (``done``'s ``written``, else the last ``frame`` event's ``done``).
        returncode: the child's exit status (negative: killed by that signal; None: it never started).
    """

    status: str
    message: str
    written: int
    returncode: int | None


class CoreStartError(RuntimeError):
    """The child could not be started (missing interpreter, not executable, bad working folder).

    Attributes:
        exe: the program that failed to start.
        reason: the operating system's one-line reason.
    """

    def __init__(self, exe: str, reason: str) -> None:
        super().__init__(f"{exe}: cannot start the core ({reason})")
        self.exe = exe
        self.reason = reason


def stylize_command(python: str, args: Sequence[str]) -> list[str]:
    """The child's command line: ``[python, "-m", "fav_core.cli", "stylize", *args, "--progress", "json"]``.

    Args:
        python: the interpreter that has ``fav_core`` (and torch) installed.
        args: the arguments of ``fav stylize`` after the sub-command (``INPUT -o OUTPUT --model M ...``),
            without ``--progress`` (JSON progress is what the client reads).

    Raises:
        ValueError: ``python`` is empty or ``args`` already chooses a ``--progress`` format.
    """
    if not str(python).strip():
        raise ValueError("stylize_command: no Python interpreter given")
    args = [str(a) for a in args]
    if any(a == "--progress" or a.startswith("--progress=") for a in args):
        raise ValueError("stylize_command: --progress is set by the client (json), not by the caller")
    return [str(python), "-m", "fav_core.cli", "stylize", *args, "--progress", "json"]


def child_env(base: Mapping[str, str], core_path: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Environment of the child: ``base`` with ``core_path`` first on PYTHONPATH, unbuffered, no PYTHONHOME.

    PYTHONHOME is dropped because hosts set it for their own embedded Python, which is not the core's.

    Args:
        base: usually ``os.environ`` of the host.
        core_path: a folder holding the ``fav_core`` package (a checkout) to import it from; None or "" = none.
    """
    env = {str(k): str(v) for k, v in base.items()}
    env.pop("PYTHONHOME", None)
    if core_path is not None and str(core_path):
        parts = [str(core_path)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join(parts)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def parse_event(line: str) -> dict[str, Any] | None:
    """One stdout line -> the event dict, or None for a blank line or a line that is not an event.

    A non-empty line that is not a JSON object with a string ``event`` field is logged (warning) and ignored;
    this never raises, whatever the line holds (deeply nested JSON included).
    """
    text = line.strip()
    if not text:
        return None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        log.warning("core printed a non-JSON line on stdout: %.200s", text)
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("event"), str):
        log.warning("core printed a JSON line without an 'event': %.200s", text)
        return None
    return obj


def decide_outcome(
    returncode: int | None,
    last: Mapping[str, Mapping[str, Any]],
    cancel_requested: bool,
    stderr_tail: Iterable[str] = (),
    exe: str = "core",
) -> Outcome:
    """How a run ended, from its exit status and the last event of each kind (docs/job-protocol.md).

    Args:
        returncode: the exit status (None: the process never ran).
        last: the last event of each kind seen, keyed by its ``event`` name.
        cancel_requested: whether the client asked the run to stop.
        stderr_tail: the last lines of stderr (the last non-blank one goes into a crash message).
        exe: the program, named in crash messages.

    Returns:
        ``done`` only for exit 0 after a ``done`` event; an ``error`` event wins over everything else; then
        ``cancelled`` (asked for, exit 130 or a ``cancelled`` event); anything else is ``crashed``.
    """
    frame = last.get("frame", {})
    written = _int(frame.get("done"), 0)
    if "done" in last and returncode == EXIT_OK:
        n = _int(last["done"].get("written"), written)
        return Outcome(DONE, f"wrote {n} frame(s)", n, returncode)
    if "error" in last:
        message = " ".join(str(last["error"].get("message") or "unknown error").split())
        return Outcome(ERROR, message, written, returncode)
    if cancel_requested or returncode == EXIT_CANCELLED or "cancelled" in last:
        return Outcome(CANCELLED, f"cancelled after {written} frame(s)", written, returncode)
    tail = next((s.strip() for s in reversed(list(stderr_tail)) if s.strip()), "no message on stderr")
    if returncode is None:
        return Outcome(CRASHED, f"{exe}: the core did not run ({tail})", written, returncode)
    if returncode == EXIT_OK:
        return Outcome(CRASHED, f"{exe}: the core exited without a 'done' event ({tail})", written, returncode)
    return Outcome(CRASHED, f"{exe}: the core failed with exit code {returncode}: {tail}", written, returncode)


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


class EventStream:
    """The events of one run, produced by worker threads and drained by the caller, and how the run ended.

    Producers (the reader threads of :class:`CoreProcess`, or a host's own worker that runs the core in its
    process) call :meth:`push` for each event and :meth:`close` once with the exit status. The caller drains
    with :meth:`poll` (never blocks longer than asked: fine for a UI timer), :meth:`events` or :meth:`wait`;
    each event is delivered once, in order, and :attr:`outcome` is set together with the last one.
    """

    def __init__(self, exe: str) -> None:
        """Create an empty, not yet started stream.

        Args:
            exe: the program (or runner) named in crash messages.
        """
        self.exe = exe
        self._queue: queue.Queue[Any] = queue.Queue()
        self._last: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._started = False
        self._cancel_requested = False
        self._outcome: Outcome | None = None

    def start(self) -> EventStream:
        """Mark the run as started (subclasses then start their runner); returns self."""
        self._started = True
        return self

    # ------------------------------------------------------------------ producer side
    def push(self, event: dict[str, Any]) -> None:
        """Queue one event (any thread); events without a string ``event`` field are logged and dropped."""
        if not isinstance(event.get("event"), str):
            log.warning("dropping a progress event without an 'event' name: %.200r", event)
            return
        self._last[event["event"]] = event
        self._queue.put(event)

    def close(self, returncode: int | None, stderr_tail: Iterable[str] = ()) -> None:
        """The run is over (any thread, once, after the last :meth:`push`); decides its :class:`Outcome`."""
        with self._lock:
            cancelled = self._cancel_requested
        outcome = decide_outcome(returncode, self._last, cancelled, stderr_tail, self.exe)
        log.info("%s ended with exit status %s: %s", self.exe, returncode, outcome.status)
        self._queue.put((_END, outcome))

    # ------------------------------------------------------------------ state
    @property
    def started(self) -> bool:
        return self._started

    @property
    def finished(self) -> bool:
        """True once the run is over and every event has been drained (:attr:`outcome` is then set)."""
        return self._outcome is not None

    @property
    def running(self) -> bool:
        """True between the start and the draining of the last event."""
        return self._started and self._outcome is None

    @property
    def outcome(self) -> Outcome | None:
        """How the run ended; None until :attr:`finished`."""
        return self._outcome

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested

    def cancel(self, grace_s: float = DEFAULT_GRACE_S) -> None:
        """Mark the run as cancelled (subclasses also tell their runner to stop); ``grace_s`` is theirs to use."""
        with self._lock:
            self._cancel_requested = True

    # ------------------------------------------------------------------ consumer side
    def poll(self, timeout: float = 0.0) -> list[dict[str, Any]]:
        """The events that arrived since the last call, in order.

        Args:
            timeout: seconds to wait for the first one when none is queued (0: return at once).

        Returns:
            Possibly empty; never blocks longer than ``timeout``.
        """
        out: list[dict[str, Any]] = []
        if not self._started or self._outcome is not None:
            return out
        try:
            item = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return out
        while True:
            if isinstance(item, tuple) and item[0] is _END:
                self._outcome = item[1]
                return out
            out.append(item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return out

    def events(self) -> Iterator[dict[str, Any]]:
        """Block and yield every event until the run ends (then :attr:`outcome` is set)."""
        while self.running:
            yield from self.poll(timeout=0.5)

    def wait(self, timeout: float | None = None,
             on_event: Callable[[dict[str, Any]], None] | None = None) -> Outcome:
        """Block until the run has ended; ``on_event`` gets each event not drained yet, in this thread.

        Args:
            timeout: seconds to wait at most (None: no limit).
            on_event: called with every remaining event; it may call :meth:`cancel`.

        Returns:
            The :class:`Outcome`.

        Raises:
            TimeoutError: the run has not ended within ``timeout`` seconds (it keeps running).
            RuntimeError: not started.
        """
        if not self._started:
            raise RuntimeError(f"{type(self).__name__}.wait: not started")
        deadline = None if timeout is None else _now() + timeout
        while self._outcome is None:
            left = 0.5 if deadline is None else min(0.5, deadline - _now())
            if left <= 0:
                raise TimeoutError(f"{self.exe}: the core is still running after {timeout:.1f} s")
            for event in self.poll(timeout=left):
                if on_event is not None:
                    on_event(event)
        return self._outcome


class CoreProcess(EventStream):
    """One run of the core as a child process, followed without blocking the caller.

    Typical use from a UI timer::

        proc = CoreProcess(stylize_command(python, args), env=child_env(os.environ)).start()
        ...                                   # every 100 ms:
        for event in proc.poll():
            show(event)
        if proc.finished:
            report(proc.outcome)

    or, blocking (farm scripts, background modes): ``outcome = proc.wait(on_event=show)``.
    """

    def __init__(
        self,
        cmd: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        """Describe the run (nothing starts before :meth:`start`).

        Args:
            cmd: the full command, e.g. from :func:`stylize_command`.
            env: environment of the child (None: inherited), e.g. from :func:`child_env`.
            cwd: working folder of the child (None: inherited).
            log_path: file that receives the child's stderr as well (its folder is created); None = none.
        """
        if not cmd:
            raise ValueError("CoreProcess: empty command")
        super().__init__(str(cmd[0]))
        self.cmd = [str(c) for c in cmd]
        self.env = None if env is None else dict(env)
        self.cwd = None if cwd is None else str(cwd)
        self.log_path = None if log_path is None else Path(log_path)
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._killer: threading.Timer | None = None

    def start(self) -> CoreProcess:
        """Start the child and its reader threads; returns self.

        Raises:
            CoreStartError: the program cannot be started.
            RuntimeError: already started.
        """
        if self._proc is not None:
            raise RuntimeError("CoreProcess.start: already started")
        log_file: IO[str] | None = None
        if self.log_path is not None:
            try:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                log_file = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed by the reader)
            except OSError as exc:
                raise CoreStartError(self.exe, f"cannot write the log {self.log_path}: {exc.strerror or exc}") \
                    from exc
        kwargs: dict[str, Any] = {}
        if os.name == "nt":  # CTRL_BREAK_EVENT reaches only a child in its own process group
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        log.info("starting the core: %s", " ".join(self.cmd))
        try:
            self._proc = subprocess.Popen(
                self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, encoding="utf-8", errors="replace", bufsize=1, env=self.env, cwd=self.cwd, **kwargs,
            )
        except OSError as exc:
            if log_file is not None:
                log_file.close()
            raise CoreStartError(self.exe, str(exc.strerror or exc)) from exc
        self._started = True
        err = threading.Thread(target=self._read_stderr, args=(self._proc.stderr, log_file),
                               name="fav-core-stderr", daemon=True)
        err.start()
        threading.Thread(target=self._read_stdout, args=(err,), name="fav-core-stdout", daemon=True).start()
        return self

    @property
    def pid(self) -> int | None:
        """The child's process id (None before :meth:`start`)."""
        return None if self._proc is None else self._proc.pid

    def cancel(self, grace_s: float = DEFAULT_GRACE_S) -> None:
        """Ask the child to stop after (or instead of) the frame in progress; kill it after ``grace_s``.

        Non-blocking. Calling it again does not restart the grace period; calling it after the child has
        exited only marks the run as cancelled (which matters only if it ended without a protocol event).
        """
        proc = self._proc
        with self._lock:
            if self._cancel_requested or proc is None:
                return
            self._cancel_requested = True
            if proc.poll() is not None:
                return
            log.info("cancelling the core (pid %d)", proc.pid)
            try:
                proc.send_signal(signal.CTRL_BREAK_EVENT if os.name == "nt" else signal.SIGTERM)  # type: ignore[attr-defined]
            except OSError:
                log.debug("the core (pid %d) was already gone when cancelling", proc.pid)
            self._killer = threading.Timer(max(0.0, grace_s), self._kill, args=(grace_s,))
            self._killer.daemon = True
            self._killer.start()

    def _kill(self, grace_s: float) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            log.warning("the core (pid %d) did not stop within %.1f s of cancel; killing it", proc.pid, grace_s)
            try:
                proc.kill()
            except OSError:
                log.debug("the core (pid %d) exited while being killed", proc.pid)

    def _read_stderr(self, stream: IO[str], log_file: IO[str] | None) -> None:
        try:
            for line in iter(stream.readline, ""):
                self._stderr.append(line.rstrip("\n"))
                log.debug("core: %s", line.rstrip())
                if log_file is not None:
                    log_file.write(line)
                    log_file.flush()
        finally:
            stream.close()
            if log_file is not None:
                log_file.close()

    def _read_stdout(self, stderr_reader: threading.Thread) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        try:
            for line in iter(proc.stdout.readline, ""):
                event = parse_event(line)
                if event is not None:
                    self.push(event)
        finally:
            proc.stdout.close()
            code = proc.wait()
            stderr_reader.join(timeout=5.0)
            with self._lock:
                if self._killer is not None:
                    self._killer.cancel()
            self.close(code, list(self._stderr))


def _now() -> float:
    return time.monotonic()
