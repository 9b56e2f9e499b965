"""Device-side median filter (fav_core.median_torch) against fav_core.median.median_filter, on CPU."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fav_core.errors import ConfigError, ShapeError
from fav_core.median import median_filter
from fav_core.median_torch import median_filter_t


@pytest.mark.parametrize("k", [1, 3, 5, 7])
@pytest.mark.parametrize("h,w", [(1, 1), (2, 3), (9, 14), (16, 24)])
def test_equals_numpy_median(k: int, h: int, w: int) -> None:
    rng = np.random.default_rng(k * 31 + h * 7 + w)
    img = rng.normal(0.5, 0.4, (h, w, 3)).astype(np.float32)
    img[rng.random((h, w)) < 0.3] = 0.25  # ties
    got = median_filter_t(torch.from_numpy(img.transpose(2, 0, 1).copy())[None], k)
    assert got.dtype == torch.float32 and got.shape == (1, 3, h, w)
    np.testing.assert_array_equal(got[0].permute(1, 2, 0).numpy(), median_filter(img, k))


def test_hot_pixel_removed_and_batch() -> None:
    x = torch.zeros(2, 1, 5, 5)
    x[1, 0, 2, 2] = 1.0
    assert median_filter_t(x, 3).max().item() == 0.0


def test_errors_and_copy() -> None:
    x = torch.ones(1, 3, 4, 4)
    with pytest.raises(ConfigError, match="odd"):
        median_filter_t(x, 4)
    with pytest.raises(ShapeError):
        median_filter_t(torch.ones(3, 4, 4), 3)
    out = median_filter_t(x, 1)
    out[0, 0, 0, 0] = 5.0
    assert x[0, 0, 0, 0].item() == 1.0
