"""Outputs whose type cannot be written are refused, and dotted folder names are folders (audit s4)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import assert_one_line_error, make_clip, stylize_args

Fav = Callable[..., tuple[int, str]]


@pytest.mark.parametrize("name", ["out.avi", "out.webm", "out.gif", "out.bmp"])
def test_unwritable_media_type_is_refused(tmp_path: Path, models: tuple[str, str], fav: Fav, name: str) -> None:
    inp = make_clip(tmp_path / "in", n=2)
    out = tmp_path / "o"
    out.mkdir()
    rc, err = fav(*stylize_args(inp, str(out / name), models))
    assert_one_line_error(rc, err, name, f"cannot write {Path(name).suffix}", ".mp4")
    assert list(out.iterdir()) == []  # not a folder named out.avi full of PNGs


def test_versioned_output_folders_keep_their_own_run_state(tmp_path: Path, models: tuple[str, str],
                                                           fav: Fav) -> None:
    """``shot.v002`` and ``shot.v003`` are two folders: each holds its frames and its own resume state."""
    inp = make_clip(tmp_path / "in", n=2)
    v2, v3 = tmp_path / "o" / "shot.v002", tmp_path / "o" / "shot.v003"
    assert fav(*stylize_args(inp, str(v2), models))[0] == 0
    rc, err = fav(*stylize_args(inp, str(v3), models, "--median-filter", "5"))  # other settings, other folder
    assert rc == 0, err
    for v in (v2, v3):
        assert sorted(p.name for p in v.glob("*.png")) == ["frame_00001.png", "frame_00002.png"]
        assert (v / ".fav-state" / "settings.json").is_file()
    assert not (tmp_path / "o" / ".fav-state").exists()


def test_frames_of_an_earlier_longer_run_are_reported(tmp_path: Path, models: tuple[str, str], fav: Fav,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "out"
    assert fav(*stylize_args(make_clip(tmp_path / "long", n=4), str(out), models, "--per-frame"))[0] == 0
    caplog.clear()
    rc, err = fav(*stylize_args(make_clip(tmp_path / "short", n=2), str(out), models, "--no-resume"))
    assert rc == 0, err
    warned = [r.getMessage() for r in caplog.records if "this run does not write" in r.getMessage()]
    assert len(warned) == 1 and "2 frame(s)" in warned[0] and "frame_00003.png ... frame_00004.png" in warned[0]
    assert sorted(p.name for p in out.glob("*.png"))[-1] == "frame_00004.png"  # left alone, never deleted


def test_single_images_into_one_folder_are_independent_jobs(tmp_path: Path, models: tuple[str, str],
                                                           fav: Fav) -> None:
    """photo1 -> out/a.png, photo2 -> out/b.png with other settings: no shared run state refuses the second."""
    make_clip(tmp_path / "in", n=2)
    out = tmp_path / "out"
    assert fav(*stylize_args(str(tmp_path / "in" / "frame_0001.png"), str(out / "a.png"), models))[0] == 0
    rc, err = fav(*stylize_args(str(tmp_path / "in" / "frame_0002.png"), str(out / "b.png"), models,
                                "--median-filter", "5"))
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]  # no .fav-state next to the images
