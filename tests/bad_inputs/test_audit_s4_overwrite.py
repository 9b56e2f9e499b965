"""``fav stylize`` with an output that is the input itself: refused before anything is written (audit s4)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .conftest import assert_one_line_error, make_clip, snapshot, stylize_args

Fav = Callable[..., tuple[int, str]]


def test_output_pattern_equal_to_the_input_pattern_is_refused(tmp_path: Path, models: tuple[str, str],
                                                             fav: Fav) -> None:
    inp = make_clip(tmp_path / "in", n=3)
    before = snapshot(tmp_path / "in")
    rc, err = fav(*stylize_args(inp, inp, models))
    assert_one_line_error(rc, err, "frame_0001.png", "would overwrite the input")
    assert snapshot(tmp_path / "in") == before  # the plate is untouched, and no run state was left in it


def test_output_through_a_symlinked_folder_is_refused(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    make_clip(tmp_path / "in", n=3)
    (tmp_path / "link").symlink_to(tmp_path / "in")
    before = snapshot(tmp_path / "in")
    rc, err = fav(*stylize_args(str(tmp_path / "in"), str(tmp_path / "link" / "frame_####.png"), models))
    assert_one_line_error(rc, err, "would overwrite the input file")
    assert snapshot(tmp_path / "in") == before


def test_video_output_equal_to_the_input_video_is_refused(tmp_path: Path, models: tuple[str, str],
                                                         fav: Fav) -> None:
    inp = make_clip(tmp_path / "in", n=3)
    video = tmp_path / "clip.mp4"
    assert fav(*stylize_args(inp, str(video), models, "--per-frame"))[0] == 0
    before = video.read_bytes()
    for extra in ((), ("--backward",)):
        rc, err = fav(*stylize_args(str(video), str(video), models, *extra))
        assert_one_line_error(rc, err, "clip.mp4", "would overwrite the input")
        assert video.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "in"]  # no temp files or folders left


def test_output_folder_next_to_the_input_frames_still_works(tmp_path: Path, models: tuple[str, str],
                                                           fav: Fav) -> None:
    """Writing other names into the input's folder overwrites nothing: allowed."""
    inp = make_clip(tmp_path / "in", n=2)
    before = snapshot(tmp_path / "in")
    rc, err = fav(*stylize_args(inp, str(tmp_path / "in" / "styl_%04d.png"), models))
    assert rc == 0, err
    after = snapshot(tmp_path / "in")
    assert {k: v for k, v in after.items() if k in before} == before
    assert "styl_0001.png" in after and "styl_0002.png" in after


def test_stylize_360_output_equal_to_the_input_is_refused(tmp_path: Path, models: tuple[str, str],
                                                          fav: Fav) -> None:
    inp = make_clip(tmp_path / "in", n=2, h=16, w=32)  # a 2:1 equirect clip
    before = snapshot(tmp_path / "in")
    rc, err = fav("stylize-360", inp, "-o", inp, "--model", models[0], "--image-model", models[1],
                  "--progress", "none")
    assert_one_line_error(rc, err, "frame_0001.png", "would overwrite the input")
    assert snapshot(tmp_path / "in") == before


def test_farm_output_equal_to_the_input_is_refused_before_any_worker(tmp_path: Path, models: tuple[str, str],
                                                                     fav: Fav) -> None:
    inp = make_clip(tmp_path / "in", n=3)
    before = snapshot(tmp_path / "in")
    args = stylize_args(inp, inp, models)
    args[0] = "farm"
    rc, err = fav(*args, "--workers", "1")
    assert_one_line_error(rc, err, "frame_0001.png", "would overwrite the input")
    assert snapshot(tmp_path / "in") == before
    args[1] = args[3] = str(tmp_path / "in")  # the folder as input and output: frames mixed into the plate's
    rc, err = fav(*args, "--workers", "1")
    assert_one_line_error(rc, err, "is the input folder")
    assert snapshot(tmp_path / "in") == before


def test_output_into_a_folder_given_as_the_input_is_refused(tmp_path: Path, models: tuple[str, str],
                                                            fav: Fav) -> None:
    """A folder input is read as 'its numbered images': a second sequence written into it would make the next
    read find every frame twice. A pattern input (above) names its files, so other names beside them are fine."""
    make_clip(tmp_path / "in", n=2)
    before = snapshot(tmp_path / "in")
    for out in (str(tmp_path / "in"), str(tmp_path / "in" / "styl_%04d.png")):
        rc, err = fav(*stylize_args(str(tmp_path / "in"), out, models))
        assert_one_line_error(rc, err, "is the input folder")
        assert snapshot(tmp_path / "in") == before
    rc, err = fav(*stylize_args(str(tmp_path / "in"), str(tmp_path / "in" / "clip.mp4"), models, "--per-frame"))
    assert rc == 0, err  # one video file mixes nothing into the sequence
