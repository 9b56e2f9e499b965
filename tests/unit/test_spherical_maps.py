"""Reference perspective border maps (algorithm.md §9.4): literal port, exact values, fit to the cube geometry."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fav_core.errors import ConfigError
from fav_core.spherical.blend import default_ramp_width, ramp, side_map
from fav_core.spherical.border_maps import (
    NO_CONTENT,
    exact_map,
    warp_map_bottom,
    warp_map_left,
    warp_map_right,
    warp_map_top,
)
from fav_core.spherical.projection import CubeGeometry
from fav_core.warp import warp_backward_np


def _wc(size: float, o: float) -> float:
    w0 = size / 2 / ((2 * o + size) / size)
    r = (w0 + o) / w0
    return w0 - (r - 1) / r * o


def lua_left(hp: int, c: int, wp: int) -> np.ndarray:
    """Scalar transcription of make_perspective_warp_map_left (1-based loops, [1]=dy, [2]=dx)."""
    o = c / 2
    wc = _wc(hp, o)
    out = np.full((hp, wp, 2), NO_CONTENT)
    for k in range(1, c + 1):
        x = wc - c + k
        fh = fw = (x + o) / wc
        for y in range(1, hp + 1):
            col = int(round(x - (wc - c))) + wp - c  # 1-based
            out[y - 1, col - 1, 1] = (hp / 2 - y) * (-1 / fh + 1)
            out[y - 1, col - 1, 0] = (wc - x - o) * (fw - 1) / fw - wp + c
    return out


def lua_right(hp: int, c: int, wp: int) -> np.ndarray:
    o = c / 2
    wc = _wc(hp, o)
    out = np.full((hp, wp, 2), NO_CONTENT)
    for x in range(1, c + 1):
        fh = fw = (wc - x + o) / wc
        for y in range(1, hp + 1):
            out[y - 1, x - 1, 1] = (hp / 2 - y) * (-1 / fh + 1)
            out[y - 1, x - 1, 0] = -(x - o) * (fw - 1) / fw + wp - c
    return out


def lua_top(wp: int, c: int, hp: int) -> np.ndarray:
    o = c / 2
    hc = _wc(wp, o)
    out = np.full((hp, wp, 2), NO_CONTENT)
    for k in range(1, c + 1):
        y = hc - c + k
        fw = fh = (y + o) / hc
        for x in range(1, wp + 1):
            row = int(round(y - (hc - c))) + hp - c
            out[row - 1, x - 1, 1] = (hc - y - o) * (fh - 1) / fh - hp + c
            out[row - 1, x - 1, 0] = (wp / 2 - x) * (-1 / fw + 1)
    return out


def lua_bottom(wp: int, c: int, hp: int) -> np.ndarray:
    o = c / 2
    hc = _wc(wp, o)
    out = np.full((hp, wp, 2), NO_CONTENT)
    for y in range(1, c + 1):
        fw = fh = (hc - y + o) / hc
        for x in range(1, wp + 1):
            out[y - 1, x - 1, 1] = -(y - o) * (fh - 1) / fh + hp - c
            out[y - 1, x - 1, 0] = (wp / 2 - x) * (-1 / fw + 1)
    return out


@pytest.mark.parametrize("size,crop", [(40, 12), (64, 16), (48, 8)])
def test_vectorised_maps_equal_the_scalar_transcription(size: int, crop: int) -> None:
    pairs = [
        (warp_map_left(size, crop, size), lua_left(size, crop, size)),
        (warp_map_right(size, crop, size), lua_right(size, crop, size)),
        (warp_map_top(size, crop, size), lua_top(size, crop, size)),
        (warp_map_bottom(size, crop, size), lua_bottom(size, crop, size)),
    ]
    for ours, ref in pairs:
        assert ours.shape == (size, size, 2) and ours.dtype == np.float32
        np.testing.assert_allclose(ours, ref.astype(np.float32), rtol=0, atol=2e-5)


def test_reference_size_exact_values() -> None:
    # 768-px faces, 128 px overlap (the reference scripts): W0 = 384 / (896/768), r = (W0+64)/W0, Wc = W0 - (r-1)/r*64
    w0 = 384 / (896 / 768)
    r = (w0 + 64) / w0
    wc = w0 - (r - 1) / r * 64
    assert wc == pytest.approx(318.724252, abs=1e-5)
    left = warp_map_left(768, 128, 768)
    f = (wc + 64) / wc  # last column (k = 128, x = Wc)
    assert left[0, 767, 1] == pytest.approx((384 - 1) * (1 - 1 / f), abs=1e-3)  # dy at y = 1
    assert left[0, 767, 0] == pytest.approx(-64 * (f - 1) / f - 640, abs=1e-3)
    assert left[0, 767, 0] == pytest.approx(-650.7023, abs=1e-3)
    f1 = (wc - 127 + 64) / wc  # first strip column (k = 1, fractional x = Wc - 127)
    assert left[767, 640, 1] == pytest.approx((384 - 768) * (1 - 1 / f1), abs=1e-3)
    assert left[767, 640, 0] == pytest.approx((wc - (wc - 127) - 64) * (f1 - 1) / f1 - 640, abs=1e-3)
    right = warp_map_right(768, 128, 768)
    fr = (wc - 1 + 64) / wc  # x = 1
    assert right[10, 0, 0] == pytest.approx(-(1 - 64) * (fr - 1) / fr + 640, abs=1e-3)
    assert right[10, 0, 1] == pytest.approx((384 - 11) * (1 - 1 / fr), abs=1e-3)


def test_maps_fill_only_their_strip() -> None:
    size, crop = 40, 12
    left, right = warp_map_left(size, crop, size), warp_map_right(size, crop, size)
    top, bottom = warp_map_top(size, crop, size), warp_map_bottom(size, crop, size)
    assert np.all(left[:, : size - crop] == NO_CONTENT) and np.all(np.abs(left[:, size - crop:]) < 1000)
    assert np.all(right[:, crop:] == NO_CONTENT) and np.all(np.abs(right[:, :crop]) < 1000)
    assert np.all(top[: size - crop] == NO_CONTENT) and np.all(np.abs(top[size - crop:]) < 1000)
    assert np.all(bottom[crop:] == NO_CONTENT) and np.all(np.abs(bottom[:crop]) < 1000)
    ones = np.ones((size, size, 1), np.float32)
    cov = warp_backward_np(ones, left)[..., 0]
    assert np.all(cov[:, : size - crop] == 0)
    np.testing.assert_allclose(cov[:, -crop // 2:], 1.0, atol=1e-6)  # overlap beyond the cube edge: covered


@pytest.mark.parametrize("edge,overlap", [(48, 16), (768, 128)])
@pytest.mark.parametrize("side", ["left", "right", "top", "bottom"])
def test_reference_maps_match_exact_perspective(edge: int, overlap: int, side: str) -> None:
    ref = side_map(side, edge, overlap)  # type: ignore[arg-type]
    exact = exact_map(side, edge, overlap, overlap)
    cov = warp_backward_np(np.ones((edge, edge, 1), np.float32), ref)[..., 0]
    sel = cov > 0.999
    err = np.abs(ref - exact)[sel]
    assert sel.sum() > 0.7 * edge * overlap
    assert err.mean() < 0.3  # mean sub-pixel agreement (measured 0.19..0.26 px)
    assert err.max() < 1.6  # worst pixel (measured 0.71..1.53 px, the 1-based formula's asymmetry)


def test_exact_map_right_side_formula() -> None:
    # Right border: a face turned about its right edge sees direction (a, b) at a' = -1/a, b' = b/a.
    edge, overlap = 48, 16
    m = exact_map("right", edge, overlap, overlap)
    half, centre = 16.0, 23.5
    col, row = 47, 5
    a, b = (col - centre) / half, (row - centre) / half
    assert m[row, col, 0] == pytest.approx((-1 / a) * half + centre - col, abs=1e-4)
    assert m[row, col, 1] == pytest.approx((b / a) * half + centre - row, abs=1e-4)


def test_ramp_values_and_default_width() -> None:
    assert default_ramp_width(CubeGeometry(768, 128)) == 118  # the reference's overlap - 10
    assert default_ramp_width(CubeGeometry(48, 16)) == 14
    r = ramp("left", 6, 3)
    np.testing.assert_allclose(r[0], [0.75, 0.5, 0.25, 0, 0, 0])
    np.testing.assert_allclose(ramp("right", 6, 3)[2], [0, 0, 0, 0.25, 0.5, 0.75])
    np.testing.assert_allclose(ramp("top", 6, 3)[:, 1], [0.75, 0.5, 0.25, 0, 0, 0])
    np.testing.assert_allclose(ramp("bottom", 6, 3)[:, 4], [0, 0, 0, 0.25, 0.5, 0.75])
    with pytest.raises(ConfigError, match="ramp width"):
        ramp("left", 6, 7)


def test_bad_map_arguments() -> None:
    with pytest.raises(ConfigError, match="border width"):
        warp_map_left(16, 17, 16)
    with pytest.raises(ConfigError, match="unknown face side"):
        exact_map("north", 16, 4, 4)
    with pytest.raises(ConfigError, match="border maps must be"):
        side_map("left", 16, 4, "approx")  # type: ignore[arg-type]
    assert math.isfinite(float(warp_map_top(16, 4, 16)[-1, 0, 0]))
