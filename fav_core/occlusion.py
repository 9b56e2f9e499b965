"""Reliability (occlusion) maps: the reference forward-backward consistency check and its post-processing.

``consistency_check`` is a vectorised port of consistencyChecker/consistencyChecker.cpp (algorithm.md §5.1);
``min_filter``, ``invert`` and ``fix_occlusions`` are the use-time steps of §5.3. PGM I/O lives in
:mod:`fav_core.pgm` and is re-exported here.
"""

from __future__ import annotations

import cv2
import numpy as np

from fav_core.errors import ConfigError, ShapeError, check_shape
from fav_core.pgm import read_pgm, write_pgm
from fav_core.warp import warp_backward_np

__all__ = [
    "consistency_check",
    "fix_occlusions",
    "invert",
    "min_filter",
    "read_pgm",
    "structure_term",
    "write_pgm",
]

_F32_0_002 = float(np.float32(0.002))  # the C++ literal 0.002f, promoted to double in the comparison
_STRUCTURE_SIGMA = 3.0


def _derivatives(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centred [-0.5, 0, 0.5] derivatives along x and y of (H, W, C), mirrored borders (edge pixel repeated).

    Brox's ``NFilter::filter`` mirrors index -1 to 0 and W to W-1 (OpenCV ``BORDER_REFLECT``).
    """
    px = np.pad(a, ((0, 0), (1, 1), (0, 0)), mode="symmetric")
    py = np.pad(a, ((1, 1), (0, 0), (0, 0)), mode="symmetric")
    dx = np.float32(-0.5) * px[:, :-2] + np.float32(0.5) * px[:, 2:]
    dy = np.float32(-0.5) * py[:-2] + np.float32(0.5) * py[2:]
    return dx.astype(np.float32), dy.astype(np.float32)


def structure_term(image: np.ndarray) -> np.ndarray:
    """Tolerance S(a) added in textureless regions (``computeCorners`` + the term in ``checkConsistency``).

    Structure tensor of the image (values 0..255; 3-tap derivatives, products summed over channels), each
    component smoothed with a Gaussian of sigma 3, smallest eigenvalue, min-max normalised to [0, 1] -> s; with
    m = mean(s): ``S = (4 / m) * max(0, m / 2 - s)`` (0 .. 2 px^2).

    Args:
        image: :math:`(H, W)` or :math:`(H, W, C)` float, 0..255 scale.

    Returns:
        :math:`(H, W)` float32 S.

    Note:
        The reference smooths with Brox's recursive (Deriche-type) Gaussian approximation; ``cv2.GaussianBlur``
        (sigma 3, kernel 25, mirrored border) is used here as a stand-in, so S differs slightly (not bit-exact).
        For a flat image (all eigenvalues equal) the reference divides by a zero mean (NaN term, every in-frame
        pixel passes); we return S = 0 instead.
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 2:
        img = img[..., None]
    check_shape(img, "H W C", "image")
    dx, dy = _derivatives(img)
    blur = {
        "ksize": (0, 0),
        "sigmaX": _STRUCTURE_SIGMA,
        "sigmaY": _STRUCTURE_SIGMA,
        "borderType": cv2.BORDER_REFLECT,
    }
    dxx = cv2.GaussianBlur((dx * dx).sum(axis=2, dtype=np.float32), **blur)
    dyy = cv2.GaussianBlur((dy * dy).sum(axis=2, dtype=np.float32), **blur)
    dxy = cv2.GaussianBlur((dx * dy).sum(axis=2, dtype=np.float32), **blur)
    temp = np.float32(0.5) * (dxx + dyy)
    temp2 = temp * temp + dxy * dxy - dxx * dyy
    smallest = np.where(temp2 < 0, np.float32(0), temp - np.sqrt(np.maximum(temp2, 0))).astype(np.float32)
    lo, hi = float(smallest.min()), float(smallest.max())
    if hi <= lo:
        return np.zeros(smallest.shape, np.float32)
    s = ((smallest - np.float32(lo)) / np.float32(hi - lo)).astype(np.float32)
    m = np.float32(s.mean(dtype=np.float64))
    if m <= 0:
        return np.zeros(s.shape, np.float32)
    return (np.float32(4.0) / m * np.maximum(np.float32(0), m / np.float32(2) - s)).astype(np.float32)


def _motion_edge(flow: np.ndarray) -> np.ndarray:
    dx, dy = _derivatives(flow)
    return (dx * dx).sum(axis=2, dtype=np.float32) + (dy * dy).sum(axis=2, dtype=np.float32)


def consistency_check(
    flow_bwd: np.ndarray,
    flow_fwd: np.ndarray,
    image: np.ndarray | None = None,
    *,
    motion_boundaries: bool = False,
) -> np.ndarray:
    """Forward-backward consistency check of the reference (consistencyChecker.cpp, algorithm.md §5.1).

    For every pixel a of frame t: b = a + w(a) with w = ``flow_bwd``; a is unreliable if b lies outside the
    frame by the reference rule (floor(b.x) < 0, floor(b.x) + 1 >= W, same for y -- so the last column/row count
    as outside too), or if, with ŵ(b) = bilinear sample of ``flow_fwd`` at b,
    ``|w + ŵ|² >= 0.01 (|w|² + |ŵ|²) + 0.5 + S(a)``, S = :func:`structure_term` of ``image`` (0 when no image).
    The motion-boundary test (``|∇u|² + |∇v|² > 0.01 |w|² + 0.002`` on ``flow_bwd``) marks 0 only when
    ``motion_boundaries=True``; the reference sets such pixels to 255 (i.e. it is off, the default here).

    Args:
        flow_bwd: :math:`(H, W, 2)` backward flow of frame t (t -> t-1), w.
        flow_fwd: :math:`(H, W, 2)` forward flow of frame t-1 (t-1 -> t), ŵ.
        image: optional :math:`(H, W)` / :math:`(H, W, C)` frame t on the 0..255 scale (structure term on).
        motion_boundaries: also mark motion boundaries unreliable (as the optimisation-based predecessor did).

    Returns:
        :math:`(H, W)` float32 in {0, 1}, 1 = reliable. Pixels whose flow is NaN/Inf get 0.

    Raises:
        ShapeError: shapes do not match.

    Convention:
        - flows (H, W, 2) pixels, channel 0 = dx, 1 = dy, pixel centres on integers, origin top-left
        - arithmetic follows the C++ (float32 positions/flows, double-precision comparison); vectorised, no loops

    Example:
        >>> import numpy as np
        >>> w = np.zeros((4, 5, 2), np.float32); w[..., 0] = 1.0   # frame t-1 content moved 1 px left
        >>> consistency_check(w, -w)[0].tolist()
        [1.0, 1.0, 1.0, 0.0, 0.0]
    """
    sizes = check_shape(flow_bwd, "H W 2", "flow_bwd")
    if check_shape(flow_fwd, "H W 2", "flow_fwd") != sizes:
        raise ShapeError(f"flow_fwd: expected {tuple(flow_bwd.shape)}, got {tuple(flow_fwd.shape)}")
    height, width = sizes["H"], sizes["W"]
    w = np.asarray(flow_bwd, dtype=np.float32)
    f2 = np.asarray(flow_fwd, dtype=np.float32)
    s_term: np.ndarray | None = None
    if image is not None:
        img_sizes = check_shape(
            np.asarray(image)[..., None] if np.ndim(image) == 2 else image, "H W C", "image"
        )
        if (img_sizes["H"], img_sizes["W"]) != (height, width):
            raise ShapeError(f"image: expected {height}x{width} pixels, got {tuple(np.shape(image))}")
        s_term = structure_term(image)

    ay, ax = np.mgrid[0:height, 0:width]
    axf, ayf = ax.astype(np.float32), ay.astype(np.float32)
    u2, v2 = w[..., 0], w[..., 1]
    bx = axf + u2
    by = ayf + v2
    finite = np.isfinite(bx) & np.isfinite(by)
    x1 = np.floor(np.where(finite, bx, -1.0))
    y1 = np.floor(np.where(finite, by, -1.0))
    inside = finite & (x1 >= 0) & (x1 + 1 < width) & (y1 >= 0) & (y1 + 1 < height)
    # Safe indices everywhere (outside pixels are discarded by `inside`).
    xi = np.clip(x1, 0, max(width - 2, 0)).astype(np.intp)
    yi = np.clip(y1, 0, max(height - 2, 0)).astype(np.intp)
    xj = np.minimum(xi + 1, width - 1)
    yj = np.minimum(yi + 1, height - 1)
    alpha_x = np.where(inside, bx - x1.astype(np.float32), 0).astype(np.float32).astype(np.float64)
    alpha_y = np.where(inside, by - y1.astype(np.float32), 0).astype(np.float32).astype(np.float64)

    def interp(c: int) -> np.ndarray:
        f = f2[..., c].astype(np.float64)
        top = ((1.0 - alpha_x) * f[yi, xi] + alpha_x * f[yi, xj]).astype(np.float32).astype(np.float64)
        bot = ((1.0 - alpha_x) * f[yj, xi] + alpha_x * f[yj, xj]).astype(np.float32).astype(np.float64)
        return ((1.0 - alpha_y) * top + alpha_y * bot).astype(np.float32)

    u, v = interp(0), interp(1)
    cx = np.where(inside, bx, 0).astype(np.float32) + u
    cy = np.where(inside, by, 0).astype(np.float32) + v
    ex, ey = cx - axf, cy - ayf
    lhs = (ex * ex + ey * ey).astype(np.float64)
    mags = (u2 * u2 + v2 * v2 + u * u + v * v).astype(np.float64)
    rhs = 0.01 * mags + 0.5
    if s_term is not None:
        rhs = 0.01 * mags + s_term.astype(np.float64) + 0.5
    with np.errstate(invalid="ignore"):
        reliable = inside & ~(lhs >= rhs) & np.isfinite(lhs) & np.isfinite(rhs)
        if motion_boundaries:
            edge = _motion_edge(np.where(finite[..., None], w, 0).astype(np.float32)).astype(np.float64)
            limit = 0.01 * (u2 * u2 + v2 * v2).astype(np.float64) + _F32_0_002
            reliable &= ~(edge > limit)
    return reliable.astype(np.float32)


def min_filter(mask: np.ndarray, k: int = 7) -> np.ndarray:
    """Grey-scale erosion with a k x k window (reference ``min_filter``, algorithm.md §5.3).

    Equals ``1 - maxpool(1 - m)`` with stride 1 and padding k // 2 whose padded cells are ignored, so the frame
    border does not erode. Shrinks reliable regions by k // 2 px (Chebyshev) around every unreliable pixel.

    Args:
        mask: :math:`(H, W)` float in [0, 1].
        k: odd window size; ``k <= 1`` returns a copy.

    Returns:
        :math:`(H, W)` float32.

    Raises:
        ConfigError: even ``k`` (the reference's maxpool would change the size).
    """
    check_shape(mask, "H W", "mask")
    m = np.ascontiguousarray(mask, dtype=np.float32)
    if k <= 1:
        return m.copy()
    if k % 2 == 0:
        raise ConfigError(f"occlusion min filter size must be odd, got {k}")
    kernel = np.ones((k, k), np.uint8)
    # OpenCV's default border for erode is a constant +inf (morphologyDefaultBorderValue): padded cells never
    # win the minimum, exactly like the ignored padding of the reference maxpool.
    return cv2.erode(m, kernel)


def invert(mask: np.ndarray) -> np.ndarray:
    """``1 - mask`` as float32 (for ground-truth maps where white = occluded, e.g. Sintel)."""
    check_shape(mask, "H W", "mask")
    return (np.float32(1.0) - np.asarray(mask, dtype=np.float32)).astype(np.float32)


def fix_occlusions(mask: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Mark pixels whose backward flow leaves the frame (reference ``fix_occlusions``, algorithm.md §5.3).

    Warps an all-ones image with ``flow`` (:func:`fav_core.warp.warp_backward_np`, out-of-image neighbours = 0)
    and sets the mask to 0 where the result is below 0.5 -- a workaround for incomplete ground-truth occlusions.

    Args:
        mask: :math:`(H, W)` reliability.
        flow: :math:`(H, W, 2)` backward flow of the same frame.

    Returns:
        :math:`(H, W)` float32 (a new array).
    """
    sizes = check_shape(mask, "H W", "mask")
    if check_shape(flow, "H W 2", "flow") != sizes:
        raise ShapeError(f"flow: expected ({sizes['H']}, {sizes['W']}, 2), got {tuple(flow.shape)}")
    ones = np.ones((sizes["H"], sizes["W"], 1), np.float32)
    coverage = warp_backward_np(ones, flow)[..., 0]
    return np.where(coverage < 0.5, np.float32(0), np.asarray(mask, dtype=np.float32)).astype(np.float32)
