from __future__ import annotations

import numpy as np
import pytest
import torch

from fav_core.errors import ShapeError
from fav_core.warp import warp_backward, warp_backward_np


def _ramp(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """3x4 ramp 0..11 as (1, 1, 3, 4)."""
    return torch.arange(12, dtype=dtype).reshape(1, 1, 3, 4)


def _const_flow(
    dx: float, dy: float, h: int = 3, w: int = 4, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    flow = torch.zeros(1, 2, h, w, dtype=dtype)
    flow[:, 0] = dx
    flow[:, 1] = dy
    return flow


class TestWarpBackward:
    def test_smoke(self) -> None:
        out = warp_backward(torch.rand(2, 3, 5, 6), torch.zeros(2, 2, 5, 6))
        assert out.shape == (2, 3, 5, 6)

    @pytest.mark.parametrize(("b", "c", "h", "w"), [(1, 1, 3, 4), (2, 3, 5, 7), (1, 7, 8, 8)])
    def test_identity(self, b: int, c: int, h: int, w: int) -> None:
        img = torch.rand(b, c, h, w)
        torch.testing.assert_close(warp_backward(img, torch.zeros(b, 2, h, w)), img)

    def test_shift_right_one_pixel(self) -> None:
        # dx = +1: output(x) = input(x + 1); the last column samples x = 4 (outside) -> exactly 0.
        expected = torch.tensor([[1.0, 2.0, 3.0, 0.0], [5.0, 6.0, 7.0, 0.0], [9.0, 10.0, 11.0, 0.0]])
        torch.testing.assert_close(warp_backward(_ramp(), _const_flow(1.0, 0.0))[0, 0], expected)

    def test_shift_down_one_pixel(self) -> None:
        # dy = -1: output(y) = input(y - 1); first row outside -> 0.
        expected = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]])
        torch.testing.assert_close(warp_backward(_ramp(), _const_flow(0.0, -1.0))[0, 0], expected)

    def test_half_pixel_is_exact_average(self) -> None:
        out = warp_backward(_ramp(torch.float64), _const_flow(0.5, 0.0, dtype=torch.float64))[0, 0]
        # interior: mean of the two neighbours; last column: half of the pixel, half of the zero outside
        expected = torch.tensor(
            [[0.5, 1.5, 2.5, 1.5], [4.5, 5.5, 6.5, 3.5], [8.5, 9.5, 10.5, 5.5]], dtype=torch.float64
        )
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)

    def test_fractional_border_blends_with_zero(self) -> None:
        # dx = -0.25: column 0 samples x = -0.25 -> 0.75 * img[0] + 0.25 * 0 (the GPU path's per-corner rule,
        # not the CPU path's hard cut-off to 0).
        out = warp_backward(_ramp(torch.float64), _const_flow(-0.25, 0.0, dtype=torch.float64))[0, 0]
        expected = torch.tensor(
            [[0.0, 0.75, 1.75, 2.75], [3.0, 4.75, 5.75, 6.75], [6.0, 8.75, 9.75, 10.75]], dtype=torch.float64
        )
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)

    def test_far_outside_is_zero(self) -> None:
        out = warp_backward(_ramp(), _const_flow(10.0, -7.5))
        assert torch.count_nonzero(out) == 0

    @pytest.mark.parametrize(("h", "w"), [(1, 4), (3, 1), (1, 1)])
    def test_degenerate_axis(self, h: int, w: int) -> None:
        img = torch.arange(1, h * w + 1, dtype=torch.float64).reshape(1, 1, h, w)
        torch.testing.assert_close(warp_backward(img, torch.zeros(1, 2, h, w, dtype=torch.float64)), img)
        # a 0.25 px shift along a 1-px axis: 0.75 of the pixel + 0.25 of the zero outside
        flow = torch.zeros(1, 2, h, w, dtype=torch.float64)
        flow[:, 0 if w == 1 else 1] = 0.25
        torch.testing.assert_close(warp_backward(img, flow), 0.75 * img, rtol=0, atol=1e-12)

    def test_output_size_follows_flow(self) -> None:
        out = warp_backward(_ramp(), torch.zeros(1, 2, 2, 2))
        torch.testing.assert_close(out[0, 0], torch.tensor([[0.0, 1.0], [4.0, 5.0]]))

    def test_does_not_modify_inputs(self) -> None:
        img, flow = _ramp(), _const_flow(0.5, 0.5)
        img0, flow0 = img.clone(), flow.clone()
        warp_backward(img, flow)
        assert torch.equal(img, img0) and torch.equal(flow, flow0)

    def test_exception(self) -> None:
        with pytest.raises(ShapeError, match="flow"):
            warp_backward(torch.zeros(1, 1, 3, 4), torch.zeros(1, 3, 3, 4))
        with pytest.raises(ShapeError, match="image"):
            warp_backward(torch.zeros(1, 3, 4), torch.zeros(1, 2, 3, 4))
        with pytest.raises(ShapeError, match="batch"):
            warp_backward(torch.zeros(2, 1, 3, 4), torch.zeros(1, 2, 3, 4))

    def test_gradcheck(self) -> None:
        img = torch.rand(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
        # keep sample points away from integer coordinates (bilinear is not differentiable there)
        flow = torch.full((1, 2, 4, 5), 0.3, dtype=torch.float64) + 0.1 * torch.rand(
            1, 2, 4, 5, dtype=torch.float64
        )
        flow.requires_grad_(True)
        assert torch.autograd.gradcheck(warp_backward, (img, flow), eps=1e-6, atol=1e-5)

    @pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
    @pytest.mark.gpu
    def test_cuda_matches_cpu(self) -> None:
        img, flow = torch.rand(2, 3, 9, 11), 3 * torch.randn(2, 2, 9, 11)
        out = warp_backward(img.cuda(), flow.cuda())
        assert out.is_cuda
        torch.testing.assert_close(out.cpu(), warp_backward(img, flow), rtol=1e-5, atol=1e-5)


class TestWarpBackwardNp:
    def test_shift(self) -> None:
        img = np.arange(12, dtype=np.float32).reshape(3, 4, 1)
        flow = np.zeros((3, 4, 2), np.float32)
        flow[..., 0] = 1.0
        out = warp_backward_np(img, flow)
        assert out.shape == (3, 4, 1) and out.dtype == np.float32
        np.testing.assert_allclose(out[..., 0], [[1, 2, 3, 0], [5, 6, 7, 0], [9, 10, 11, 0]], atol=1e-5)

    def test_exception(self) -> None:
        with pytest.raises(ShapeError):
            warp_backward_np(np.zeros((3, 4), np.float32), np.zeros((3, 4, 2), np.float32))
