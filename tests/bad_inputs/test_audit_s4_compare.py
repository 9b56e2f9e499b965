"""``fav compare``: -o is required, and frames an earlier comparison left are refused (audit s4)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fav_core.cli.main import main

from .conftest import assert_one_line_error, make_clip, snapshot, write_image

Fav = Callable[..., tuple[int, str]]


def test_compare_without_output_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    inp = make_clip(tmp_path / "in", n=2)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["compare", inp, "--progress", "none"])
    assert exc.value.code == 2
    assert "-o/--output" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # nothing written in the working directory


def test_frames_of_an_earlier_longer_comparison_are_refused(tmp_path: Path, models: tuple[str, str],
                                                           fav: Fav) -> None:
    inp = make_clip(tmp_path / "in", n=2)
    out = tmp_path / "cmp"
    (out / "temporal").mkdir(parents=True)
    write_image(out / "temporal" / "frame_00003.png", np.zeros((16, 24, 3), np.uint8))
    before = snapshot(out)
    rc, err = fav("compare", inp, "--model", models[0], "--image-model", models[1], "-o", str(out),
                  "--progress", "none", "--flow-preset", "ultrafast")
    assert_one_line_error(rc, err, "frame_00003.png", "earlier comparison", "choose another -o")
    assert snapshot(out) == before  # refused before stylizing anything


def test_frames_of_the_same_clip_are_redone(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    inp = make_clip(tmp_path / "in", n=2)
    out = tmp_path / "cmp"
    args = ("compare", inp, "--model", models[0], "--image-model", models[1], "-o", str(out),
            "--progress", "none", "--flow-preset", "ultrafast")
    assert fav(*args)[0] == 0
    rc, err = fav(*args)
    assert rc == 0, err
    assert sorted(p.name for p in (out / "temporal").glob("*.png")) == ["frame_00001.png", "frame_00002.png"]
