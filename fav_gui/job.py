"""The full run as a child process (docs/job-protocol.md): progress bar, ETA and Cancel.

:class:`JobRunner` starts ``<python> -m fav_core.cli stylize ... --progress json`` with :class:`QProcess` (no
thread of ours: Qt delivers its output as signals on the UI thread), parses the JSON-lines progress and reports
how the run ended. Cancel sends SIGTERM: the core finishes or discards the frame it is writing, never
half-writes it, and exits 130; a re-run resumes after the last whole frame. A child that ignores SIGTERM for
``grace_ms`` is killed (writes are atomic, so even then no half frame is left).

Imported by Nuke too: no torch, no numpy, Python 3.7 syntax.
"""
from __future__ import annotations

import json
import logging
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fav_gui.qt import QtCore, QtWidgets, Signal

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_ERROR = 2
EXIT_CANCELLED = 130


@dataclass(frozen=True)
class JobOutcome:
    """How a run ended.

    Attributes:
        status: ``done``, ``error`` or ``cancelled``.
        message: one line for the artist.
        written: frames written by this run.
        returncode: the child's exit status (None if it never started).
    """

    status: str
    message: str
    written: int
    returncode: int | None


def stylize_command(argv: Sequence[str], python: str | None = None) -> list[str]:
    """The child's command line for ``fav`` arguments ``argv`` (starting with ``"stylize"``), JSON progress.

    Args:
        argv: e.g. from :func:`fav_gui.options.stylize_argv`.
        python: the core's interpreter (default: this one).
    """
    return [python or sys.executable, "-m", "fav_core.cli", *argv, "--progress", "json"]


def parse_event(line: str) -> dict[str, Any] | None:
    """One stdout line -> event dict, or None (logged) if it is not a JSON object with an ``event`` field."""
    text = line.strip()
    if not text:
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        log.warning("core printed a non-JSON line on stdout: %.200s", text)
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("event"), str):
        log.warning("core printed a JSON line without an 'event': %.200s", text)
        return None
    return obj


def outcome_of(code: int | None, last: Mapping[str, Mapping[str, Any]], cancelled: bool,
               stderr_tail: Sequence[str], exe: str) -> JobOutcome:
    """Decide how a run ended from its exit code and the last event of each kind (docs/job-protocol.md)."""
    written = int(last.get("frame", {}).get("done", 0))
    if "done" in last and code == EXIT_OK:
        n = int(last["done"].get("written", written))
        return JobOutcome("done", f"wrote {n} frame(s) to {last['done'].get('output', '')}", n, code)
    if "error" in last:
        return JobOutcome("error", str(last["error"].get("message", "unknown error")), written, code)
    if cancelled or code == EXIT_CANCELLED or "cancelled" in last:
        return JobOutcome("cancelled", f"cancelled after {written} frame(s); Run again to resume", written, code)
    tail = next((s.strip() for s in reversed(list(stderr_tail)) if s.strip()), "no message on stderr")
    if code == EXIT_OK:
        return JobOutcome("error", f"{exe}: the core exited without a 'done' event ({tail})", written, code)
    return JobOutcome("error", f"{exe}: the core failed with exit code {code}: {tail}", written, code)


class Eta:
    """Time left, from the mean duration of the last ``window`` frames."""

    def __init__(self, window: int = 10) -> None:
        self._seconds: deque[float] = deque(maxlen=max(1, window))
        self.total = 0
        self.done = 0

    def start(self, total: int) -> None:
        self._seconds.clear()
        self.total, self.done = int(total), 0

    def frame(self, done: int, seconds: float) -> None:
        self.done = int(done)
        self._seconds.append(max(0.0, float(seconds)))

    def remaining_s(self) -> float | None:
        """Seconds left, or None before the first frame."""
        if not self._seconds:
            return None
        return sum(self._seconds) / len(self._seconds) * max(0, self.total - self.done)


