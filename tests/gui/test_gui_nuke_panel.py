"""hosts/nuke/fav_nuke/panel.py against the fake nuke (tests/hosts/fake_nuke): registration, knobs, Stylize.

The fake has no ``nukescripts``; a recorder module stands in for ``nukescripts.panels.registerWidgetAsPanel``.
The Stylize test runs the REAL core out of process with tiny random models.
"""
from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hosts" / "nuke"))  # as tests/hosts do

from tests.gui.conftest import wait_for  # noqa: E402
from tests.hosts.fake_nuke import FakeNuke, install  # noqa: E402
from tests.hosts.fake_nuke.scene import write_plate  # noqa: E402


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, qapp: object) -> FakeNuke:
    monkeypatch.setenv("FAV_NUKE_SETTINGS", str(tmp_path / "settings.json"))
    monkeypatch.delenv("FAV_PYTHON", raising=False)
    fake = install(monkeypatch, gui=True)
    monkeypatch.delitem(sys.modules, "fav_nuke.panel", raising=False)  # re-import against this fake
    return fake


def test_register_names_an_importable_widget(fake: FakeNuke, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []
    nukescripts = types.ModuleType("nukescripts")
    nukescripts.panels = types.SimpleNamespace(  # type: ignore[attr-defined]
        registerWidgetAsPanel=lambda *args: calls.append(args) or "registered")
    monkeypatch.setitem(sys.modules, "nukescripts", nukescripts)
    from fav_nuke import panel

    assert panel.register() == "registered"
    assert calls == [("fav_nuke.panel.FavPanel", "Fast Artistic Videos", panel.PANEL_ID)]
    module, _, cls = calls[0][0].rpartition(".")
    widget = getattr(importlib.import_module(module), cls)()  # what Nuke does with the string
    assert widget.node() is None and not widget.settings_panel.isEnabled()
    assert "create a FastArtisticVideos node" in widget.message.text()


def test_panel_shows_and_writes_the_nodes_knobs(fake: FakeNuke) -> None:
    from fav_nuke.node import create_node
    from fav_nuke.panel import FavPanel

    first, second = create_node(), create_node()
    first["model"].setValue("candy-video")
    second["model"].setValue("mosaic-video")
    second["flow"].setValue("DIS (computed)")
    second["fill"].setValue("uniform-random")
    fake.module.nodes.Group(name="NotOurs")  # a plain Group is not listed

    p = FavPanel()
    assert [p.node_box.itemText(i) for i in range(p.node_box.count())] == [first.name(), second.name()]
    s = p.settings_panel.settings()
    assert (s.model, s.flow, s.min_filter, s.median_filter, s.fill, s.device) == (
        "candy-video", "pass", 7, 3, "", "auto")
    assert first["model"].value() == "candy-video"  # loading does not write back

    p.settings_panel.min_filter.setValue(5)
    p.settings_panel.flow.setCurrentIndex(2)  # DeepFlow
    p.settings_panel.fill.setCurrentIndex(1)  # vgg-mean
    p.settings_panel.image_model.setEditText("self")
    assert [first[k].value() for k in ("min_filter", "flow", "fill", "image_model")] == [
        5, "DeepFlow (computed)", "vgg-mean", "self"]

    p.node_box.setCurrentIndex(1)
    s = p.settings_panel.settings()
    assert (s.model, s.flow, s.fill, s.min_filter) == ("mosaic-video", "dis", "uniform-random", 7)
    assert second["min_filter"].value() == 7 and first["min_filter"].value() == 5

    second["min_filter"].setValue(4)  # valid for the node, not for the panel's odd-only filter
    p.refresh()
    assert not p.settings_panel.isEnabled() and "min filter must be an odd number" in p.message.text()


@pytest.mark.slow
def test_stylize_from_the_panel_runs_the_core(fake: FakeNuke, tmp_path: Path, tiny_models: tuple[str, str]) -> None:
    from fav_nuke.node import create_node
    from fav_nuke.panel import FavPanel

    read = fake.module.nodes.Read(file=write_plate(tmp_path / "src", range(1, 4)), first=1, last=3)
    fake.selected = read
    group = create_node()
    for name, value in {"model": tiny_models[0], "image_model": tiny_models[1], "core_python": sys.executable,
                        "output_folder": str(tmp_path / "job"), "device": "cpu"}.items():
        group[name].setValue(value)
    p = FavPanel()
    p.settings_panel.median_filter.setValue(1)  # written through before the run
    events: list[dict] = []
    outcomes: list[Any] = []
    p.job.runner.event.connect(events.append)
    p.job.ended.connect(outcomes.append)

    p.job.run_button.click()
    assert fake.executed == [("FavWrite", 1, 3, 1)]  # the plate was rendered on the calling thread
    assert not group["stylize"].enabled() and not p.job.run_button.isEnabled()
    wait_for(lambda: bool(outcomes), 120, "the core")
    assert outcomes[0].status == "done", outcomes[0]
    cmd_events = [e["event"] for e in events]
    assert cmd_events[0] == "start" and cmd_events.count("frame") == 3 and cmd_events[-1] == "done"
    assert p.job.bar.value() == 3
    stylized = sorted(p.name for p in (tmp_path / "job" / "stylized").iterdir() if not p.name.startswith("."))
    assert stylized == ["stylized.0001.exr", "stylized.0002.exr", "stylized.0003.exr"]
    assert group.node("FavSwitch")["which"].value() == 1  # render.finish showed the result
    assert group["stylize"].enabled() and group["status"].value().startswith("stylized 1-3")
    assert group["median_filter"].value() == 1 and fake.messages == []
    assert p.job.run_button.isEnabled()


def test_panel_plate_render_cancel_is_not_an_error(fake: FakeNuke, tmp_path: Path) -> None:
    """Cancel in Nuke's render dialog (RuntimeError 'Cancelled') is reported as cancelled, not as an error."""
    from fav_nuke.node import create_node
    from fav_nuke.panel import FavPanel

    read = fake.module.nodes.Read(file=write_plate(tmp_path / "src", range(1, 4)), first=1, last=3)
    fake.selected = read
    group = create_node()
    for name, value in {"model": "candy-video", "core_python": sys.executable,
                        "output_folder": str(tmp_path / "job")}.items():
        group[name].setValue(value)
    p = FavPanel()
    fake.cancel_execute_at = 2
    p.job.run_button.click()
    assert p.job.status.text() == "plate render cancelled"
    assert not p.job.runner.running() and p.job.run_button.isEnabled() and group["stylize"].enabled()
    assert fake.messages == []


def test_panel_raft_weights_reach_the_node(fake: FakeNuke) -> None:
    """RAFT needs local weights: what the panel's RAFT field holds is the node's raft_weights knob."""
    from fav_nuke.node import create_node
    from fav_nuke.panel import FavPanel

    group = create_node()
    group["model"].setValue("candy-video")
    group["raft_weights"].setValue("/w/raft_small.pth")
    p = FavPanel()
    assert p.settings_panel.raft_weights.text() == "/w/raft_small.pth"
    p.settings_panel.flow.setCurrentIndex(list(p.settings_panel._flows).index("raft"))
    p.settings_panel.raft_weights.setText("/w/raft_large.pth")
    assert (group["flow"].value(), group["raft_weights"].value()) == ("RAFT (computed)", "/w/raft_large.pth")


def test_panel_drives_a_node_saved_before_the_raft_weights_knob(fake: FakeNuke) -> None:
    from fav_nuke.node import create_node
    from fav_nuke.panel import FavPanel

    group = create_node()
    group["model"].setValue("candy-video")
    del group._knobs["raft_weights"]  # as loaded from an older script
    p = FavPanel()
    assert p.settings_panel.isEnabled() and p.settings_panel.settings().model == "candy-video"
    p.settings_panel.median_filter.setValue(5)
    assert group["median_filter"].value() == 5 and group.knob("raft_weights") is None


def test_panel_edit_does_not_revert_an_edit_made_in_the_properties_bin(fake: FakeNuke) -> None:
    """The artist changes median in the node's properties, then device in the panel: median stays as typed."""
    from fav_nuke.node import create_node
    from fav_nuke.panel import FavPanel

    group = create_node()
    group["model"].setValue("candy-video")
    p = FavPanel()
    group["median_filter"].setValue(5)  # the properties bin, behind the panel's back
    p.settings_panel.device.setCurrentIndex(p.settings_panel.device.findText("cpu"))
    assert group["device"].value() == "cpu"
    assert group["median_filter"].value() == 5


def test_panel_shows_edits_made_in_the_properties_bin_when_the_mouse_comes_back(fake: FakeNuke) -> None:
    from fav_nuke.node import create_node
    from fav_nuke.panel import FavPanel

    from fav_gui.qt import QtCore, QtGui

    group = create_node()
    group["model"].setValue("candy-video")
    p = FavPanel()
    group["median_filter"].setValue(5)
    group["model"].setValue("mosaic-video")
    point = QtCore.QPointF(1, 1)
    p.enterEvent(QtGui.QEnterEvent(point, point, point))  # the artist moves back to the panel
    assert p.settings_panel.median_filter.value() == 5
    assert p.settings_panel.model.currentText() == "mosaic-video"
    assert group["median_filter"].value() == 5  # reloading writes nothing back
