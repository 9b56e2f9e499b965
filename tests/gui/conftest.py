"""Fixtures of the GUI tests: an offscreen QApplication, a generated clip, tiny random models, event waiting."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest
import torch

ARCH = "c3s1-8,d8,R8,u8,c3s1-3"


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


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Run the Qt event loop until ``predicate()`` holds; fail the test after ``timeout_s``."""
    from fav_gui.qt import QtCore, QtWidgets

    app = QtWidgets.QApplication.instance()
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.005)


def write_png(path: Path, rgb: np.ndarray) -> None:
    data = np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)
    out = oiio.ImageOutput.create(str(path))
    assert out is not None, oiio.geterror()
    out.open(str(path), oiio.ImageSpec(data.shape[1], data.shape[0], 3, oiio.UINT8))
    out.write_image(data)
    out.close()


def make_clip(folder: Path, n: int, h: int = 24, w: int = 32, seed: int = 0) -> str:
    """A smooth random texture panning right by 1 px per frame: ``frame_0001.png`` ... Returns the pattern."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    big = rng.random((h, w + n + 2, 3)).astype(np.float32)
    big = (big + np.roll(big, 1, 1) + np.roll(big, 1, 0)) / 3
    for i in range(1, n + 1):
        write_png(folder / f"frame_{i:04d}.png", big[:, i:i + w])
    return str(folder / "frame_%04d.png")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(video model path, image model path): random tiny nets saved with fav_core.modelfile.save_model."""
    from fav_core.modelfile import ModelMeta, save_model
    from fav_core.nets import build_transformer

    d = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    video = save_model(d / "tiny-video.safetensors", build_transformer(ARCH, 7),
                       ModelMeta(kind="video", arch=ARCH, in_channels=7, style_name="tiny"))
    image = save_model(d / "tiny-image.safetensors", build_transformer(ARCH, 3),
                       ModelMeta(kind="image", arch=ARCH, in_channels=3, style_name="tiny"))
    return str(video), str(image)
