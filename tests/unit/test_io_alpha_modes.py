"""Premultiplied input with light where alpha is 0 (glows): warned about once; ``alpha="ignore"`` keeps it."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from fav_core.errors import ConfigError
from fav_core.io import open_frames, write_exr
from fav_core.io.color import linear_to_srgb
from fav_core.io.imagefile import emission_pixels


def glow_clip(folder: Path, n: int = 2) -> str:
    """EXRs 4x6: left half opaque grey 0.3, right half a glow (colour 0.5, alpha 0)."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = np.zeros((4, 6, 3), np.float32)
    alpha = np.zeros((4, 6), np.float32)
    rgb[:, :3], alpha[:, :3] = 0.3, 1.0
    rgb[:, 3:] = 0.5
    for i in range(1, n + 1):
        write_exr(folder / f"g_{i}.exr", rgb, alpha)
    return str(folder / "g_%d.exr")


def test_emission_pixels_counts_colour_where_alpha_is_zero() -> None:
    rgb = np.zeros((2, 3, 3), np.float32)
    alpha = np.array([[1, 0, 0], [0.5, 0, 0]], np.float32)
    rgb[0, 1] = 0.2  # lit, alpha 0
    rgb[1, 2, 2] = -0.3  # negative light counts too
    rgb[1, 1] = 5e-5  # below the noise floor
    rgb[0, 0] = 0.9  # opaque: fine
    assert emission_pixels(rgb, alpha) == 2


def test_glow_is_warned_about_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = open_frames(glow_clip(tmp_path), warn_first_frame=True)  # reads frame 1 and warns
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fav_core.io.imagefile"):
        src.read(1)
        frame = src.read(2)
    assert frame.alpha is not None and np.all(frame.rgb[:, 3:] == 0)  # unpremultiplied: the glow is gone
    assert not [r for r in caplog.records if "alpha is 0" in r.getMessage()]  # later reads stay quiet
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fav_core.io.imagefile"):
        open_frames(glow_clip(tmp_path / "b"), warn_first_frame=True)
        open_frames(glow_clip(tmp_path / "c"))  # not asked for: quiet (fav flow, evaluate)
    lines = [r.getMessage() for r in caplog.records if "alpha is 0" in r.getMessage()]
    assert len(lines) == 1 and "12 pixel(s)" in lines[0] and "g_1.exr" in lines[0] and "--alpha ignore" in lines[0]


def test_alpha_ignore_keeps_the_colour_as_stored(tmp_path: Path) -> None:
    frame = open_frames(glow_clip(tmp_path), alpha="ignore").read(2)
    assert frame.alpha is None
    np.testing.assert_allclose(frame.rgb[:, 3:], linear_to_srgb(np.float32(0.5)), rtol=1e-6)
    np.testing.assert_allclose(frame.rgb[:, :3], linear_to_srgb(np.float32(0.3)), rtol=1e-6)


def test_unknown_alpha_mode_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="alpha must be one of auto, ignore"):
        open_frames(glow_clip(tmp_path), alpha="straight")


def test_highlights_above_one_are_warned_about_on_the_first_frame(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    rgb = np.full((4, 5, 3), 0.2, np.float32)
    rgb[0, :2] = (20.0, 4.0, 1.0)  # two hot pixels: a sun glint
    rgb[1, 0, 2] = 1.5  # one channel over is enough
    for i in (1, 2):
        write_exr(tmp_path / f"h_{i}.exr", rgb, None)
    with caplog.at_level(logging.WARNING, logger="fav_core.io.imagefile"):
        src = open_frames(str(tmp_path / "h_%d.exr"), warn_first_frame=True)
        src.read(2)
        open_frames(str(tmp_path / "h_%d.exr"))  # not asked for: quiet
    lines = [r.getMessage() for r in caplog.records if "brighter than 1.0" in r.getMessage()]
    assert len(lines) == 1 and "3 pixel(s) (15.0%)" in lines[0] and "peak 20" in lines[0], lines
    write_exr(tmp_path / "ok_1.exr", np.full((4, 5, 3), 0.9, np.float32), None)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fav_core.io.imagefile"):
        open_frames(str(tmp_path / "ok_%d.exr"), warn_first_frame=True)
    assert not [r for r in caplog.records if "brighter" in r.getMessage()]
