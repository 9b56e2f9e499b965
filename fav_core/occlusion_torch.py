"""Reliability maps on a torch device: the numpy functions of :mod:`fav_core.occlusion`, ported op for op.

Used by the stylizer's device path (:class:`fav_core.stylizer.Stylizer` on CUDA) so that the per-frame
consistency check, min filter, invert and fix run where the network runs instead of on the CPU.

Exactness against :mod:`fav_core.occlusion` (tested in ``tests/unit/test_occlusion_torch.py``):

* :func:`consistency_check_t` without an image, :func:`min_filter_t` and :func:`invert_t`: bit-identical on
  CPU, and on CUDA (the arithmetic repeats the numpy code's float32/float64 steps one op at a time: no fused
  multiply-adds, no TF32, no convolutions).
* :func:`structure_term_t`: S (0..2 px²) agrees with :func:`fav_core.occlusion.structure_term` to about 1e-5
  on natural (smooth) images (tested < 2e-5) and to a few 1e-4 on white noise (tested < 5e-4): its σ = 3
  Gaussian is the same OpenCV kernel, summed in float64 instead of OpenCV's float32 order, and the
  smallest-eigenvalue step (a difference of near-equal numbers, then min-max normalised) amplifies that
  float32 rounding -- the numpy S carries the same size of rounding error. So a check with an image can
  differ from the numpy one only at pixels whose consistency test is a near tie (``|lhs − rhs|`` below that).
* :func:`fix_occlusions_t`: identical on CPU (same warp); on CUDA ``grid_sample`` may round the coverage of
  an all-ones image differently, which can flip only pixels whose coverage is within float rounding of 0.5.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from fav_core.errors import ConfigError, ShapeError, check_shape
from fav_core.warp import warp_backward

__all__ = ["consistency_check_t", "fix_occlusions_t", "invert_t", "min_filter_t", "structure_term_t"]

_F32_0_002 = float(np.float32(0.002))
_STRUCTURE_SIGMA = 3.0
_STRUCTURE_KSIZE = 25  # what cv2.GaussianBlur picks for sigma 3 on float32: round(3 * 4 * 2 + 1) | 1


def _pad_edge_1(a: torch.Tensor, dim: int) -> torch.Tensor:
    """Pad one pixel on both sides of ``dim`` by repeating the edge pixel (numpy ``symmetric`` for 1 px)."""
    n = a.shape[dim]
    first = a.narrow(dim, 0, 1)
    last = a.narrow(dim, n - 1, 1)
    return torch.cat([first, a, last], dim=dim)


def _derivatives(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Centred [-0.5, 0, 0.5] derivatives of (B, C, H, W) along x and y, edge pixel repeated at the borders."""
    w, h = a.shape[-1], a.shape[-2]
    px = _pad_edge_1(a, 3)
    py = _pad_edge_1(a, 2)
    dx = -0.5 * px[..., : w] + 0.5 * px[..., 2 : w + 2]
    dy = -0.5 * py[..., : h, :] + 0.5 * py[..., 2 : h + 2, :]
    return dx, dy


def _channel_sum(a: torch.Tensor) -> torch.Tensor:
    """Sum over dim 1 of (B, C, H, W) in channel order ((a0 + a1) + a2 ...), as numpy's inner-axis sum."""
    out = a[:, 0]
    for c in range(1, a.shape[1]):
        out = out + a[:, c]
    return out


def _reflect_index(n: int, radius: int, device: torch.device) -> torch.Tensor:
    """Indices of an axis of length n padded by ``radius`` with OpenCV's BORDER_REFLECT (edge repeated)."""
    p = torch.arange(-radius, n + radius, device=device)
    if n == 1:
        return torch.zeros_like(p)
    p = torch.remainder(p, 2 * n)
    return torch.where(p >= n, 2 * n - 1 - p, p)


def _gaussian_blur(a: torch.Tensor) -> torch.Tensor:
    """cv2.GaussianBlur(sigma 3, BORDER_REFLECT) of every channel of (B, K, H, W) float32.

    OpenCV's float32 kernel, applied as two depthwise 25-tap convolutions in float64 (two kernels on a GPU, no
    TF32 whatever the process settings are), rounded to float32: within float32 rounding of OpenCV's result.
    """
    kernel = cv2.getGaussianKernel(_STRUCTURE_KSIZE, _STRUCTURE_SIGMA, ktype=cv2.CV_32F)[:, 0]
    taps = torch.from_numpy(kernel.astype(np.float64)).to(a.device)
    r = _STRUCTURE_KSIZE // 2
    k = a.shape[1]
    h, w = a.shape[-2], a.shape[-1]
    x = a.double().index_select(3, _reflect_index(w, r, a.device)).index_select(2, _reflect_index(h, r, a.device))
    x = F.conv2d(x, taps.view(1, 1, 1, -1).expand(k, 1, 1, _STRUCTURE_KSIZE).contiguous(), groups=k)
    x = F.conv2d(x, taps.view(1, 1, -1, 1).expand(k, 1, _STRUCTURE_KSIZE, 1).contiguous(), groups=k)
    return x.float()