def format_duration(seconds: float | None) -> str:
    """``"1:02:03"`` / ``"2:05"`` / ``"--:--"`` for None."""
    if seconds is None:
        return "--:--"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class JobRunner(QtCore.QObject):
    """One child process at a time, following its JSON progress.

    Signals:
        event(dict): every progress event, in order (``start``, ``frame``, ``done``, ``error``, ``cancelled``).
        ended(object): the :class:`JobOutcome`, once per run.
    """

    event = Signal(dict)
    ended = Signal(object)

    def __init__(self, parent: QtCore.QObject | None = None, grace_ms: int = 15000) -> None:
        super().__init__(parent)
        self.grace_ms = grace_ms
        self._proc: QtCore.QProcess | None = None
        self._buffer = b""
        self._stderr: deque[str] = deque(maxlen=20)
        self._last: dict[str, dict[str, Any]] = {}
        self._cancelled = False
        self._exe = ""
        self._kill_timer = QtCore.QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill)

    def running(self) -> bool:
        return self._proc is not None

    def start(self, cmd: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None) -> None:
        """Start ``cmd`` (e.g. :func:`stylize_command`); ``ended`` fires when it is over.

        Raises:
            RuntimeError: a run is already going (the UI disables Run meanwhile).
        """
        if self._proc is not None:
            raise RuntimeError("a job is already running")
        cmd = list(cmd)
        self._buffer, self._last, self._cancelled, self._exe = b"", {}, False, cmd[0]
        self._stderr.clear()
        proc = QtCore.QProcess(self)
        if env is not None:
            penv = QtCore.QProcessEnvironment()
            for k, v in env.items():
                penv.insert(str(k), str(v))
            proc.setProcessEnvironment(penv)
        if cwd is not None:
            proc.setWorkingDirectory(str(cwd))
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._finished)
        proc.errorOccurred.connect(self._error)
        self._proc = proc
        log.info("starting %s", " ".join(cmd))
        proc.start(cmd[0], cmd[1:])

    def cancel(self) -> None:
        """SIGTERM the child (it exits 130 after finishing or dropping its frame); kill it after the grace time."""
        if self._proc is None or self._cancelled:
            return
        self._cancelled = True
        self._proc.terminate()
        self._kill_timer.start(self.grace_ms)

    def wait(self, timeout_ms: int) -> bool:
        """Block until the child has exited (tests, closing the window); True if it did."""
        return self._proc is None or bool(self._proc.waitForFinished(timeout_ms))

    # ------------------------------------------------------------------ process signals
    def _kill(self) -> None:
        if self._proc is not None:
            log.warning("core ignored SIGTERM for %d ms; killing it", self.grace_ms)
            self._proc.kill()

    def _read_stdout(self) -> None:
        if self._proc is None:
            return
        self._buffer += bytes(self._proc.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            ev = parse_event(raw.decode("utf-8", "replace"))
            if ev is not None:
                self._last[ev["event"]] = ev
                self.event.emit(ev)

    def _read_stderr(self) -> None:
        if self._proc is None:
            return
        text = bytes(self._proc.readAllStandardError().data()).decode("utf-8", "replace")
        for line in text.splitlines():
            self._stderr.append(line)
            log.debug("core: %s", line)

    def _finished(self, code: int, status: Any = None) -> None:
        self._read_stdout()
        self._read_stderr()
        if self._buffer.strip():
            self._buffer += b"\n"
            self._read_stdout()
        self._kill_timer.stop()
        crashed = self._proc is not None and self._proc.exitStatus() == QtCore.QProcess.ExitStatus.CrashExit
        outcome = outcome_of(None if crashed and not self._cancelled else int(code), self._last,
                             self._cancelled, list(self._stderr), self._exe)
        self._release()
        self.ended.emit(outcome)

    def _error(self, error: Any) -> None:
        if error != QtCore.QProcess.ProcessError.FailedToStart or self._proc is None:
            return  # crashes arrive through finished()
        message = f"{self._exe}: cannot start the core ({self._proc.errorString()})"
        self._release()
        self.ended.emit(JobOutcome("error", message, 0, None))

    def _release(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.deleteLater()


class JobWidget(QtWidgets.QWidget):
    """Run / Cancel buttons, a progress bar, the ETA and a one-line status for a :class:`JobRunner`.

    The owner builds the command: it listens to ``run_requested`` and calls :meth:`start`.

    Signals:
        run_requested(): the Run button was pressed.
        ended(object): the run's :class:`JobOutcome`.
    """

    run_requested = Signal()
    ended = Signal(object)

    def __init__(self, run_label: str = "Run", parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = JobRunner(self)
        self.eta = Eta()
        self.run_button = QtWidgets.QPushButton(run_label)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.bar = QtWidgets.QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.eta_label = QtWidgets.QLabel("ETA --:--")
        self.status = QtWidgets.QLabel("idle")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.bar, 1)
        row.addWidget(self.eta_label)
        lay.addLayout(row)
        lay.addWidget(self.status)
        self.run_button.clicked.connect(self.run_requested.emit)
        self.cancel_button.clicked.connect(self.cancel)
        self.runner.event.connect(self._on_event)
        self.runner.ended.connect(self._on_ended)

    def start(self, cmd: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        """Start the run (buttons and bar follow it)."""
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.bar.setRange(0, 0)  # busy until the core says how many frames
        self.eta_label.setText("ETA --:--")
        self.status.setText("starting the core ...")
        self.runner.start(cmd, env=env)

    def cancel(self) -> None:
        if self.runner.running():
            self.status.setText("cancelling: finishing the current frame ...")
            self.cancel_button.setEnabled(False)
            self.runner.cancel()

    def show_error(self, message: str) -> None:
        """Show a problem found before starting (bad settings)."""
        self.status.setText(f"error: {message}")

    def _on_event(self, ev: dict) -> None:
        kind = ev["event"]
        if kind == "start":
            total = int(ev.get("total") or 0)
            self.eta.start(total)
            self.bar.setRange(0, max(total, 1))
            self.bar.setValue(0)
            resumed = ev.get("resumed_from")
            self.status.setText(f"resuming at frame {resumed}" if resumed is not None else f"{total} frame(s) to do")
        elif kind == "frame":
            done = int(ev.get("done", 0))
            self.eta.frame(done, float(ev.get("seconds") or 0.0))
            self.bar.setValue(done)
            self.eta_label.setText(f"ETA {format_duration(self.eta.remaining_s())}")
            self.status.setText(f"frame {ev.get('index')} ({done}/{ev.get('total')})")

    def _on_ended(self, outcome: JobOutcome) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if self.bar.maximum() == 0:
            self.bar.setRange(0, 1)
        if outcome.status == "done":
            self.bar.setValue(self.bar.maximum())
            self.eta_label.setText("ETA 0:00")
        self.status.setText(outcome.message if outcome.status != "error" else f"error: {outcome.message}")
        self.ended.emit(outcome)
