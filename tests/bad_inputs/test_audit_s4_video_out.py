"""Video output into a folder that cannot be written: one line, before any frame is stylized (audit s4)."""
from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import pytest

import fav_core.io.videosink
from fav_core.cli.stylize import ReorderingSink
from fav_core.errors import OutputError
from fav_core.io import VideoSink

from .conftest import assert_one_line_error, make_clip, stylize_args

Fav = Callable[..., tuple[int, str]]


def _refuse(folder: Path, prefix: str, suffix: str) -> Path:
    raise PermissionError(errno.EACCES, "Permission denied", str(folder))


@pytest.mark.parametrize("extra", [(), ("--backward",)])
def test_unwritable_video_folder_is_refused_before_work(tmp_path: Path, models: tuple[str, str], fav: Fav,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        extra: tuple[str, ...]) -> None:
    inp = make_clip(tmp_path / "in", n=2)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(fav_core.io.videosink, "create_temp", _refuse)  # as a folder without write permission
    rc, err = fav(*stylize_args(inp, str(out / "v.mp4"), models, *extra))
    assert_one_line_error(rc, err, "v.mp4", f"cannot create a file in {out}", "not writable")
    assert list(out.iterdir()) == []  # no reorder buffer, no temp file


def test_backward_buffer_in_a_missing_folder_is_an_output_error(tmp_path: Path) -> None:
    sink = VideoSink(tmp_path / "v.mp4", 24)
    with pytest.raises(OutputError, match="frame buffer"):
        ReorderingSink(sink, tmp_path / "not-a-folder.txt" / "sub")


def test_video_sink_probe_leaves_nothing_behind(tmp_path: Path) -> None:
    sink = VideoSink(tmp_path / "v.mp4", 24)
    assert list(tmp_path.iterdir()) == []
    sink.close()  # no frames: no file
    assert list(tmp_path.iterdir()) == []
