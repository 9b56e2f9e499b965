"""A truncated frame in the middle of a sequence: refused before work, one line, no library noise (audit s4)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fav_core.io import write_exr

from .conftest import assert_one_line_error, make_clip, run_cli, stylize_args


@pytest.mark.parametrize("ext", ["png", "exr"])
def test_truncated_frame_in_the_middle_is_refused_before_work(tmp_path: Path, models: tuple[str, str],
                                                             ext: str) -> None:
    if ext == "png":
        inp = make_clip(tmp_path / "in", n=4, h=32, w=48)
    else:
        (tmp_path / "in").mkdir()
        for i in range(1, 5):
            write_exr(tmp_path / "in" / f"frame_{i:04d}.exr",
                      np.random.default_rng(i).random((32, 48, 3), dtype=np.float32))
        inp = str(tmp_path / "in" / "frame_%04d.exr")
    bad = tmp_path / "in" / f"frame_0003.{ext}"
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) * 2 // 3])  # a render node died while writing it
    out = tmp_path / "out"
    res = run_cli(*stylize_args(inp, str(out), models))
    assert_one_line_error(res.returncode, res.stderr, f"frame_0003.{ext}", "truncated", "interrupted write")
    assert "libpng" not in res.stderr and "EXR_ERR" not in res.stderr  # the decoder never ran on it
    assert not out.exists() or not [p for p in out.iterdir() if not p.name.startswith(".")]
