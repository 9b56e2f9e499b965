"""Median filter on a torch device: :func:`fav_core.median.median_filter` for (B, C, H, W) tensors."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fav_core.errors import ConfigError, check_shape


def _median3(x: torch.Tensor) -> torch.Tensor:
    """3×3 median of a replicate-padded (B, C, H+2, W+2) tensor with a min/max selection network.

    Median of 9 = median(max of row minima, median of row medians, min of row maxima), with each 3-row sorted
    first (Paeth's exact selection); only ``min``/``max`` of input values, so the result is one of them.
    """
    h, w = x.shape[-2] - 2, x.shape[-1] - 2

    def sort3(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        lo, hi = torch.minimum(a, b), torch.maximum(a, b)
        mid, hi = torch.minimum(hi, c), torch.maximum(hi, c)
        lo, mid = torch.minimum(lo, mid), torch.maximum(lo, mid)
        return lo, mid, hi

    rows = []
    for dy in range(3):
        r = x[..., dy : dy + h, :]
        rows.append(sort3(r[..., 0:w], r[..., 1 : w + 1], r[..., 2 : w + 2]))
    lows = torch.maximum(torch.maximum(rows[0][0], rows[1][0]), rows[2][0])
    highs = torch.minimum(torch.minimum(rows[0][2], rows[1][2]), rows[2][2])
    mids = sort3(rows[0][1], rows[1][1], rows[2][1])[1]
    return sort3(lows, mids, highs)[1]


def median_filter_t(x: torch.Tensor, k: int = 3) -> torch.Tensor:
    """k×k per-channel median keeping the size, edge pixels repeated at the border (as ``cv2.medianBlur``).

    Same values as :func:`fav_core.median.median_filter` (a median selects one of the window's values, so the
    result is exact on any device). k = 3 uses a min/max selection network; other odd k take ``median`` over
    the unfolded windows (memory B·C·H·W·k² values).

    Args:
        x: :math:`(B, C, H, W)` float tensor.
        k: odd window size; ``k <= 1`` returns a float32 copy.

    Returns:
        :math:`(B, C, H, W)` float32 (a new tensor).

    Raises:
        ConfigError: even ``k``.
        ShapeError: ``x`` is not 4-D.
    """
    check_shape(x, "B C H W", "image")
    img = x.float()
    if k <= 1:
        return img.clone()
    if k % 2 == 0:
        raise ConfigError(f"median filter size must be odd, got {k}")
    r = k // 2
    padded = F.pad(img, (r, r, r, r), mode="replicate")
    if k == 3:
        return _median3(padded)
    b, c, h, w = img.shape
    windows = padded.unfold(2, k, 1).unfold(3, k, 1).reshape(b, c, h, w, k * k)
    return windows.median(dim=-1).values
