"""Backward warping with the reference GPU semantics (stnbdhw BilinearSamplerBDHW, algorithm.md §4.3)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from fav_core.errors import ShapeError, check_shape


def warp_backward(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Warp ``image`` (frame t-1) into frame t with the backward flow of frame t.

    ``out[b, :, y, x] = bilinear(image[b], x + dx[b, y, x], y + dy[b, y, x])`` where each of the four bilinear
    neighbours that falls outside the image contributes 0 (partial blend with 0 at the border; a sample more than
    one pixel outside gives exactly 0). This is the reference's GPU sampler, used in training and CUDA inference.

    Args:
        image: :math:`(B, C, H_{in}, W_{in})` float tensor, any device.
        flow: :math:`(B, 2, H, W)` float tensor in pixels on the same device; output size = flow size.

    Returns:
        :math:`(B, C, H, W)` tensor, dtype of ``image``. Differentiable w.r.t. image and flow.

    Raises:
        ShapeError: wrong ranks, channel count of ``flow`` not 2, or batch sizes differ.

    Convention:
        - image (B, C, H, W); flow (B, 2, H, W) in pixels, channel 0 = dx (right), 1 = dy (down)
        - backward flow: pixel (x, y) of frame t sits at (x + dx, y + dy) in frame t-1
        - pixel centres on integer coordinates, origin top-left; ``grid_sample(align_corners=True,
          padding_mode='zeros')`` on (x+dx, y+dy) normalised with (W-1), (H-1)

    Example:
        >>> img = torch.arange(12.0).reshape(1, 1, 3, 4)
        >>> flow = torch.zeros(1, 2, 3, 4); flow[:, 0] = 1.0
        >>> warp_backward(img, flow)[0, 0, 0].tolist()
        [1.0, 2.0, 3.0, 0.0]
    """
    img_sizes = check_shape(image, "B C Hi Wi", "image")
    flow_sizes = check_shape(flow, "B 2 H W", "flow")
    if img_sizes["B"] != flow_sizes["B"]:
        raise ShapeError(f"flow: batch {flow_sizes['B']} does not match image batch {img_sizes['B']}")
    if image.device != flow.device:
        raise ShapeError(f"flow: on {flow.device}, image on {image.device}")
    h_in, w_in = img_sizes["Hi"], img_sizes["Wi"]
    height, width = flow_sizes["H"], flow_sizes["W"]
    src = image
    offset = 0.0
    if h_in == 1 or w_in == 1:
        # (size - 1) would be 0: align_corners cannot express a 1-px axis. Pad every side with one zero
        # pixel (exactly what an outside neighbour contributes) and sample the padded image instead.
        src = F.pad(image, (1, 1, 1, 1))
        offset = 1.0
        h_in, w_in = h_in + 2, w_in + 2
    dtype = flow.dtype if flow.is_floating_point() else torch.float32
    ys = torch.arange(height, device=flow.device, dtype=dtype).view(1, height, 1)
    xs = torch.arange(width, device=flow.device, dtype=dtype).view(1, 1, width)
    gx = (xs + flow[:, 0].to(dtype) + offset) * (2.0 / (w_in - 1)) - 1.0
    gy = (ys + flow[:, 1].to(dtype) + offset) * (2.0 / (h_in - 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1).to(src.dtype)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def warp_backward_np(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Numpy front of :func:`warp_backward` (same semantics, CPU).

    Args:
        image: :math:`(H_{in}, W_{in}, C)` float array (frame t-1).
        flow: :math:`(H, W, 2)` backward flow of frame t in pixels.

    Returns:
        :math:`(H, W, C)` float32.

    Convention:
        - as :func:`warp_backward`; out-of-image neighbours contribute 0
    """
    check_shape(image, "Hi Wi C", "image")
    check_shape(flow, "H W 2", "flow")
    img_t = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
    flow_t = torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32)).permute(2, 0, 1)[None]
    out = warp_backward(img_t, flow_t)[0].permute(1, 2, 0)
    return np.ascontiguousarray(out.numpy(), dtype=np.float32)