def structure_term_t(image: torch.Tensor) -> torch.Tensor:
    """Tolerance S(a) of the consistency check in textureless regions (:func:`fav_core.occlusion.structure_term`).

    Args:
        image: :math:`(B, C, H, W)` float, values on the 0..255 scale.

    Returns:
        :math:`(B, H, W)` float32 S in 0..2 px² (0 for a flat image).

    Raises:
        ShapeError: ``image`` is not 4-D.
    """
    check_shape(image, "B C H W", "image")
    img = image.float()
    dx, dy = _derivatives(img)
    tensor = torch.stack([_channel_sum(dx * dx), _channel_sum(dy * dy), _channel_sum(dx * dy)], dim=1)
    dxx, dyy, dxy = _gaussian_blur(tensor).unbind(1)
    temp = 0.5 * (dxx + dyy)
    temp2 = temp * temp + dxy * dxy - dxx * dyy
    smallest = torch.where(temp2 < 0, torch.zeros_like(temp), temp - torch.sqrt(torch.clamp(temp2, min=0)))
    flat = smallest.flatten(1)
    lo = flat.amin(dim=1).view(-1, 1, 1)
    hi = flat.amax(dim=1).view(-1, 1, 1)
    span = (hi.double() - lo.double()).float()
    s = (smallest - lo) / torch.where(span > 0, span, torch.ones_like(span))
    m = s.flatten(1).double().mean(dim=1).float().view(-1, 1, 1)
    safe_m = torch.where(m > 0, m, torch.ones_like(m))
    term = (4.0 / safe_m) * torch.clamp(m / 2.0 - s, min=0)
    keep = (hi > lo) & (m > 0)
    return torch.where(keep, term, torch.zeros_like(term))


def _motion_edge(flow: torch.Tensor) -> torch.Tensor:
    dx, dy = _derivatives(flow)
    return _channel_sum(dx * dx) + _channel_sum(dy * dy)


def consistency_check_t(
    flow_bwd: torch.Tensor,
    flow_fwd: torch.Tensor,
    image: torch.Tensor | None = None,
    *,
    motion_boundaries: bool = False,
) -> torch.Tensor:
    """Forward-backward consistency check (:func:`fav_core.occlusion.consistency_check`) on tensors.

    Same rule: a pixel a of frame t is unreliable if b = a + w(a) leaves the frame (floor(b.x) < 0 or
    floor(b.x) + 1 >= W, same for y), or if ``|w + ŵ(b)|² >= 0.01 (|w|² + |ŵ(b)|²) + 0.5 + S(a)`` with ŵ the
    bilinear sample of ``flow_fwd`` at b; NaN/Inf flow gives 0.

    Args:
        flow_bwd: :math:`(B, 2, H, W)` backward flow of frame t (t -> t-1), w.
        flow_fwd: :math:`(B, 2, H, W)` forward flow of frame t-1 (t-1 -> t), ŵ, same device.
        image: optional :math:`(B, C, H, W)` frame t on the 0..255 scale (structure term on).
        motion_boundaries: also mark motion boundaries of ``flow_bwd`` unreliable.

    Returns:
        :math:`(B, 1, H, W)` float32 in {0, 1}, 1 = reliable, on the flows' device.

    Raises:
        ShapeError: shapes or devices do not match.

    Convention:
        - flows (B, 2, H, W) in pixels, channel 0 = dx (right), 1 = dy (down), pixel centres on integers
        - float32 positions and flows, float64 blends and comparison, in the numpy code's order of operations
    """
    sizes = check_shape(flow_bwd, "B 2 H W", "flow_bwd")
    if check_shape(flow_fwd, "B 2 H W", "flow_fwd") != sizes:
        raise ShapeError(f"flow_fwd: expected {tuple(flow_bwd.shape)}, got {tuple(flow_fwd.shape)}")
    if flow_fwd.device != flow_bwd.device:
        raise ShapeError(f"flow_fwd: on {flow_fwd.device}, flow_bwd on {flow_bwd.device}")
    batch, height, width = sizes["B"], sizes["H"], sizes["W"]
    dev = flow_bwd.device
    s_term: torch.Tensor | None = None
    if image is not None:
        img_sizes = check_shape(image, "B C H W", "image")
        if (img_sizes["B"], img_sizes["H"], img_sizes["W"]) != (batch, height, width):
            raise ShapeError(f"image: expected ({batch}, C, {height}, {width}), got {tuple(image.shape)}")
        s_term = structure_term_t(image.to(dev))
    w = flow_bwd.float()
    f2 = flow_fwd.float()
    u2, v2 = w[:, 0], w[:, 1]
    axf = torch.arange(width, device=dev, dtype=torch.float32).view(1, 1, width)
    ayf = torch.arange(height, device=dev, dtype=torch.float32).view(1, height, 1)
    bx = axf + u2
    by = ayf + v2
    finite = torch.isfinite(bx) & torch.isfinite(by)
    minus_one = torch.full_like(bx, -1.0)
    x1 = torch.floor(torch.where(finite, bx, minus_one))
    y1 = torch.floor(torch.where(finite, by, minus_one))
    inside = finite & (x1 >= 0) & (x1 + 1 < width) & (y1 >= 0) & (y1 + 1 < height)
    xi = torch.clamp(x1, 0, max(width - 2, 0)).long()
    yi = torch.clamp(y1, 0, max(height - 2, 0)).long()
    xj = torch.clamp(xi + 1, max=width - 1)
    yj = torch.clamp(yi + 1, max=height - 1)
    zero = torch.zeros_like(bx)
    alpha_x = torch.where(inside, bx - x1, zero).double()
    alpha_y = torch.where(inside, by - y1, zero).double()
    base = torch.arange(batch, device=dev).view(batch, 1, 1) * (height * width)
    i00, i01 = base + yi * width + xi, base + yi * width + xj
    i10, i11 = base + yj * width + xi, base + yj * width + xj

    def interp(c: int) -> torch.Tensor:
        f = f2[:, c].reshape(-1).double()
        top = ((1.0 - alpha_x) * f[i00] + alpha_x * f[i01]).float().double()
        bot = ((1.0 - alpha_x) * f[i10] + alpha_x * f[i11]).float().double()
        return ((1.0 - alpha_y) * top + alpha_y * bot).float()

    u, v = interp(0), interp(1)
    cx = torch.where(inside, bx, zero) + u
    cy = torch.where(inside, by, zero) + v
    ex, ey = cx - axf, cy - ayf
    lhs = (ex * ex + ey * ey).double()
    mags = (u2 * u2 + v2 * v2 + u * u + v * v).double()
    rhs = 0.01 * mags + 0.5 if s_term is None else 0.01 * mags + s_term.double() + 0.5
    reliable = inside & ~(lhs >= rhs) & torch.isfinite(lhs) & torch.isfinite(rhs)
    if motion_boundaries:
        edge = _motion_edge(torch.where(finite[:, None], w, torch.zeros_like(w))).double()
        limit = 0.01 * (u2 * u2 + v2 * v2).double() + _F32_0_002
        reliable = reliable & ~(edge > limit)
    return reliable.float()[:, None]


