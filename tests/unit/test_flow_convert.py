from __future__ import annotations

import numpy as np
import pytest

from fav_core.errors import ShapeError
from fav_core.flow.convert import (
    blender_backward,
    blender_forward,
    blender_pixels_to_flows,
    blender_pixels_to_top_down,
    blender_to_nuke,
    blender_vector_from_flows,
    flow_to_nuke,
    flows_to_blender_pixels,
    nuke_to_flow,
    top_down_to_blender_pixels,
)


def _vector(h: int = 2, w: int = 3) -> np.ndarray:
    """(H, W, 4) with distinct exact values: X = 1xy, Y = 2xy, Z = 3xy, W = 4xy (decimal digits)."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([100 + 10 * y + x, 200 + 10 * y + x, 300 + 10 * y + x, 400 + 10 * y + x], -1).astype(
        np.float32
    )


class TestBlender:
    def test_verified_render(self) -> None:
        # hosts.md §A2: object moving +8 px right and +4 px up per frame -> X=Y=Z=W=(-8, -4).
        vec = np.array([[[-8.0, -4.0, -8.0, -4.0]]], np.float32)
        # in t-1 the point was 8 px left and 4 px *down* (y down) -> backward (-8, +4)
        assert blender_backward(vec).tolist() == [[[-8.0, 4.0]]]
        # in t+1 it will be 8 px right and 4 px up -> forward (+8, -4)
        assert blender_forward(vec).tolist() == [[[8.0, -4.0]]]

    def test_exact_mapping(self) -> None:
        vec = _vector()
        bwd, fwd = blender_backward(vec), blender_forward(vec)
        np.testing.assert_array_equal(bwd[..., 0], vec[..., 0])
        np.testing.assert_array_equal(bwd[..., 1], -vec[..., 1])
        np.testing.assert_array_equal(fwd[..., 0], -vec[..., 2])
        np.testing.assert_array_equal(fwd[..., 1], vec[..., 3])
        assert bwd.dtype == np.float32 and fwd.shape == (2, 3, 2)

    def test_round_trip(self) -> None:
        vec = _vector()
        back = blender_vector_from_flows(blender_backward(vec), blender_forward(vec))
        np.testing.assert_array_equal(back, vec)

    def test_pixel_buffer_rows_are_flipped(self) -> None:
        vec = _vector(h=3, w=2)  # top-down
        # Blender buffer: bottom row first, flat RGBA
        buffer = vec[::-1].reshape(-1).copy()
        np.testing.assert_array_equal(top_down_to_blender_pixels(vec), buffer)
        np.testing.assert_array_equal(blender_pixels_to_top_down(buffer, 2, 3), vec)
        bwd, fwd = blender_pixels_to_flows(buffer, width=2, height=3)
        # top-left pixel of the image = first pixel of the last buffer row
        assert bwd[0, 0].tolist() == [100.0, -200.0]
        assert fwd[0, 0].tolist() == [-300.0, 400.0]
        assert bwd[2, 1].tolist() == [121.0, -221.0]
        np.testing.assert_array_equal(flows_to_blender_pixels(bwd, fwd), buffer)

    def test_exception(self) -> None:
        with pytest.raises(ShapeError):
            blender_backward(np.zeros((2, 2, 3), np.float32))
        with pytest.raises(ShapeError, match="expected 2x3x4 = 24 values, got 23"):
            blender_pixels_to_top_down(np.zeros(23, np.float32), 2, 3)
        with pytest.raises(ShapeError, match="flow_to_next"):
            blender_vector_from_flows(np.zeros((2, 2, 2)), np.zeros((2, 3, 2)))


class TestNuke:
    def test_exact_mapping(self) -> None:
        u = np.array([[1.0, -2.0]], np.float32)
        v = np.array([[3.0, -4.0]], np.float32)
        assert nuke_to_flow(u, v).tolist() == [[[1.0, -3.0], [-2.0, 4.0]]]

    def test_round_trip(self) -> None:
        rng = np.random.default_rng(1)
        flow = rng.normal(size=(3, 4, 2)).astype(np.float32)
        u, v = flow_to_nuke(flow)
        np.testing.assert_array_equal(v, -flow[..., 1])
        np.testing.assert_array_equal(nuke_to_flow(u, v), flow)

    def test_blender_to_nuke_agrees(self) -> None:
        # hosts.md §B2: backward.u = X, backward.v = Y, forward.u = -Z, forward.v = -W; both routes must agree.
        vec = _vector()
        ch = blender_to_nuke(vec)
        assert ch["backward.u"][0, 0] == 100.0 and ch["backward.v"][0, 0] == 200.0
        assert ch["forward.u"][0, 0] == -300.0 and ch["forward.v"][0, 0] == -400.0
        np.testing.assert_array_equal(nuke_to_flow(ch["backward.u"], ch["backward.v"]), blender_backward(vec))
        np.testing.assert_array_equal(nuke_to_flow(ch["forward.u"], ch["forward.v"]), blender_forward(vec))

    def test_exception(self) -> None:
        with pytest.raises(ShapeError, match="v: expected"):
            nuke_to_flow(np.zeros((2, 2)), np.zeros((2, 3)))
