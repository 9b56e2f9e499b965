from __future__ import annotations

import numpy as np
import pytest

from fav_core.errors import ConfigError, ShapeError
from fav_core.median import median_filter


def _valid_median(img: np.ndarray, k: int) -> np.ndarray:
    """The reference (fns) semantics: median over valid windows only, output shrinks by k // 2 per side."""
    win = np.lib.stride_tricks.sliding_window_view(img, (k, k), axis=(0, 1))
    return np.median(win, axis=(-2, -1))


class TestMedianFilter:
    def test_smoke(self) -> None:
        out = median_filter(np.zeros((6, 7, 3), np.float32), 3)
        assert out.shape == (6, 7, 3) and out.dtype == np.float32

    @pytest.mark.parametrize("k", [3, 5, 7])
    def test_interior_equals_reference(self, k: int) -> None:
        rng = np.random.default_rng(k)
        img = rng.random((11, 13, 3)).astype(np.float32)
        out = median_filter(img, k)
        r = k // 2
        np.testing.assert_array_equal(out[r:-r, r:-r], _valid_median(img, k))

    @pytest.mark.parametrize("k", [3, 5, 7])
    def test_border_is_replicate_padded(self, k: int) -> None:
        rng = np.random.default_rng(10 + k)
        img = rng.random((9, 10, 2)).astype(np.float32)
        r = k // 2
        padded = np.pad(img, ((r, r), (r, r), (0, 0)), mode="edge")
        np.testing.assert_array_equal(median_filter(img, k), _valid_median(padded, k))

    def test_hot_pixel_removed_exact(self) -> None:
        img = np.zeros((5, 5, 1), np.float32)
        img[2, 2] = 1.0
        img[0, 0] = 0.5  # a corner pixel fills 4 of its 9 replicate-padded window cells -> still removed
        assert median_filter(img, 3).max() == 0.0

    def test_values_outside_unit_range_kept(self) -> None:
        img = np.full((4, 4, 3), 1.07, np.float32)
        img[..., 1] = -0.03
        np.testing.assert_array_equal(median_filter(img, 5), img)

    @pytest.mark.parametrize("k", [0, 1])
    def test_identity(self, k: int) -> None:
        img = np.random.default_rng(0).random((4, 5, 3)).astype(np.float32)
        out = median_filter(img, k)
        np.testing.assert_array_equal(out, img)
        assert out is not img

    def test_exception(self) -> None:
        with pytest.raises(ConfigError, match="odd"):
            median_filter(np.zeros((4, 4, 3), np.float32), 4)
        with pytest.raises(ShapeError):
            median_filter(np.zeros((4, 4), np.float32), 3)
