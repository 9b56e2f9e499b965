"""SettingsPanel: shows and returns GuiSettings, persists them in QSettings, offers a subset of flows."""
from __future__ import annotations

from pathlib import Path

import pytest

from fav_core.errors import ConfigError
from fav_gui.options import GuiSettings

CUSTOM = GuiSettings(model="candy-video", image_model="self", flow="files", flow_pattern="f/b_[%d]_{%d}.flo",
                     occlusions_pattern="f/r_[%d]_{%d}.pgm", min_filter=5, median_filter=1, fill="vgg-mean",
                     device="cpu")


def test_panel_round_trip_and_change_signal(qapp: object) -> None:
    from fav_gui.settings_panel import SettingsPanel

    panel = SettingsPanel(model_names=["candy-video", "mosaic-video"])
    assert panel.settings() == GuiSettings()
    assert [panel.model.itemText(i) for i in range(panel.model.count())] == ["candy-video", "mosaic-video"]
    seen: list[int] = []
    panel.changed.connect(lambda: seen.append(1))
    panel.set_settings(CUSTOM)
    assert panel.settings() == CUSTOM and len(seen) == 1  # one signal for a whole update
    assert panel.flow_pattern.isEnabled() and not panel.raft_weights.isEnabled()
    panel.min_filter.setValue(9)
    assert panel.settings().min_filter == 9 and len(seen) == 2
    panel.flow.setCurrentIndex(0)
    assert panel.settings().flow == "dis" and not panel.flow_pattern.isEnabled()


def test_settings_persist_between_windows(qapp: object, store: object, tmp_path: Path) -> None:
    from fav_gui.main_window import MainWindow

    first = MainWindow(store=store)
    first.settings_panel.set_settings(CUSTOM)
    first.output.setText(str(tmp_path / "out"))
    first.preview_count.setValue(7)
    first.close()  # saves
    second = MainWindow(store=store)
    assert second.settings_panel.settings() == CUSTOM
    assert second.output.text() == str(tmp_path / "out") and second.preview_count.value() == 7
    second.close()


def test_bad_stored_values_keep_the_defaults(qapp: object, store: object) -> None:
    from fav_gui.settings_panel import SettingsPanel

    store.setValue("stylize/min_filter", "four")  # type: ignore[attr-defined]
    panel = SettingsPanel()
    panel.load(store)  # logged, not raised
    assert panel.settings() == GuiSettings()


def test_nuke_flows_only(qapp: object) -> None:
    from fav_gui.settings_panel import SettingsPanel

    panel = SettingsPanel(flows=("pass", "dis", "deepflow", "raft"))
    assert [panel.flow.itemData(i) for i in range(panel.flow.count())] == ["pass", "dis", "deepflow", "raft"]
    panel.set_settings(GuiSettings(model="m", flow="files"))  # not offered: falls back to the first
    assert panel.settings().flow == "pass"
    with pytest.raises(ConfigError, match="unknown flow source"):
        SettingsPanel(flows=("optical-magic",))


def test_window_reports_missing_clip_and_model(qapp: object, store: object) -> None:
    from fav_gui.main_window import MainWindow

    win = MainWindow(store=store)
    assert win.start_preview() is None
    assert "open a clip first" in win.statusBar().currentMessage()
    win.run_job()
    assert win.job.status.text().startswith("error: ")
    assert not win.open_clip("/nonexistent/frame_%04d.png")
    assert win.statusBar().currentMessage().startswith("cannot open clip: ")
    win.close()


def test_filter_sizes_cannot_be_typed_even(qapp: object) -> None:
    """Typing 4 into 'min filter' (the step of 2 only guards the arrows) used to leave an even size that every
    later settings() refused; an even size now rounds up to the next odd one when the edit is finished."""
    from fav_gui.qt import QtCore, QtGui
    from fav_gui.settings_panel import SettingsPanel

    QTest = pytest.importorskip("PySide6.QtTest").QTest  # noqa: N806 - the Qt class name
    panel = SettingsPanel()
    spin = panel.min_filter
    assert spin.validate("4", 1)[0] == QtGui.QValidator.State.Intermediate
    assert spin.validate("5", 1)[0] == QtGui.QValidator.State.Acceptable
    spin.lineEdit().selectAll()
    QTest.keyClicks(spin, "4")
    QTest.keyClick(spin, QtCore.Qt.Key.Key_Return)
    assert spin.value() == 5 and panel.settings().min_filter == 5
    spin.lineEdit().selectAll()
    QTest.keyClicks(spin, "21")  # a two-digit odd size can be typed digit by digit
    QTest.keyClick(spin, QtCore.Qt.Key.Key_Return)
    assert spin.value() == 21


def test_closing_with_an_invalid_size_keeps_the_saved_settings(qapp: object, store: object) -> None:
    """closeEvent must not raise (a traceback on stderr, and the clean-up after it skipped)."""
    from fav_gui.main_window import MainWindow

    first = MainWindow(store=store)
    first.settings_panel.set_settings(CUSTOM)
    first.close()
    second = MainWindow(store=store)
    second.settings_panel.median_filter.setValue(4)  # programmatically: the validator does not see it
    second.close()  # logged, not raised
    third = MainWindow(store=store)
    assert third.settings_panel.settings() == CUSTOM
    third.close()
