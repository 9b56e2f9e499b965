"""Median filter on a stylised frame (fns ``-median_filter``, algorithm.md §13)."""

from __future__ import annotations

import cv2
import numpy as np

from fav_core.errors import ConfigError, check_shape

_CV_FLOAT_SIZES = (3, 5)  # cv2.medianBlur accepts float32 only for these window sizes


def median_filter(rgb: np.ndarray, k: int = 3) -> np.ndarray:
    """k x k per-channel median of an image, keeping its size.

    The reference (fast-neural-style ``utils.median_filter``) takes the median over *valid* windows only
    (no padding), so its output shrinks by k // 2 pixels on every side. We keep the frame size instead:
    the border is replicate-padded (edge pixels repeated), which is also what ``cv2.medianBlur`` does
    internally. Interior pixels equal the reference exactly.

    Sizes 3 and 5 run through ``cv2.medianBlur`` on float32; other odd sizes use a numpy fallback
    (``sliding_window_view`` + ``np.median`` on the replicate-padded image; memory H*W*k*k per channel, so keep
    k small). Both give the same values.

    Args:
        rgb: :math:`(H, W, C)` float image (any channel count).
        k: odd window size; ``k <= 1`` returns a float32 copy.

    Returns:
        :math:`(H, W, C)` float32.

    Raises:
        ConfigError: even ``k`` (no centred median window).

    Example:
        >>> import numpy as np
        >>> img = np.zeros((5, 5, 1), np.float32); img[2, 2] = 1.0   # a single hot pixel
        >>> float(median_filter(img, 3).max())
        0.0
    """
    check_shape(rgb, "H W C", "rgb")
    img = np.ascontiguousarray(rgb, dtype=np.float32)
    if k <= 1:
        return img.copy()
    if k % 2 == 0:
        raise ConfigError(f"median filter size must be odd, got {k}")
    if k in _CV_FLOAT_SIZES:
        planes = [cv2.medianBlur(np.ascontiguousarray(img[..., c]), k) for c in range(img.shape[2])]
        return np.stack(planes, axis=-1).astype(np.float32)
    r = k // 2
    padded = np.pad(img, ((r, r), (r, r), (0, 0)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(0, 1))
    return np.median(windows, axis=(-2, -1)).astype(np.float32)
