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
