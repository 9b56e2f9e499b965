"""``fav gui`` registration and start-up; the Nuke-facing modules stay free of torch and numpy."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.gui.conftest import make_clip


def test_fav_gui_is_registered_through_the_entry_point() -> None:
    from fav_core.cli.main import build_parser
    from fav_gui import cli

    args = build_parser().parse_args(["gui", "clip/frame_%04d.png", "--python", "/opt/py"])
    assert args.func is cli.run and args.input == "clip/frame_%04d.png" and args.python == "/opt/py"
    assert build_parser().parse_args(["gui"]).input is None


def test_model_names_come_from_the_core(monkeypatch: pytest.MonkeyPatch, tiny_models: tuple[str, str]) -> None:
    from fav_gui.cli import model_names

    monkeypatch.setenv("FAV_MODEL_PATH", str(Path(tiny_models[0]).parent))
    names = model_names()
    assert "tiny-video" in names and "tiny-image" in names


def test_run_opens_the_clip_and_returns_when_the_window_closes(qapp: object, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from fav_core.cli.main import build_parser
    from fav_gui.main_window import MainWindow
    from fav_gui.qt import QtCore, QtWidgets

    # keep the user's real settings untouched: QSettings' default location goes to the tmp folder
    for fmt in (QtCore.QSettings.Format.NativeFormat, QtCore.QSettings.Format.IniFormat):
        QtCore.QSettings.setPath(fmt, QtCore.QSettings.Scope.UserScope, str(tmp_path / "config"))
    monkeypatch.setenv("FAV_MODEL_PATH", str(tmp_path / "no-models"))
    clip = make_clip(tmp_path / "clip", 3, 16, 24)
    seen: list[tuple[str, bool]] = []

    def inspect_and_close() -> None:
        for w in QtWidgets.QApplication.topLevelWidgets():
            if isinstance(w, MainWindow):
                seen.append((w.input_path, w.isVisible()))
                w.close()

    QtCore.QTimer.singleShot(100, inspect_and_close)
    args = build_parser().parse_args(["gui", clip])
    assert args.func(args) == 0
    assert seen == [(clip, True)]
    assert list((tmp_path / "config").rglob("*.conf")) or list((tmp_path / "config").rglob("*.ini"))


def test_nuke_facing_modules_import_neither_torch_nor_numpy() -> None:
    code = ("import sys; import fav_gui.job, fav_gui.options, fav_gui.settings_panel, fav_gui.qt; "
            "print(sorted(m for m in ('torch', 'numpy', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("platform", "env", "problem"),
    [("linux", {}, True), ("linux", {"DISPLAY": ":0"}, False), ("linux", {"WAYLAND_DISPLAY": "wayland-0"}, False),
     ("linux", {"QT_QPA_PLATFORM": "offscreen"}, False), ("darwin", {}, False), ("win32", {}, False)],
)
def test_display_problem(platform: str, env: dict[str, str], problem: bool) -> None:
    from fav_gui.cli import display_problem

    found = display_problem(env, platform)
    assert (found is not None) == problem
    if problem:
        assert "no display" in found and "DISPLAY" in found


def test_fav_gui_without_a_display_is_one_error_line(tmp_path: Path) -> None:
    """On a headless Linux box Qt aborted the process (SIGABRT) with 'Reinstalling the application may fix this
    problem'; fav gui now says what is missing and exits with the CLI's error code."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run([sys.executable, "-m", "fav_core.cli", "gui"], capture_output=True, text=True, env=env,
                          cwd=Path(__file__).resolve().parents[2], timeout=60, check=False)
    if sys.platform.startswith("linux"):
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines() == [
            "fav: error: fav gui: no display (DISPLAY and WAYLAND_DISPLAY are unset); run it in a desktop session, "
            "or set QT_QPA_PLATFORM (e.g. offscreen) to choose a Qt platform"]
