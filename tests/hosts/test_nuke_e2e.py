"""End to end: the node (against the fake nuke) renders real EXRs and runs the REAL core out of process.

A synthetic plate with known motion (tests/hosts/fake_nuke/scene.py) goes through the node's internal Write
(real EXR files with Nuke ``backward.u/v``/``forward.u/v`` channels), then ``<python> -m fav_core.cli stylize
--flow pass --vectors nuke --progress json`` runs with tiny random models; the internal Read must end up on N whole
stylized EXRs. Also: the core reads our vectors with the right signs, re-running resumes, Cancel stops the child
cleanly, and a core error reaches the artist once.
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hosts" / "nuke"))

from tests.hosts.fake_nuke import FakeNuke, install  # noqa: E402
from tests.hosts.fake_nuke.scene import BACKWARD, FORWARD, write_plate  # noqa: E402
from tests.support import slow_core_python  # noqa: E402

pytestmark = pytest.mark.slow

N = 5


@pytest.fixture(scope="module")
def models(tiny_models: tuple[str, str]) -> tuple[str, str]:
    return tiny_models


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeNuke:
    monkeypatch.setenv("FAV_NUKE_SETTINGS", str(tmp_path / "settings.json"))
    monkeypatch.delenv("FAV_PYTHON", raising=False)
    return install(monkeypatch)


def make_node(fake: FakeNuke, tmp_path: Path, models: tuple[str, str], **knobs: Any) -> Any:
    from fav_nuke.node import create_node

    read = fake.module.nodes.Read(file=write_plate(tmp_path / "src", range(1, N + 1)), first=1, last=N)
    fake.selected = read
    group = create_node()
    values = {"model": models[0], "image_model": models[1], "core_python": sys.executable,
              "output_folder": str(tmp_path / "job"), "device": "cpu"}
    values.update(knobs)
    for name, value in values.items():
        group[name].setValue(value)
    return group


def stylized(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "job" / "stylized").glob("stylized.*.exr"))


def assert_whole(files: list[Path]) -> None:
    from fav_core.io.exr import find_rgba, read_exr_channels

    for f in files:
        rgb, _ = find_rgba(read_exr_channels(f), f)
        assert rgb.shape == (16, 24, 3) and np.isfinite(rgb).all() and rgb.std() > 0, f


def test_stylize_with_the_real_core(fake: FakeNuke, tmp_path: Path, models: tuple[str, str]) -> None:
    group = make_node(fake, tmp_path, models)
    group["stylize"].execute()
    assert fake.messages == []
    files = stylized(tmp_path)
    assert [f.name for f in files] == [f"stylized.{i:04d}.exr" for i in range(1, N + 1)]
    assert_whole(files)
    read = group.node("FavRead")
    assert read["file"].value() == (tmp_path / "job" / "stylized" / "stylized.%04d.exr").as_posix()
    assert (read["first"].value(), read["last"].value()) == (1, N)
    assert group.node("FavSwitch")["which"].value() == 1
    out = fake.pixels(group, 3)  # what the node shows = the core's file
    from fav_core.io.exr import read_exr_channels

    disk = read_exr_channels(files[2])
    np.testing.assert_array_equal(out["rgba.red"], disk["R"])
    (task,) = fake.progress_tasks
    assert task.progress[-1] == 100 and task.messages[-1] == f"frame {N} ({N}/{N})"

    # The core reads the vectors the fake Write rendered with our convention's signs (y down).
    from fav_core.io.sequence import open_frames

    source = open_frames((tmp_path / "job" / "plate" / "plate.%04d.exr").as_posix(), colorspace="linear")
    frame = source.read(2)
    assert frame.flow_to_prev is not None and frame.flow_to_next is not None
    assert np.all(frame.flow_to_prev == np.array(BACKWARD, np.float32))
    assert np.all(frame.flow_to_next == np.array(FORWARD, np.float32))

    # Re-running a finished job redoes nothing.
    before = [f.stat().st_mtime_ns for f in files]
    group["stylize"].execute()
    assert [f.stat().st_mtime_ns for f in stylized(tmp_path)] == before
    assert fake.messages == []
    assert group["status"].value() == f"stylized 1-{N}: wrote 0 frame(s)"


def test_cancel_then_resume_with_the_real_core(fake: FakeNuke, tmp_path: Path, models: tuple[str, str]) -> None:
    fake.module.env["gui"] = True
    # a core whose recursive frames take 0.3 s, so the cancel after frame 1 lands before the last frame
    group = make_node(fake, tmp_path, models, core_python=slow_core_python(tmp_path / "slowcore"))
    fake.cancel_when = lambda task: any(m.startswith("frame ") for m in task.messages)  # after frame 1
    group["stylize"].execute()
    (worker,) = [t for t in threading.enumerate() if t.name == "fav-FastArtisticVideos"]
    worker.join(timeout=120)
    assert not worker.is_alive()
    assert fake.run_main_thread_queue() == 1
    assert fake.messages == []
    status = group["status"].value()
    assert status.startswith("cancelled after ") and status.endswith("press Stylize to resume"), status
    partial = stylized(tmp_path)
    assert 1 <= len(partial) < N
    assert_whole(partial)
    assert not [p for p in (tmp_path / "job" / "stylized").iterdir() if p.is_file() and p not in partial]

    fake.cancel_when = None
    fake.module.env["gui"] = False
    group["stylize"].execute()
    assert fake.messages == []
    assert fake.progress_tasks[-1].messages[1] == f"resuming at frame {len(partial) + 1}"
    assert [f.name for f in stylized(tmp_path)] == [f"stylized.{i:04d}.exr" for i in range(1, N + 1)]
    assert_whole(stylized(tmp_path))
    assert group.node("FavSwitch")["which"].value() == 1


def test_core_error_reaches_the_artist_once(fake: FakeNuke, tmp_path: Path, models: tuple[str, str]) -> None:
    missing = tmp_path / "no-such-model.safetensors"
    group = make_node(fake, tmp_path, models, model=str(missing))
    group["stylize"].execute()
    assert len(fake.messages) == 1
    assert fake.messages[0].startswith("FastArtisticVideos: ") and str(missing) in fake.messages[0]
    assert group["status"].value().startswith("error: ")
    assert group["stylize"].enabled() and group.node("FavSwitch")["which"].value() == 0
    assert stylized(tmp_path) == []
