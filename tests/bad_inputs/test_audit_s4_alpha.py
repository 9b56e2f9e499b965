"""``fav stylize --alpha ignore`` on premultiplied EXRs with glows (audit s4)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from fav_core.io import read_exr_channels, write_exr

from .conftest import stylize_args

Fav = Callable[..., tuple[int, str]]


def glow_clip(folder: Path, n: int = 2) -> str:
    folder.mkdir(parents=True)
    rgb = np.zeros((16, 24, 3), np.float32)
    alpha = np.zeros((16, 24), np.float32)
    rgb[:, :12], alpha[:, :12] = 0.3, 1.0
    rgb[:, 12:] = 0.5  # glow: light where alpha is 0
    for i in range(1, n + 1):
        write_exr(folder / f"g_{i:02d}.exr", rgb, alpha)
    return str(folder / "g_%02d.exr")


def test_alpha_ignore_keeps_glows_and_writes_no_alpha(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    inp = glow_clip(tmp_path / "in")
    rc, err = fav(*stylize_args(inp, str(tmp_path / "keep"), models))
    assert rc == 0, err
    kept = read_exr_channels(tmp_path / "keep" / "frame_00002.exr")
    assert "A" in kept and np.all(kept["R"][:, 12:] == 0)  # carried alpha: the glow is gone (and warned about)
    rc, err = fav(*stylize_args(inp, str(tmp_path / "ign"), models, "--alpha", "ignore"))
    assert rc == 0, err
    ign = read_exr_channels(tmp_path / "ign" / "frame_00002.exr")
    assert "A" not in ign
    assert float(np.abs(np.stack([ign[c][:, 12:] for c in "RGB"])).max()) > 0.01  # the glow area is stylized
