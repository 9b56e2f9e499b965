"""The ``fav gui`` window: clip viewer, settings, preview (side by side + flicker curve) and the job.

Layout: left, the clip with its scrubber, the input | per-frame | temporal comparison and the temporal-error
plot; right, the settings, the preview range and the job (output, Run / Cancel, progress, ETA). The window
only wires widgets to :mod:`fav_gui.preview` (in-process Stylizer in a worker thread) and :mod:`fav_gui.job`
(the CLI as a child process); settings persist in QSettings.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from fav_core.errors import ConfigError, FavError
from fav_gui.flicker_plot import FlickerPlot
from fav_gui.job import JobOutcome, JobWidget, stylize_command
from fav_gui.options import FLOWS, stylize_argv
from fav_gui.preview import PreviewRequest, PreviewResult, PreviewWorker
from fav_gui.qt import QtCore, QtGui, QtWidgets, Signal
from fav_gui.settings_panel import SettingsPanel
from fav_gui.viewer import CompareView, FrameViewer

log = logging.getLogger(__name__)

ORGANISATION, APPLICATION = "fast-artistic-videos", "fav-gui"


def default_output(input_path: str) -> str:
    """Where the job writes when the artist has not chosen: a ``<name>_stylized`` folder next to the clip."""
    p = Path(input_path)
    if p.is_dir():
        return str(p.parent / f"{p.name}_stylized")
    stem = re.sub(r"[%#].*$", "", p.stem).rstrip("._-") or "clip"
    return str(p.parent / f"{stem}_stylized")


class MainWindow(QtWidgets.QMainWindow):
    """The standalone window.

    Args:
        input_path: clip to open at start (optional).
        store: where settings persist (default: the user's QSettings for fav-gui).
        model_names: names for the model menus.
        python: the core's interpreter for the job (default: this one).

    Signals:
        preview_ready(object): a :class:`PreviewResult` is shown.
        preview_failed(str): a preview failed or was cancelled (message).
    """

    preview_ready = Signal(object)
    preview_failed = Signal(str)

    def __init__(
        self,
        input_path: str | None = None,
        store: QtCore.QSettings | None = None,
        model_names: Sequence[str] = (),
        python: str | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("fav - Fast Artistic Videos")
        self.store = store if store is not None else QtCore.QSettings(ORGANISATION, APPLICATION)
        self.python = python
        self.input_path = ""
        self.source: object | None = None
        self.worker: PreviewWorker | None = None
        self.last_preview: PreviewResult | None = None

        self.viewer = FrameViewer()
        self.compare = CompareView()
        self.plot = FlickerPlot()
        left = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        for w in (self.viewer, self.compare, self.plot):
            left.addWidget(w)
        left.setSizes([300, 260, 160])

        self.settings_panel = SettingsPanel(FLOWS, model_names)
        settings_box = QtWidgets.QGroupBox("Settings")
        QtWidgets.QVBoxLayout(settings_box).addWidget(self.settings_panel)

        preview_box = QtWidgets.QGroupBox("Preview")
        pform = QtWidgets.QFormLayout(preview_box)
        self.preview_first = QtWidgets.QSpinBox()
        self.preview_first.setRange(-10**9, 10**9)
        self.preview_first.setToolTip("first frame of the preview (follows the scrubber)")
        self.preview_count = QtWidgets.QSpinBox()
        self.preview_count.setRange(1, 500)
        self.preview_count.setValue(5)
        pform.addRow("first frame", self.preview_first)
        pform.addRow("frames", self.preview_count)
        prow = QtWidgets.QHBoxLayout()
        self.preview_button = QtWidgets.QPushButton("Preview")
        self.preview_cancel = QtWidgets.QPushButton("Stop")
        self.preview_cancel.setEnabled(False)
        self.preview_bar = QtWidgets.QProgressBar()
        self.preview_bar.setRange(0, 1)
        self.preview_bar.setValue(0)
        prow.addWidget(self.preview_button)
        prow.addWidget(self.preview_cancel)
        prow.addWidget(self.preview_bar, 1)
        pform.addRow(prow)
        self.preview_message = QtWidgets.QLabel("")  # why the last preview failed, whole (the status bar cuts it)
        self.preview_message.setWordWrap(True)
        self.preview_message.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.preview_message.hide()
        pform.addRow(self.preview_message)

        job_box = QtWidgets.QGroupBox("Job")
        jlay = QtWidgets.QVBoxLayout(job_box)
        orow = QtWidgets.QHBoxLayout()
        self.output = QtWidgets.QLineEdit()
        self.output.setPlaceholderText("output folder, pattern (frame_%05d.png) or video (.mp4)")
        browse = QtWidgets.QToolButton()
        browse.setText("...")
        browse.clicked.connect(self._browse_output)
        orow.addWidget(QtWidgets.QLabel("output"))
        orow.addWidget(self.output, 1)
        orow.addWidget(browse)
        jlay.addLayout(orow)
        self.job = JobWidget("Run")
        jlay.addWidget(self.job)

        right = QtWidgets.QWidget()
        rlay = QtWidgets.QVBoxLayout(right)
        for w in (settings_box, preview_box, job_box):
            rlay.addWidget(w)
        rlay.addStretch(1)
        # a short screen (or a long message) scrolls the controls instead of squashing the form rows together
        self.controls = QtWidgets.QScrollArea()
        self.controls.setWidgetResizable(True)
        self.controls.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.controls.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.controls.setWidget(right)
        self.controls.setMinimumWidth(right.sizeHint().width() + self.controls.verticalScrollBar().sizeHint().width())

        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.controls)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        self.setCentralWidget(split)
        self.resize(1200, 800)

        menu = self.menuBar().addMenu("&File")
        action_cls = getattr(QtGui, "QAction", None) or QtWidgets.QAction  # PySide2: QtWidgets.QAction
        open_action = action_cls("&Open clip...", self)
        open_action.setShortcut(QtGui.QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self._browse_clip)
        menu.addAction(open_action)

        self.viewer.frame_changed.connect(self.preview_first.setValue)
        self.preview_button.clicked.connect(self.start_preview)
        self.preview_cancel.clicked.connect(self.cancel_preview)
        self.job.run_requested.connect(self.run_job)
        self.job.ended.connect(self._job_ended)

        self._restore()
        if input_path:
            self.open_clip(input_path)

    # ------------------------------------------------------------------ clip
    def open_clip(self, path: str) -> bool:
        """Open a video, image sequence or folder; False (with the reason in the status bar) if it fails."""
        from fav_core.io import open_frames

        try:
            source = open_frames(path)
        except FavError as exc:
            self.statusBar().showMessage(f"cannot open clip: {exc}")
            return False
        old, self.source = self.source, source
        if old is not None:
            old.close()  # type: ignore[attr-defined]
        self.cancel_preview()  # a preview of the previous clip is not shown on this one (_preview_done)
        automatic = self._output_is_automatic()
        self.input_path = str(path)
        self.viewer.set_source(source)
        self.last_preview = None  # the comparison and the curve belong to the previous clip
        self.compare.set_frames([])
        self.plot.clear()
        if automatic:
            self.output.setText(default_output(self.input_path))
        self.statusBar().showMessage(source.describe())
        return True

    # ------------------------------------------------------------------ preview
    def _output_is_automatic(self) -> bool:
        """True while the output is empty or the current clip's default (not chosen by the artist)."""
        text = self.output.text().strip()
        return not text or (bool(self.input_path) and text == default_output(self.input_path))

    def preview_request(self) -> PreviewRequest:
        """The preview the buttons would start now.

        Raises:
            ConfigError: no clip, or invalid settings.
        """
        if not self.input_path:
            raise ConfigError("open a clip first (File > Open clip)")
        return PreviewRequest(self.input_path, self.settings_panel.settings(), int(self.preview_first.value()),
                              int(self.preview_count.value()))

    def start_preview(self) -> PreviewWorker | None:
        """Start a preview in a worker thread (None if the settings are not usable; the reason is shown)."""
        if self.worker is not None:
            return self.worker
        try:
            request = self.preview_request()
        except FavError as exc:
            self._preview_message(f"preview: {exc}")
            return None
        worker = PreviewWorker(request, self)
        worker.progress.connect(self._preview_progress)
        worker.succeeded.connect(self._preview_done)
        worker.failed.connect(self._preview_failed)  # bound methods of this window: queued to the UI thread
        worker.cancelled.connect(self._preview_cancelled)
        worker.finished.connect(self._preview_thread_over)
        self.worker = worker
        self.preview_button.setEnabled(False)
        self.preview_cancel.setEnabled(True)
        self.preview_bar.setRange(0, 0)
        self.statusBar().showMessage(f"previewing {request.count} frame(s) from frame {request.first} ...")
        worker.start()
        return worker

    def cancel_preview(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    def _preview_progress(self, done: int, total: int, message: str) -> None:
        self.preview_bar.setRange(0, total)
        self.preview_bar.setValue(done)
        self.statusBar().showMessage(message)

    def _preview_done(self, result: PreviewResult) -> None:
        if self.worker is not None and self.worker.request.input_path != self.input_path:
            self.statusBar().showMessage("the preview of the previous clip was dropped")
            return
        self.last_preview = result
        self.preview_message.hide()
        self.compare.set_frames(result.rows())
        self.plot.set_series(result.indices[1:], result.errors)
        if result.errors.get("temporal"):
            means = ", ".join(f"{k} {sum(v) / len(v):.4g}" for k, v in result.errors.items())
            self.statusBar().showMessage(f"preview of frames {result.indices[0]}-{result.indices[-1]}: mean "
                                         f"temporal error {means}")
        else:
            self.statusBar().showMessage(f"preview of frame {result.indices[0]} (2+ frames give a flicker curve)")
        self.preview_ready.emit(result)

    def _preview_failed(self, message: str) -> None:
        self._preview_message(f"preview failed: {message}")

    def _preview_cancelled(self) -> None:
        self._preview_message("preview cancelled")

    def _preview_message(self, message: str) -> None:
        self.statusBar().showMessage(message)
        self.preview_message.setText(message)
        self.preview_message.show()
        self.preview_failed.emit(message)

    def _preview_thread_over(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.wait()  # `finished` is emitted just before the thread ends; deleting it earlier aborts Qt
            worker.deleteLater()
        self.preview_button.setEnabled(True)
        self.preview_cancel.setEnabled(False)
        if self.preview_bar.maximum() == 0:
            self.preview_bar.setRange(0, 1)

    # ------------------------------------------------------------------ job
    def job_command(self) -> list[str]:
        """The child's command for the current clip, settings and output.

        Raises:
            ConfigError: no clip, no model, no output.
        """
        if not self.input_path:
            raise ConfigError("open a clip first (File > Open clip)")
        if not self.output.text().strip():
            raise ConfigError("choose an output folder, pattern or video file")
        argv = stylize_argv(self.settings_panel.settings(), self.input_path, self.output.text().strip())
        return stylize_command(argv, self.python)

    def run_job(self) -> None:
        """Start the full run (or show why not)."""
        try:
            cmd = self.job_command()
        except FavError as exc:
            self.job.show_error(str(exc))
            return
        self._save()
        self.job.start(cmd)

    def _job_ended(self, outcome: JobOutcome) -> None:
        self.statusBar().showMessage(f"job {outcome.status}: {outcome.message}")

    # ------------------------------------------------------------------ persistence / lifetime
    def _restore(self) -> None:
        self.settings_panel.load(self.store)
        self.output.setText(str(self.store.value("job/output", "") or ""))
        try:
            self.preview_count.setValue(int(self.store.value("preview/count", 5)))
        except (TypeError, ValueError):
            log.warning("%s: ignoring a bad preview/count", self.store.fileName())
        geometry = self.store.value("window/geometry")
        if isinstance(geometry, QtCore.QByteArray) and not self.restoreGeometry(geometry):
            log.warning("%s: ignoring a bad window/geometry", self.store.fileName())

    def _save(self) -> None:
        try:
            self.settings_panel.save(self.store)
        except ConfigError as exc:  # e.g. an even size set in code: keep what was saved, never fail a close
            log.warning("%s: not saving the stylize settings (%s)", self.store.fileName(), exc)
        # the clip's automatic output is not a choice: remembering it would send the next clip into this one's folder
        self.store.setValue("job/output", "" if self._output_is_automatic() else self.output.text().strip())
        self.store.setValue("preview/count", int(self.preview_count.value()))
        self.store.setValue("window/geometry", self.saveGeometry())
        self.store.sync()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 - Qt override
        self._save()
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait(30000)
        if self.job.runner.running():
            self.job.runner.cancel()
            self.job.runner.wait(30000)
        if self.source is not None:
            self.source.close()  # type: ignore[attr-defined]
        super().closeEvent(event)

    def _browse_clip(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open clip (a video, or any frame of a sequence)")
        if path:
            self.open_clip(_sequence_of(path))

    def _browse_output(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Output folder")
        if path:
            self.output.setText(path)


def _sequence_of(path: str) -> str:
    """A picked image file -> its folder when it is one numbered frame of several; videos stay as they are."""
    p = Path(path)
    if re.search(r"\d+$", p.stem) and p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr"):
        siblings = [q for q in p.parent.iterdir() if q.suffix.lower() == p.suffix.lower()]
        if len(siblings) > 1:
            return str(p.parent)
    return path
