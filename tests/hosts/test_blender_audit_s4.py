"""Hardening audit (session 4), real bpy: what an artist runs into must come back as one ``report`` line,
never as a Python traceback, and a failed modal run must leave no timer, progress counter or "running" flag."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

bpy = pytest.importorskip("bpy")

from blender_support import (  # noqa: E402
    FakeEvent,
    FakeWindowManager,
    FakeWorkspace,
    build_scene,
    load_addon,
    write_models,
    write_png_sequence,
)

pytestmark = pytest.mark.host

addon = load_addon()


@pytest.fixture(scope="module", autouse=True)
def registered() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAV_CORE_MODE", "SUBPROCESS")
        addon.register()
        yield
        addon.unregister()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return write_models(tmp_path_factory.mktemp("models"))


def _one_line_error(excinfo: pytest.ExceptionInfo[RuntimeError]) -> str:
    """The operator's report (background mode turns an ERROR report into RuntimeError("Error: ...\\n"))."""
    text = str(excinfo.value)
    assert "Traceback" not in text and "Python:" not in text, text
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def _strip_scene(tmp_path: Path, models: tuple[str, str], out: Path) -> Any:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    files = write_png_sequence(tmp_path / "footage", 3)
    se = scene.sequence_editor_create()
    strip = se.strips.new_image("Shot", str(files[0]), 1, 1)
    for f in files[1:]:
        strip.elements.append(f.name)
    se.active_strip = strip
    s = scene.fav_settings
    s.model, s.image_model = models
    s.output_dir = str(out)
    return scene


def test_unwritable_output_folder_is_one_line_for_the_strip(tmp_path: Path, models: tuple[str, str]) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    scene = _strip_scene(tmp_path, models, tmp_path / "a_file" / "fav")
    with pytest.raises(RuntimeError) as excinfo:
        bpy.ops.fav.stylize_strip()
    line = _one_line_error(excinfo)
    assert line.startswith(f"Error: {tmp_path / 'a_file' / 'fav'}")
    assert "cannot create this folder (Not a directory); set Output Folder to a writable folder" in line
    assert len(scene.sequence_editor.strips) == 1
    assert scene.fav_settings.running is False


def test_unwritable_output_folder_is_one_line_for_the_render(tmp_path: Path, models: tuple[str, str]) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    scene = build_scene()
    s = scene.fav_settings
    s.model, s.image_model = models
    s.output_dir = str(tmp_path / "a_file" / "fav")
    with pytest.raises(RuntimeError) as excinfo:
        bpy.ops.fav.stylize_render()
    assert "cannot create this folder (Not a directory)" in _one_line_error(excinfo)
    assert scene.fav_settings.running is False


def test_a_failed_render_is_a_host_error(tmp_path: Path) -> None:
    from fav_blender import render
    from fav_blender.errors import HostError

    scene = build_scene()
    scene.camera = None  # e.g. the camera was deleted while the modal operator renders frame by frame
    with pytest.raises(HostError, match=r"render_0001\.exr: rendering frame 1 failed \(.*camera"):
        render.render_frame(scene, 1, tmp_path)


def test_modal_run_whose_preparation_fails_cleans_up(tmp_path: Path, models: tuple[str, str]) -> None:
    """A file-system error while preparing (rendering) in the UI path: one ERROR report, timer removed,
    progress ended, the panel's running flag cleared (the Stylize button would stay disabled otherwise)."""
    from fav_blender import jobs, session
    from fav_blender.options import StylizeOptions

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene

    def prepare() -> Iterator[str]:
        yield "rendered frame 1 (1/2)"
        raise PermissionError(13, "Permission denied", str(tmp_path / "render_0002.exr"))

    spec = jobs.JobSpec(str(tmp_path / "render_%04d.exr"), str(tmp_path / "stylized_%04d.exr"),
                        StylizeOptions(model=models[0]))
    plan = session.Plan(scene.name, spec, finish=lambda r: "finished", prepare=prepare())

    class Op(session.JobOperator):
        def __init__(self) -> None:
            self.reports: list[tuple[set[str], str]] = []

        def interactive(self, context: Any) -> bool:
            return True

        def make_plan(self, context: Any) -> session.Plan:
            return plan

        def report(self, level: set[str], message: str) -> None:
            self.reports.append((level, message))

    op, wm, ws = Op(), FakeWindowManager(), FakeWorkspace()
    context = SimpleNamespace(window="win", window_manager=wm, workspace=ws)
    assert op.invoke(context, FakeEvent("INVOKE")) == {"RUNNING_MODAL"}
    assert op.modal(context, FakeEvent("TIMER")) == {"RUNNING_MODAL"}
    assert scene.fav_settings.running is True
    assert op.modal(context, FakeEvent("TIMER")) == {"CANCELLED"}
    assert op.reports == [({"ERROR"}, f"{tmp_path / 'render_0002.exr'}: Permission denied")]
    assert wm.calls[-2:] == ["timer_remove", "progress_end"]
    assert ws.texts[-1] is None
    assert scene.fav_settings.running is False
    assert op._job is None  # the core never started
