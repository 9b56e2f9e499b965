"""A dockable Nuke panel for FastArtisticVideos nodes: fav_gui's settings panel and job widget, inside Nuke.

The panel edits the chosen node's knobs (every edit is written through at once, so the node, its properties
bin and saved scripts always agree with the panel) and runs the node's job: ``Stylize`` renders the plate with
:func:`fav_nuke.render.prepare` (main thread), runs the core out of process with :class:`fav_gui.job.JobWidget`
(progress bar, ETA, Cancel = SIGTERM; re-running resumes) and hands the result to
:func:`fav_nuke.render.finish`, exactly as the node's own button does. No torch in Nuke's process: the in-process
preview of ``fav gui`` is not offered here.

Registration (from ``menu.py``, GUI only): ``import fav_nuke.panel; fav_nuke.panel.register()`` adds
"Fast Artistic Videos" to the Pane menu (``nukescripts.panels.registerWidgetAsPanel``). Qt comes from PySide6
(Nuke 16) or PySide2 (Nuke 13-15) through :mod:`fav_gui.qt`; the checkout root must be on ``sys.path`` (init.py
puts it there).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import nuke

from fav_core.errors import FavError
from fav_gui.job import JobOutcome, JobWidget
from fav_gui.options import GuiSettings
from fav_gui.qt import QtWidgets
from fav_gui.settings_panel import SettingsPanel
from fav_nuke import render
from fav_nuke.knobs import FILL_CHOICES, FLOW_CHOICES, LATER_KNOBS
from fav_nuke.process import Outcome

log = logging.getLogger(__name__)

PANEL_CLASS = "fav_nuke.panel.FavPanel"
PANEL_TITLE = "Fast Artistic Videos"
PANEL_ID = "com.fast-artistic-videos.FavPanel"
NODE_FLOWS = tuple(FLOW_CHOICES.values())
"""``--flow`` values the node offers (its flow knob's choices), in menu order."""
PANEL_KNOBS = ("model", "image_model", "flow", "raft_weights", "min_filter", "median_filter", "fill", "device")
"""The node knobs the panel drives; the others stay in the node's properties. Nodes saved before one of the
:data:`fav_nuke.knobs.LATER_KNOBS` existed lack it: the panel shows its default and does not write it."""


def register() -> Any:
    """Register the panel with Nuke's Pane menu (call from menu.py; GUI sessions only).

    Returns:
        What ``registerWidgetAsPanel`` returns (Nuke's panel object).
    """
    import nukescripts

    return nukescripts.panels.registerWidgetAsPanel(PANEL_CLASS, PANEL_TITLE, PANEL_ID)


def settings_from_knobs(values: Mapping[str, Any]) -> GuiSettings:
    """The panel's settings from the node's knob values (enum knobs give their labels).

    Raises:
        ConfigError: a value the panel cannot show (e.g. an even min filter typed into the node).
    """
    return GuiSettings(
        model=str(values["model"]).strip(),
        image_model=str(values["image_model"]).strip(),
        flow=FLOW_CHOICES[str(values["flow"])],
        raft_weights=str(values.get("raft_weights", LATER_KNOBS["raft_weights"])).strip(),
        min_filter=int(values["min_filter"]),
        median_filter=int(values["median_filter"]),
        fill=FILL_CHOICES[str(values["fill"])],
        device=str(values["device"]),
    )


def knob_values(settings: GuiSettings) -> dict[str, Any]:
    """Knob name -> value (enum labels) for the knobs in :data:`PANEL_KNOBS`."""
    flow_label = {v: k for k, v in FLOW_CHOICES.items()}[settings.flow]
    fill_label = {v: k for k, v in FILL_CHOICES.items()}[settings.fill]
    return {"model": settings.model, "image_model": settings.image_model, "flow": flow_label,
            "raft_weights": settings.raft_weights, "min_filter": settings.min_filter,
            "median_filter": settings.median_filter, "fill": fill_label, "device": settings.device}


def fav_nodes() -> list[Any]:
    """The FastArtisticVideos Groups at the script's top level (recognised by their ``fav_tab`` knob)."""
    return [n for n in nuke.root().nodes() if n.Class() == "Group" and n.knob("fav_tab") is not None]


class FavPanel(QtWidgets.QWidget):
    """The dockable panel (Nuke constructs it with no arguments)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.node_box = QtWidgets.QComboBox()
        self.node_box.setToolTip("the FastArtisticVideos node this panel drives")
        refresh = QtWidgets.QPushButton("Refresh")
        self.settings_panel = SettingsPanel(NODE_FLOWS)
        self.job = JobWidget("Stylize")
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        self._running: tuple[Any, Any] | None = None  # (node, render.Job) of the run in progress
        self._shown: dict[str, Any] = {}  # knob values the panel last loaded or wrote (what it believes is there)

        lay = QtWidgets.QVBoxLayout(self)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("node"))
        row.addWidget(self.node_box, 1)
        row.addWidget(refresh)
        lay.addLayout(row)
        lay.addWidget(self.settings_panel)
        lay.addWidget(self.job)
        lay.addWidget(self.message)
        lay.addStretch(1)

        refresh.clicked.connect(self.refresh)
        self.node_box.currentIndexChanged.connect(self._load_node)
        self.settings_panel.changed.connect(self._write_knobs)
        self.job.run_requested.connect(self.stylize)
        self.job.ended.connect(self._finished)
        self.refresh()

    # ------------------------------------------------------------------ node <-> widgets
    def node(self) -> Any | None:
        """The chosen node, or None (no node, or it was deleted)."""
        name = self.node_box.currentText()
        found = nuke.toNode(name) if name else None
        return found if found is not None and found.knob("fav_tab") is not None else None

    def refresh(self) -> None:
        """List the script's FastArtisticVideos nodes again and reload the chosen one's knobs."""
        current = self.node_box.currentText()
        names = [n.name() for n in fav_nodes()]
        self.node_box.blockSignals(True)
        self.node_box.clear()
        self.node_box.addItems(names)
        if current in names:
            self.node_box.setCurrentIndex(names.index(current))
        self.node_box.blockSignals(False)
        self._load_node()

    def _load_node(self, *_: object) -> None:
        self._shown = {}
        group = self.node()
        enabled = group is not None
        self.settings_panel.setEnabled(enabled)
        self.job.run_button.setEnabled(enabled and self._running is None)
        if group is None:
            self.message.setText("create a FastArtisticVideos node (Nodes menu), then press Refresh")
            return
        try:
            settings = settings_from_knobs({k: group[k].value() for k in PANEL_KNOBS if group.knob(k) is not None})
        except FavError as exc:
            self.message.setText(f"{group.name()}: {exc}; fix it in the node's properties")
            self.settings_panel.setEnabled(False)
            return
        self.settings_panel.blockSignals(True)
        try:
            self.settings_panel.set_settings(settings)
        finally:
            self.settings_panel.blockSignals(False)
        self._shown = knob_values(settings)
        self.message.setText("")

    def _write_knobs(self) -> None:
        group = self.node()
        if group is None:
            return
        try:
            values = knob_values(self.settings_panel.settings())
        except FavError as exc:
            self.message.setText(str(exc))
            return
        # Only what the artist changed in the panel: a knob edited in the node's properties since the panel
        # loaded it keeps that edit (writing every panel value back silently reverted it).
        for name, value in values.items():
            if name in self._shown and self._shown[name] == value:
                continue
            knob = group.knob(name)
            if knob is not None and knob.value() != value:  # a LATER_KNOBS knob is absent on older nodes
                knob.setValue(value)
        self._shown = values
        self.message.setText("")

    def enterEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        """The mouse is back on the panel: show the node's knobs again (they may have been edited in the
        node's properties meanwhile); not during a run."""
        if self._running is None:
            self._load_node()
        super().enterEvent(event)

    # ------------------------------------------------------------------ the job
    def stylize(self) -> None:
        """Render the plate and start the core (main thread); the panel follows the run."""
        group = self.node()
        if group is None or self._running is not None:
            return
        self._write_knobs()
        try:
            job = render.prepare(group, dict(os.environ))
        except FavError as exc:
            self.job.show_error(f"{group.name()}: {exc}")
            return
        except RuntimeError as exc:  # nuke.execute: the plate render failed or was cancelled
            if render.render_cancelled(exc):  # the artist's own Cancel is not an error (as the node's button)
                self.job.status.setText("plate render cancelled")
            else:
                self.job.show_error(f"{group.name()}: rendering the plate failed: {exc}")
            return
        group["stylize"].setEnabled(False)
        self._running = (group, job)
        self.job.start(job.cmd, env=job.env)

    def _finished(self, outcome: JobOutcome) -> None:
        running, self._running = self._running, None
        if running is None:
            return
        group, job = running
        render.finish(group, job, Outcome(outcome.status, outcome.message, outcome.written, outcome.returncode))
        self._load_node()
