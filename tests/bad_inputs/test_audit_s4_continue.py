"""``--continue-with`` messages that say what is wrong (audit s4)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .conftest import assert_one_line_error, make_clip, stylize_args

Fav = Callable[..., tuple[int, str]]


def test_continue_with_cut_off_by_num_frames_says_so(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    inp = make_clip(tmp_path / "in", n=4)
    rc, err = fav(*stylize_args(inp, str(tmp_path / "out"), models, "--continue-with", "3", "--num-frames", "2"))
    assert_one_line_error(rc, err, "--continue-with 3", "outside the frames --num-frames keeps", "(1-2 of")
    assert not (tmp_path / "out").exists()


def test_continue_with_a_frame_the_input_lacks(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    inp = make_clip(tmp_path / "in", n=2)
    rc, err = fav(*stylize_args(inp, str(tmp_path / "out"), models, "--continue-with", "7"))
    assert_one_line_error(rc, err, "--continue-with 7: no such frame")


def test_continue_with_without_saved_state_does_not_suggest_no_resume(tmp_path: Path, models: tuple[str, str],
                                                                     fav: Fav) -> None:
    inp = make_clip(tmp_path / "in", n=3)
    rc, err = fav(*stylize_args(inp, str(tmp_path / "out"), models, "--continue-with", "3"))
    line = assert_one_line_error(rc, err, "saved state of frame 2 is missing", "leave out --continue-with")
    assert "--no-resume" not in line  # it would not help: --continue-with still needs frame 2's state
