"""Synthetic training sources (algorithm.md §10.3): exact shift flow, mask quirk, zoom_out, schedule, data mix."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from fav_core.errors import ConfigError
from fav_core.warp import warp_backward
from training.config import parse_data_mix, parse_steps, steps_for_iteration
from training.sources import (
    SourceWheel,
    draw_shift,
    make_shift,
    make_single_image,
    make_zoom_out,
    resize_bilinear,
    shift_mask,
)


def _images(batch: int = 2, height: int = 20, width: int = 28) -> torch.Tensor:
    return torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(3)) * 255 - 120


@pytest.mark.parametrize("dx,dy", [(3, -2), (-5, 4), (0, 7), (15, -16), (-16, 0)])
@pytest.mark.parametrize("steps", [1, 3])
def test_shift_flow_warps_frame_s_onto_frame_s_plus_1(dx: int, dy: int, steps: int) -> None:
    sample = make_shift(_images(), steps, (24, 28), dx, dy)
    assert sample.steps == steps and len(sample.frames) == steps + 1
    for s in range(steps):
        assert torch.all(sample.flows[s][:, 0] == dx) and torch.all(sample.flows[s][:, 1] == dy)
        warped = warp_backward(sample.frames[s], sample.flows[s])
        mask = sample.masks[s].expand_as(warped) > 0.5
        assert mask.any()
        torch.testing.assert_close(warped[mask], sample.frames[s + 1][mask], rtol=0, atol=1e-3)  # float32 grid_sample, 0..255 scale


def test_shift_mask_zeroes_dx_plus_one_columns_for_positive_dx() -> None:
    mask = shift_mask(6, 10, 3, 0)[0, 0]
    assert mask[:, :6].eq(1).all() and mask[:, 6:].eq(0).all()  # 4 = dx + 1 columns (reference quirk)
    mask = shift_mask(6, 10, -3, 0)[0, 0]
    assert mask[:, :3].eq(0).all() and mask[:, 3:].eq(1).all()
    mask = shift_mask(6, 10, 0, 2)[0, 0]
    assert mask[3:].eq(0).all() and mask[:3].eq(1).all()
    mask = shift_mask(6, 10, 0, -2)[0, 0]
    assert mask[:2].eq(0).all() and mask[2:].eq(1).all()
    assert shift_mask(4, 4, 0, 0).eq(1).all()


def test_single_image_has_zero_first_frame_zero_flow_and_empty_mask() -> None:
    sample = make_single_image(_images(), (12, 16))
    assert sample.zero_first and sample.steps == 1
    assert sample.frames[0].eq(0).all() and sample.frames[1].shape == (2, 3, 12, 16)
    assert sample.flows[0].eq(0).all() and sample.masks[0].eq(0).all()


def test_zoom_out_frames_flow_ramp_and_last_frame_is_plain_crop() -> None:
    images = _images(height=20, width=24)
    sample = make_zoom_out(images, 2, (16, 20), 4, -3)
    torch.testing.assert_close(sample.frames[-1], images[:, :, :16, :20])  # last frame: full-size crop
    flow = sample.flows[0]
    assert flow[0, 0, 0, 0] == 0 and flow[0, 0, 0, -1] == 4  # x from -max(-dx,0) to max(dx,0)
    assert flow[0, 1, 0, 0] == -3 and flow[0, 1, -1, 0] == 0  # y from -max(-dy,0) to max(dy,0)
    assert all(f.shape == (2, 3, 16, 20) for f in sample.frames)
    with pytest.raises(ConfigError):
        make_zoom_out(_images(height=10, width=10), 1, (16, 20), 1, 1)


def test_resize_is_align_corners_bilinear_without_antialias() -> None:
    x = torch.tensor([[[[0.0, 10.0, 20.0, 30.0, 40.0]]]])
    out = resize_bilinear(x, (1, 3))
    assert out.flatten().tolist() == [0.0, 20.0, 40.0]  # corners kept, no averaging


def test_draw_shift_covers_exactly_minus16_to_15() -> None:
    generator = torch.Generator().manual_seed(0)
    values = Counter(v for _ in range(3000) for v in draw_shift(generator))
    assert min(values) == -16 and max(values) == 15 and len(values) == 32


def test_schedule_uses_the_last_entry_strictly_below_the_iteration() -> None:
    schedule = parse_steps("0:1,50000:2,60000:4")
    assert [steps_for_iteration(schedule, i) for i in (1, 50000, 50001, 60000, 60001)] == [1, 1, 2, 2, 4]
    assert steps_for_iteration(parse_steps("5:3"), 5) == 1 and steps_for_iteration(parse_steps("5:3"), 6) == 3
    with pytest.raises(ConfigError):
        parse_steps("10:2,5:3")


def test_data_mix_proportions_follow_the_weights() -> None:
    wheel = SourceWheel(parse_data_mix("shift:1,zoom_out:1,video:3"))
    generator = torch.Generator().manual_seed(1)
    counts = Counter(wheel.pick(generator) for _ in range(5000))
    assert abs(counts["video"] / 5000 - 0.6) < 0.03
    assert abs(counts["shift"] / 5000 - 0.2) < 0.03 and abs(counts["zoom_out"] / 5000 - 0.2) < 0.03
    with pytest.raises(ConfigError):
        parse_data_mix("shift:1,teleport:2")


@pytest.mark.parametrize("side", ["left", "right", "top", "bottom"])
def test_vr_strip_warps_onto_the_matching_border_of_frame_2(side: str) -> None:
    from training.sources import make_vr

    ys, xs = torch.meshgrid(torch.linspace(0, 1, 96), torch.linspace(0, 1, 96), indexing="ij")
    smooth = torch.stack([torch.sin(19 * xs + 3 * ys), torch.cos(17 * ys - 2 * xs), torch.sin(15 * (xs + ys))])
    sample = make_vr(smooth[None] * 100.0, side)
    strip_shape = (1, 3, 256, 64) if side in ("left", "right") else (1, 3, 64, 256)
    assert sample.steps == 1 and sample.frames[0].shape == strip_shape and sample.frames[1].shape == (1, 3, 256, 256)
    mask = sample.masks[0]
    assert 0.0 <= float(mask.min()) and float(mask.max()) <= 1.0 + 1e-6
    covered = (mask[0, 0] > 0.99).nonzero()
    border = {"left": covered[:, 1].max() < 64, "right": covered[:, 1].min() >= 192,
              "top": covered[:, 0].max() < 64, "bottom": covered[:, 0].min() >= 192}[side]
    assert len(covered) > 256 * 30 and bool(border)
    warped = warp_backward(sample.frames[0], sample.flows[0])
    sel = (mask > 0.99).expand_as(warped)
    error = (warped - sample.frames[1])[sel].abs().mean()
    shifted = (sample.frames[1].roll(8, dims=-1) - sample.frames[1])[sel].abs().mean()
    assert error < 0.25 * shifted  # the perspective-mapped strip continues frame 2's border
