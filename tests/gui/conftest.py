"""Fixtures of the GUI tests: an offscreen QApplication, a generated clip, event waiting (tiny_models: tests/conftest.py)."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import support


@pytest.fixture(scope="session")
def qapp() -> Iterator[object]:
    """The one QApplication, on the offscreen platform (no display needed)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QT_QPA_PLATFORM", "offscreen")
        from fav_gui.qt import QtWidgets

        app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["fav-gui-tests"])
        yield app


@pytest.fixture()
def store(qapp: object, tmp_path: Path) -> object:
    """A QSettings in the test's tmp folder (never the user's settings)."""
    from fav_gui.qt import QtCore

    return QtCore.QSettings(str(tmp_path / "fav-gui.ini"), QtCore.QSettings.Format.IniFormat)


def pump_events(max_ms: int = 50) -> None:
    """Process pending Qt events once.

    Through a QEventLoop object, not the static ``QCoreApplication.processEvents``: in PySide6 6.12 the static
    one (like ``sendPostedEvents`` and ``QThread.msleep``) drops a reference to None on every call, and a test
    that waits long enough dies with "Fatal Python error: none_dealloc" (test_gui_wait.py).
    """
    from fav_gui.qt import QtCore

    QtCore.QEventLoop().processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, max_ms)


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Run the Qt event loop until ``predicate()`` holds; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        pump_events()
        time.sleep(0.005)


def make_clip(folder: Path, n: int, h: int = 24, w: int = 32, seed: int = 0) -> str:
    """A smooth random texture panning right by 1 px per frame: ``frame_0001.png`` ... Returns the pattern."""
    return support.make_clip(folder, n, h, w, seed, step=1, texture_width=w + n + 2)
