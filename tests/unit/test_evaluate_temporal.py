"""Temporal error (algorithm.md §7) on tiny sequences whose expected error is known exactly."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fav_core.errors import ConfigError, FlowFormatError, InputError, ShapeError
from fav_core.evaluate.temporal import EvalMotion, EvalMotionConfig, temporal_error, temporal_error_map
from fav_core.flow import write_flo
from fav_core.pgm import write_pgm
from fav_core.types import Frame

H, W = 4, 6


def _ramp() -> np.ndarray:
    """(H, W, 3) horizontal ramp, distinct per channel."""
    x = np.arange(W, dtype=np.float32) / W
    return np.stack([np.tile(x, (H, 1)), np.tile(x * 0.5, (H, 1)), np.tile(1 - x, (H, 1))], axis=2)


def _flow(dx: float, dy: float = 0.0) -> np.ndarray:
    f = np.zeros((H, W, 2), np.float32)
    f[..., 0], f[..., 1] = dx, dy
    return f


class TestTemporalError:
    def test_shifted_ramp_zero_except_border(self) -> None:
        prev = _ramp()
        cur = np.roll(prev, 1, axis=1)  # content moved 1 px right; column 0 is new content
        cur[:, 0] = 0.5
        flow = _flow(-1.0)  # backward flow: pixel x of cur is at x-1 in prev
        ones = np.ones((H, W), np.float32)
        # warp gives exactly prev(x-1) = cur(x) for x >= 1; column 0 samples outside -> 0, error = 0.5² there
        assert temporal_error(prev, cur, flow, ones) == pytest.approx(0.25 / W)
        emap = temporal_error_map(prev, cur, flow, ones)
        np.testing.assert_allclose(emap[:, 1:], 0.0, atol=1e-12)
        np.testing.assert_allclose(emap[:, 0], 0.25)
        masked = ones.copy()
        masked[:, 0] = 0.0
        assert temporal_error(prev, cur, flow, masked) == pytest.approx(0.0, abs=1e-12)

    def test_flicker(self) -> None:
        a = np.full((H, W, 3), 0.2, np.float32)
        b = np.full((H, W, 3), 0.7, np.float32)
        err = temporal_error(a, b, _flow(0.0), np.ones((H, W), np.float32))
        assert err == pytest.approx(0.25)

    def test_masked_pixels_count_as_zero_in_the_mean(self) -> None:
        a = np.zeros((H, W, 3), np.float32)
        b = np.ones((H, W, 3), np.float32)
        mask = np.zeros((H, W), np.float32)
        mask[0, :3] = 1.0  # 3 of 24 pixels reliable
        assert temporal_error(a, b, _flow(0.0), mask) == pytest.approx(3 / 24)
        mask[0, 0] = 0.5  # soft masks multiply both sides: (0.5·1)² = 0.25
        assert temporal_error(a, b, _flow(0.0), mask) == pytest.approx((2 + 0.25) / 24)

    def test_backward_eval(self) -> None:
        prev = _ramp()
        cur = np.roll(prev, 1, axis=1)
        cur[:, 0] = 0.5
        fwd = _flow(1.0)  # forward flow of frame i-1: pixel x of prev is at x+1 in cur
        ones = np.ones((H, W), np.float32)
        emap = temporal_error_map(prev, cur, fwd, ones, backward_eval=True)
        # warp(cur, fwd)(x) = cur(x+1) = prev(x) except the last column, which samples outside -> 0
        np.testing.assert_allclose(emap[:, :-1], 0.0, atol=1e-12)
        np.testing.assert_allclose(emap[:, -1], np.mean(prev[0, -1] ** 2))
        # the default convention with the same arguments is not zero
        assert temporal_error(prev, cur, fwd, ones) > 0.01

    def test_exception(self) -> None:
        a = np.zeros((H, W, 3), np.float32)
        with pytest.raises(ShapeError):
            temporal_error(a, a, np.zeros((H, W + 1, 2), np.float32), np.ones((H, W), np.float32))
        with pytest.raises(ShapeError):
            temporal_error(a, a[:, :, :2], _flow(0), np.ones((H, W), np.float32))
        with pytest.raises(ShapeError):
            temporal_error(a, a, _flow(0), np.ones((H + 1, W), np.float32))


def _frame(i: int, rgb: np.ndarray | None = None) -> Frame:
    return Frame(index=i, rgb=np.zeros((H, W, 3), np.float32) if rgb is None else rgb)


class TestEvalMotionFiles:
    def test_default_reads_backward_files_of_frame_i(self, tmp_path: Path) -> None:
        write_flo(tmp_path / "backward_5_4.flo", _flow(-1.0))
        mask = np.ones((H, W), np.float32)
        mask[1, 2] = 0.0
        write_pgm(tmp_path / "reliable_5_4.pgm", mask)
        cfg = EvalMotionConfig(str(tmp_path / "backward_[%d]_{%d}.flo"), str(tmp_path / "reliable_[%d]_{%d}.pgm"))
        pm = EvalMotion(cfg).pair(_frame(4), _frame(5))
        np.testing.assert_array_equal(pm.flow, _flow(-1.0))
        np.testing.assert_array_equal(pm.mask, mask)
        assert "backward_5_4.flo" in pm.source
        assert "files" in cfg.describe() and not cfg.computed

    def test_backward_eval_reads_forward_files_of_frame_i_minus_1(self, tmp_path: Path) -> None:
        write_flo(tmp_path / "forward_4_5.flo", _flow(1.0))
        occ = np.zeros((H, W), np.float32)
        occ[0, 0] = 1.0  # white = occluded (Sintel style)
        write_pgm(tmp_path / "occ_4_5.pgm", occ)
        cfg = EvalMotionConfig(str(tmp_path / "forward_[%d]_{%d}.flo"), str(tmp_path / "occ_[%d]_{%d}.pgm"),
                               backward_eval=True, invert=True, fix=True)
        pm = EvalMotion(cfg).pair(_frame(4), _frame(5))
        expected = 1.0 - occ
        expected[:, -1] = 0.0  # fix: flow +1 leaves the frame in the last column
        np.testing.assert_array_equal(pm.mask, expected)

    def test_flow_without_masks_means_all_reliable(self, tmp_path: Path) -> None:
        write_flo(tmp_path / "b_2_1.flo", _flow(0.0))
        pm = EvalMotion(EvalMotionConfig(str(tmp_path / "b_[%d]_{%d}.flo"))).pair(_frame(1), _frame(2))
        np.testing.assert_array_equal(pm.mask, np.ones((H, W), np.float32))

    def test_exception(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError):
            EvalMotionConfig("flow_%d.flo")
        with pytest.raises(ConfigError):
            EvalMotionConfig(None, "reliable_[%d]_{%d}.pgm")
        motion = EvalMotion(EvalMotionConfig(str(tmp_path / "b_[%d]_{%d}.flo")))
        with pytest.raises(InputError, match="b_2_1.flo"):
            motion.pair(_frame(1), _frame(2))
        write_flo(tmp_path / "b_2_1.flo", np.zeros((H + 1, W, 2), np.float32))
        with pytest.raises(FlowFormatError, match="b_2_1.flo"):
            motion.pair(_frame(1), _frame(2))


class _ZeroFlow:
    name = "zero"

    def compute(self, src_rgb: np.ndarray, dst_rgb: np.ndarray) -> np.ndarray:
        return np.zeros((*src_rgb.shape[:2], 2), np.float32)


def test_computed_motion_is_said_and_used() -> None:
    cfg = EvalMotionConfig()
    assert cfg.computed and "no ground-truth flow given" in cfg.describe() and "dis" in cfg.describe()
    pm = EvalMotion(cfg, provider=_ZeroFlow()).pair(_frame(1), _frame(2))
    assert pm.source.startswith("computed")
    # the reference checker counts the last row and column as outside the frame
    expected = np.ones((H, W), np.float32)
    expected[-1, :] = 0.0
    expected[:, -1] = 0.0
    np.testing.assert_array_equal(pm.mask, expected)
    a = np.full((H, W, 3), 0.2, np.float32)
    b = np.full((H, W, 3), 0.7, np.float32)
    assert temporal_error(a, b, pm.flow, pm.mask) == pytest.approx(0.25 * (H - 1) * (W - 1) / (H * W))


def test_real_dis_provider_builds() -> None:
    motion = EvalMotion(EvalMotionConfig(flow_preset="fast"))
    rng = np.random.default_rng(0)
    texture = rng.random((32, 48, 3)).astype(np.float32)
    pm = motion.pair(Frame(1, texture), Frame(2, texture.copy()))
    assert pm.flow.shape == (32, 48, 2) and pm.source == "computed:dis-fast"
    assert np.abs(pm.flow).max() < 0.5  # identical frames: no motion
