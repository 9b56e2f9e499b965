"""The full run as a child process (docs/job-protocol.md): progress bar, ETA and Cancel.

:class:`JobRunner` runs ``<python> -m fav_core.cli stylize ... --progress json`` with
:class:`fav_core.jobclient.CoreProcess` (the one protocol client of every host: its reader threads fill a queue
that a :class:`QTimer` drains on the UI thread, so signals are emitted there) and reports how the run ended.
Cancel sends SIGTERM: the core finishes or discards the frame it is writing, never half-writes it, and exits
130; a re-run resumes after the last whole frame. A child that ignores SIGTERM for ``grace_ms`` is killed
(writes are atomic, so even then no half frame is left).

Imported by Nuke too: no torch, no numpy, Python 3.9 syntax.
"""
from __future__ import annotations

import dataclasses
import logging
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from fav_core import jobclient
from fav_core.jobclient import EXIT_CANCELLED, EXIT_ERROR, EXIT_OK, CoreProcess, CoreStartError, parse_event
from fav_gui.qt import QtCore, QtWidgets, Signal

__all__ = ["EXIT_CANCELLED", "EXIT_ERROR", "EXIT_OK", "Eta", "JobOutcome", "JobRunner", "JobWidget",
           "format_duration", "outcome_of", "parse_event", "stylize_command"]

log = logging.getLogger(__name__)

#: How a run ended (status ``done``, ``error`` or ``cancelled``: a crash is shown as an ``error``).
JobOutcome = jobclient.Outcome


def stylize_command(argv: Sequence[str], python: str | None = None) -> list[str]:
    """The child's command line for ``fav`` arguments ``argv`` (starting with ``"stylize"``), JSON progress.

    Args:
        argv: e.g. from :func:`fav_gui.options.stylize_argv`.
        python: the core's interpreter (default: this one).

    Raises:
        ValueError: ``argv`` does not start with ``stylize`` or already sets ``--progress``.
    """
    if not argv or argv[0] != "stylize":
        raise ValueError(f"stylize_command: the arguments must start with 'stylize', got {list(argv)[:1]}")
    return jobclient.stylize_command(python or sys.executable, argv[1:])


def outcome_of(code: int | None, last: Mapping[str, Mapping[str, Any]], cancelled: bool,
               stderr_tail: Sequence[str], exe: str) -> JobOutcome:
    """Decide how a run ended from its exit code and the last event of each kind (docs/job-protocol.md).

    :func:`fav_core.jobclient.decide_outcome` with the GUI's wording (a crash is an ``error``).
    """
    outcome = jobclient.decide_outcome(code, last, cancelled, stderr_tail, exe)
    return _for_artist(outcome, last.get("done", {}).get("output"))


def _for_artist(outcome: JobOutcome, output: Any) -> JobOutcome:
    if outcome.status == jobclient.DONE and output:
        return dataclasses.replace(outcome, message=f"{outcome.message} to {output}")
    if outcome.status == jobclient.CANCELLED:
        return dataclasses.replace(outcome, message=f"{outcome.message}; Run again to resume")
    if outcome.status == jobclient.CRASHED:
        return dataclasses.replace(outcome, status=jobclient.ERROR)
    return outcome


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

    def __init__(self, parent: QtCore.QObject | None = None, grace_ms: int = 15000, poll_ms: int = 50) -> None:
        super().__init__(parent)
        self.grace_ms = grace_ms
        self._core: CoreProcess | None = None
        self._output: Any = None
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(max(1, poll_ms))
        self._timer.timeout.connect(self._drain)

    def running(self) -> bool:
        return self._core is not None

    def start(self, cmd: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None) -> None:
        """Start ``cmd`` (e.g. :func:`stylize_command`); ``ended`` fires when it is over.

        ``env`` is the child's whole environment (None: this process's). A program that cannot start ends the
        run with an ``error`` outcome, emitted from the event loop like every other end.

        Raises:
            RuntimeError: a run is already going (the UI disables Run meanwhile).
        """
        if self._core is not None:
            raise RuntimeError("a job is already running")
        core = CoreProcess(cmd, env=env, cwd=cwd)
        self._output = None
        try:
            core.start()
        except CoreStartError as exc:
            failed = JobOutcome(jobclient.ERROR, str(exc), 0, None)
            QtCore.QTimer.singleShot(0, lambda: self.ended.emit(failed))
            return
        self._core = core
        self._timer.start()

    def cancel(self) -> None:
        """SIGTERM the child (it exits 130 after finishing or dropping its frame); kill it after the grace time."""
        if self._core is not None and not self._core.cancel_requested:
            self._core.cancel(self.grace_ms / 1000.0)

    def wait(self, timeout_ms: int) -> bool:
        """Block until the run has ended (tests, closing the window), emitting its signals; True if it did."""
        core = self._core
        if core is None:
            return True
        try:
            core.wait(timeout_ms / 1000.0, on_event=self._emit)
        except TimeoutError:
            return False
        self._drain()
        return True

    def _emit(self, ev: dict[str, Any]) -> None:
        if ev["event"] == "done":
            self._output = ev.get("output")
        self.event.emit(ev)

    def _drain(self) -> None:
        core = self._core
        if core is None:
            self._timer.stop()
            return
        for ev in core.poll():
            self._emit(ev)
        if core.finished and self._core is core:
            self._timer.stop()
            self._core = None
            assert core.outcome is not None
            self.ended.emit(_for_artist(core.outcome, self._output))


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
