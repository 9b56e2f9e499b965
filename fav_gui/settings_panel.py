"""The settings panel: model, image model, flow source, min filter, median, fill, device; QSettings persistence.

The panel only edits a :class:`fav_gui.options.GuiSettings`; it knows nothing about how frames are stylized.
Nuke reuses it (with the node's flow choices) to drive the node's knobs.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fav_core.errors import ConfigError
from fav_gui.options import DEVICES, FLOWS, GuiSettings
from fav_gui.qt import QtCore, QtGui, QtWidgets, Signal

log = logging.getLogger(__name__)

SETTINGS_GROUP = "stylize"
FLOW_LABELS = {
    "dis": "DIS (computed)",
    "deepflow": "DeepFlow (computed)",
    "raft": "RAFT (computed, local weights)",
    "files": "flow files (.flo + .pgm)",
    "pass": "host motion vectors (EXR)",
}
FILL_LABELS = {"": "model default", "vgg-mean": "vgg-mean", "uniform-random": "uniform-random"}


class OddSpinBox(QtWidgets.QSpinBox):
    """A spin box for odd filter sizes: typed even numbers are Intermediate and round up when the edit ends.

    The single step of 2 only guards the arrows; without this an artist could type 4 and every later
    :meth:`SettingsPanel.settings` would refuse it.
    """

    def validate(self, text: str, pos: int) -> Any:  # Qt override
        result = super().validate(text, pos)
        state = result[0] if isinstance(result, tuple) else result
        digits = text.strip()
        if state == QtGui.QValidator.State.Acceptable and digits.isdigit() and int(digits) % 2 == 0:
            state = QtGui.QValidator.State.Intermediate  # "2" may still become "21"; fixup() ends it
        return (state, text, pos)

    def fixup(self, text: str) -> str:  # Qt override
        digits = text.strip()
        if digits.isdigit():
            k = int(digits)
            k = k + 1 if k % 2 == 0 else k
            return str(min(max(k, self.minimum()), self.maximum()))
        return super().fixup(text)


def _odd_spin(value: int, tooltip: str) -> QtWidgets.QSpinBox:
    spin = OddSpinBox()
    spin.setRange(1, 31)
    spin.setSingleStep(2)
    spin.setValue(value)
    spin.setToolTip(tooltip)
    return spin


class SettingsPanel(QtWidgets.QWidget):
    """Form for :class:`GuiSettings`.

    Args:
        flows: the ``--flow`` values offered, in menu order (Nuke offers its node's subset).
        model_names: names for the model menus (e.g. from ``fav_core.modelfile.list_models``); paths can be
            typed or browsed too.
        parent: Qt parent.

    Signals:
        changed: emitted after any edit.
    """

    changed = Signal()

    def __init__(
        self,
        flows: Sequence[str] = FLOWS,
        model_names: Sequence[str] = (),
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        unknown = [f for f in flows if f not in FLOWS]
        if unknown:
            raise ConfigError(f"settings panel: unknown flow source(s) {', '.join(unknown)}")
        self._flows = tuple(flows)
        form = QtWidgets.QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)

        self.model = self._model_box(model_names, "video model: a name from 'fav models' or a .safetensors file")
        form.addRow("video model", self._with_browse(self.model))
        self.image_model = self._model_box(["self", *model_names],
                                           "first-frame model; 'self' = the video model; empty = core default")
        form.addRow("image model", self._with_browse(self.image_model))

        self.flow = QtWidgets.QComboBox()
        for value in self._flows:
            self.flow.addItem(FLOW_LABELS[value], value)
        self.flow.setToolTip("where the motion between frames comes from")
        form.addRow("flow", self.flow)
        self.flow_pattern = QtWidgets.QLineEdit()
        self.flow_pattern.setPlaceholderText("flow/backward_[%d]_{%d}.flo")
        self.occlusions_pattern = QtWidgets.QLineEdit()
        self.occlusions_pattern.setPlaceholderText("flow/reliable_[%d]_{%d}.pgm")
        self.raft_weights = QtWidgets.QLineEdit()
        self.raft_weights.setPlaceholderText("local RAFT weights file")
        if "files" in self._flows:
            form.addRow("flow pattern", self.flow_pattern)
            form.addRow("occlusions pattern", self.occlusions_pattern)
        if "raft" in self._flows:
            form.addRow("RAFT weights", self.raft_weights)

        self.min_filter = _odd_spin(7, "erosion of the reliability mask, k x k (1 = off)")
        form.addRow("min filter", self.min_filter)
        self.median_filter = _odd_spin(3, "median filter on the output, k x k (1 = off)")
        form.addRow("median", self.median_filter)
        self.fill = QtWidgets.QComboBox()
        for value, label in FILL_LABELS.items():
            self.fill.addItem(label, value)
        self.fill.setToolTip("what unreliable pixels of the warped previous output are filled with")
        form.addRow("fill", self.fill)
        self.device = QtWidgets.QComboBox()
        self.device.addItems(list(DEVICES))
        form.addRow("device", self.device)

        for combo in (self.model, self.image_model):
            combo.editTextChanged.connect(self._emit)
        for combo in (self.flow, self.fill, self.device):
            combo.currentIndexChanged.connect(self._emit)
        for edit in (self.flow_pattern, self.occlusions_pattern, self.raft_weights):
            edit.textChanged.connect(self._emit)
        for spin in (self.min_filter, self.median_filter):
            spin.valueChanged.connect(self._emit)
        self.flow.currentIndexChanged.connect(self._update_enabled)
        self._update_enabled()

    # ------------------------------------------------------------------ values
    def settings(self) -> GuiSettings:
        """The current values.

        Raises:
            ConfigError: an even filter size (the spin boxes allow typing one).
        """
        return GuiSettings(
            model=self.model.currentText().strip(),
            image_model=self.image_model.currentText().strip(),
            flow=str(self.flow.currentData()),
            flow_pattern=self.flow_pattern.text().strip(),
            occlusions_pattern=self.occlusions_pattern.text().strip(),
            raft_weights=self.raft_weights.text().strip(),
            min_filter=int(self.min_filter.value()),
            median_filter=int(self.median_filter.value()),
            fill=str(self.fill.currentData()),
            device=self.device.currentText(),
        )

    def set_settings(self, s: GuiSettings) -> None:
        """Show ``s`` (a flow this panel does not offer is replaced by its first flow, with a warning)."""
        was_blocked = self.blockSignals(True)  # children still update; `changed` fires once below
        try:
            self.model.setEditText(s.model)
            self.image_model.setEditText(s.image_model)
            flow = s.flow if s.flow in self._flows else self._flows[0]
            if flow != s.flow:
                log.warning("flow %r is not offered here; using %r", s.flow, flow)
            self.flow.setCurrentIndex(self._flows.index(flow))
            self.flow_pattern.setText(s.flow_pattern)
            self.occlusions_pattern.setText(s.occlusions_pattern)
            self.raft_weights.setText(s.raft_weights)
            self.min_filter.setValue(s.min_filter)
            self.median_filter.setValue(s.median_filter)
            self.fill.setCurrentIndex(list(FILL_LABELS).index(s.fill))
            self.device.setCurrentIndex(max(0, self.device.findText(s.device)))
        finally:
            self.blockSignals(was_blocked)
        self._update_enabled()
        self.changed.emit()

    # ------------------------------------------------------------------ persistence
    def save(self, store: QtCore.QSettings) -> None:
        """Write the current values under the ``stylize`` group of ``store``."""
        store.beginGroup(SETTINGS_GROUP)
        try:
            for key, value in self.settings().to_dict().items():
                store.setValue(key, value)
        finally:
            store.endGroup()
        store.sync()

    def load(self, store: QtCore.QSettings) -> None:
        """Show the values saved by :meth:`save`; invalid stored values are logged and the defaults kept."""
        store.beginGroup(SETTINGS_GROUP)
        try:
            data = {key: store.value(key) for key in store.childKeys()}
        finally:
            store.endGroup()
        try:
            self.set_settings(GuiSettings.from_mapping(data))
        except ConfigError as exc:
            log.warning("%s: ignoring the saved settings (%s)", store.fileName(), exc)

    # ------------------------------------------------------------------ helpers
    def _model_box(self, names: Sequence[str], tooltip: str) -> QtWidgets.QComboBox:
        box = QtWidgets.QComboBox()
        box.setEditable(True)
        box.addItems(list(names))
        box.setEditText("")
        box.setToolTip(tooltip)
        box.setMinimumContentsLength(16)
        return box

    def _with_browse(self, box: QtWidgets.QComboBox) -> QtWidgets.QWidget:
        row = QtWidgets.QWidget()
        lay = QtWidgets.QHBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(box, 1)
        button = QtWidgets.QToolButton()
        button.setText("...")
        button.setToolTip("choose a .safetensors model file")
        button.clicked.connect(lambda: self._browse(box))
        lay.addWidget(button)
        return row

    def _browse(self, box: QtWidgets.QComboBox) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Model file", "", "fav models (*.safetensors)")
        if path:
            box.setEditText(path)

    def _update_enabled(self) -> None:
        flow = str(self.flow.currentData())
        self.flow_pattern.setEnabled(flow == "files")
        self.occlusions_pattern.setEnabled(flow == "files")
        self.raft_weights.setEnabled(flow == "raft")

    def _emit(self, *_: object) -> None:
        self.changed.emit()
