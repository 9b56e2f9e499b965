"""Luminance-only EXRs (a single Y channel, optionally A) read as grey frames."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from fav_core.errors import InputError
from fav_core.io import open_frames
from fav_core.io.color import linear_to_srgb
from fav_core.io.exr import find_rgba


def write_channels(path: Path, channels: dict[str, np.ndarray]) -> None:
    h, w = next(iter(channels.values())).shape
    spec = oiio.ImageSpec(w, h, len(channels), oiio.HALF)
    spec.channelnames = tuple(channels)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), out.geterror()
    assert out.write_image(np.ascontiguousarray(np.stack(list(channels.values()), -1).astype(np.float32)))
    out.close()


def test_y_only_exr_is_a_grey_frame(tmp_path: Path) -> None:
    y = np.tile(np.array([0.0, 0.25, 0.5, 1.0], np.float32), (3, 1))
    write_channels(tmp_path / "g_1.exr", {"Y": y})
    frame = open_frames(tmp_path / "g_%d.exr").read(1)
    assert frame.alpha is None and frame.rgb.shape == (3, 4, 3)
    for c in range(3):
        np.testing.assert_allclose(frame.rgb[..., c], linear_to_srgb(y), atol=1e-6)


def test_y_with_alpha_is_unpremultiplied(tmp_path: Path) -> None:
    y = np.full((2, 2), 0.25, np.float32)
    a = np.full((2, 2), 0.5, np.float32)
    rgb, alpha = find_rgba({"Y": y, "A": a})
    assert alpha is not None and np.array_equal(alpha, a)
    assert np.array_equal(rgb, np.full((2, 2, 3), 0.25, np.float32))  # as stored (premultiplied)


def test_chroma_images_and_colour_win_over_y() -> None:
    z = np.zeros((2, 2), np.float32)
    with pytest.raises(InputError, match="found: Y, RY, BY"):
        find_rgba({"Y": z, "RY": z, "BY": z}, "shot.exr")
    rgb, _ = find_rgba({"R": z + 1, "G": z + 2, "B": z + 3, "Y": z})
    assert rgb[0, 0].tolist() == [1.0, 2.0, 3.0]
