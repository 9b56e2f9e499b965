"""Finished output files get the umask's mode (readable by the pipeline), not the 0600 of ``mkstemp``."""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from fav_core.io import ImageSequenceSink, VideoSink
from fav_core.io.atomic import atomic_write, create_temp
from fav_core.runstate import RunState
from fav_core.types import Frame


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def frame(index: int) -> Frame:
    return Frame(index, np.full((6, 8, 3), 0.25, np.float32))


def test_atomic_write_gives_the_umask_mode(tmp_path: Path, umask_022: None) -> None:
    atomic_write(tmp_path / "a.txt", lambda tmp: tmp.write_text("x"))
    assert mode(tmp_path / "a.txt") == 0o644


def test_image_sequence_files_are_readable_by_others(tmp_path: Path, umask_022: None) -> None:
    for ext in ("png", "exr"):
        sink = ImageSequenceSink(tmp_path / f"f_%02d.{ext}")
        sink.write(frame(1))
        assert mode(tmp_path / f"f_01.{ext}") == 0o644, ext


def test_video_and_run_state_are_readable_by_others(tmp_path: Path, umask_022: None) -> None:
    sink = VideoSink(tmp_path / "v.mp4", 24)
    sink.write(frame(1))
    sink.close()
    assert mode(tmp_path / "v.mp4") == 0o644
    state = RunState(tmp_path)
    state.check_settings({"a": 1}, resume=False)
    state.save_prior(1, np.zeros((6, 8, 3), np.float32))
    assert mode(state.dir / "settings.json") == 0o644
    assert mode(state.prior_path(1)) == 0o644


def test_create_temp_makes_new_hidden_files(tmp_path: Path) -> None:
    a = create_temp(tmp_path, ".x.tmp-", ".png")
    b = create_temp(tmp_path, ".x.tmp-", ".png")
    assert a != b and a.is_file() and b.is_file() and a.stat().st_size == 0
    assert a.name.startswith(".x.tmp-") and a.suffix == ".png"
    with pytest.raises(OSError):
        create_temp(tmp_path / "missing", ".x.tmp-", ".png")