def min_filter_t(mask: torch.Tensor, k: int = 7) -> torch.Tensor:
    """k×k grey-scale erosion (:func:`fav_core.occlusion.min_filter`): ``-maxpool(-m)``, padding ignored.

    Args:
        mask: :math:`(B, 1, H, W)` float in [0, 1].
        k: odd window size; ``k <= 1`` returns a copy.

    Returns:
        :math:`(B, 1, H, W)` float32 (a new tensor).

    Raises:
        ConfigError: even ``k``.
        ShapeError: ``mask`` is not (B, 1, H, W).
    """
    check_shape(mask, "B 1 H W", "mask")
    m = mask.float()
    if k <= 1:
        return m.clone()
    if k % 2 == 0:
        raise ConfigError(f"occlusion min filter size must be odd, got {k}")
    # max_pool2d pads with -inf: padded cells never win, exactly like cv2.erode's default border.
    return -F.max_pool2d(-m, kernel_size=k, stride=1, padding=k // 2)


def invert_t(mask: torch.Tensor) -> torch.Tensor:
    """``1 - mask`` as float32 (white = occluded maps, e.g. Sintel ground truth)."""
    return 1.0 - mask.float()


def fix_occlusions_t(mask: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Zero the mask where the backward flow leaves the frame (:func:`fav_core.occlusion.fix_occlusions`).

    Args:
        mask: :math:`(B, 1, H, W)` reliability.
        flow: :math:`(B, 2, H, W)` backward flow of the same frame, same device.

    Returns:
        :math:`(B, 1, H, W)` float32 (a new tensor).

    Raises:
        ShapeError: shapes do not match.

    Convention:
        - coverage = :func:`fav_core.warp.warp_backward` of an all-ones image (out-of-image neighbours = 0);
          pixels with coverage < 0.5 become 0
    """
    sizes = check_shape(mask, "B 1 H W", "mask")
    if check_shape(flow, "B 2 H W", "flow") != sizes:
        raise ShapeError(f"flow: expected ({sizes['B']}, 2, {sizes['H']}, {sizes['W']}), got {tuple(flow.shape)}")
    ones = torch.ones_like(mask, dtype=torch.float32)
    coverage = warp_backward(ones, flow.float())
    return torch.where(coverage < 0.5, torch.zeros_like(coverage), mask.float())
