"""``--fps`` for video outputs of image sequences (they have no rate; 24 was the silent default) (audit s4)."""
from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import pytest

from fav_core.cli.stylize import _frame_rate

from .conftest import assert_one_line_error, make_clip, stylize_args

Fav = Callable[..., tuple[int, str]]


def rate_of(path: Path) -> Fraction:
    with av.open(str(path)) as c:
        return Fraction(c.streams.video[0].average_rate)


@pytest.mark.parametrize(("text", "rate"), [("25", Fraction(25)), ("23.976", Fraction(24000, 1001)),
                                            ("30000/1001", Fraction(30000, 1001)), ("59.94", Fraction(60000, 1001)),
                                            ("12.5", Fraction(25, 2))])
def test_frame_rate_parsing(text: str, rate: Fraction) -> None:
    assert _frame_rate(text) == rate


@pytest.mark.parametrize("text", ["0", "-24", "abc", "1/0", "5000"])
def test_bad_frame_rates_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        _frame_rate(text)


def test_image_sequence_to_video_at_the_asked_rate(tmp_path: Path, models: tuple[str, str], fav: Fav,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    inp = make_clip(tmp_path / "in", n=2)
    assert fav(*stylize_args(inp, str(tmp_path / "a.mp4"), models, "--per-frame", "--fps", "23.976"))[0] == 0
    assert rate_of(tmp_path / "a.mp4") == Fraction(24000, 1001)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert fav(*stylize_args(inp, str(tmp_path / "b.mp4"), models, "--per-frame"))[0] == 0
    assert rate_of(tmp_path / "b.mp4") == 24
    assert any("writing 24 fps (--fps sets it)" in r.getMessage() for r in caplog.records)


def test_fps_against_a_video_input_is_refused(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    inp = make_clip(tmp_path / "in", n=2)
    assert fav(*stylize_args(inp, str(tmp_path / "a.mp4"), models, "--per-frame", "--fps", "30"))[0] == 0
    rc, err = fav(*stylize_args(str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4"), models, "--fps", "25"))
    assert_one_line_error(rc, err, "--fps 25", "own rate (30.000 fps)")
    assert not (tmp_path / "b.mp4").exists()
    assert fav(*stylize_args(str(tmp_path / "a.mp4"), str(tmp_path / "c.mp4"), models, "--fps", "30"))[0] == 0
