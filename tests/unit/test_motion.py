from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fav_core.errors import ConfigError, FlowFormatError, InputError
from fav_core.flow import DISFlow, write_flo
from fav_core.motion import ComputedMotion, FileMotion, Motion, MotionSource, PassMotion
from fav_core.occlusion import consistency_check, write_pgm
from fav_core.types import Frame

H, W = 24, 32


def _frame(index: int, value: float, **kw: object) -> Frame:
    return Frame(index=index, rgb=np.full((H, W, 3), value, np.float32), source=f"f{index}.png", **kw)


def _const(dx: float, dy: float, h: int = H, w: int = W) -> np.ndarray:
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    return flow


class ShiftProvider:
    """Fake provider: flow (+dx, 0) from the brighter frame to the darker one, (-dx, 0) the other way."""

    name = "shift"

    def __init__(self, dx: float) -> None:
        self.dx = dx
        self.calls: list[tuple[float, float]] = []

    def compute(self, src_rgb: np.ndarray, dst_rgb: np.ndarray) -> np.ndarray:
        self.calls.append((float(src_rgb.mean()), float(dst_rgb.mean())))
        sign = 1.0 if src_rgb.mean() > dst_rgb.mean() else -1.0
        return _const(sign * self.dx, 0.0)


class FailingSource:
    def motion(self, cur: Frame, prev: Frame) -> Motion:
        raise AssertionError("the fallback must not run")


class TestComputedMotion:
    def test_wiring(self) -> None:
        provider = ShiftProvider(2.0)
        cur, prev = _frame(5, 0.6), _frame(4, 0.4)
        m = ComputedMotion(provider).motion(cur, prev)
        assert isinstance(ComputedMotion(provider), MotionSource)
        assert provider.calls == [
            pytest.approx((0.6, 0.4)),
            pytest.approx((0.4, 0.6)),
        ]  # cur->prev, prev->cur
        np.testing.assert_array_equal(m.flow, _const(2.0, 0.0))
        expected = consistency_check(_const(2.0, 0.0), _const(-2.0, 0.0), image=cur.rgb * 255)
        np.testing.assert_array_equal(m.reliable, expected)
        assert m.source == "computed:shift"

    def test_without_structure_term(self) -> None:
        cur, prev = _frame(2, 0.6), _frame(1, 0.4)
        cur.rgb[:, :8] = 0.9  # texture would change S, so the result must equal the plain check
        m = ComputedMotion(ShiftProvider(1.0), structure_term=False).motion(cur, prev)
        np.testing.assert_array_equal(m.reliable, consistency_check(_const(1.0, 0.0), _const(-1.0, 0.0)))

    def test_dis_on_shifted_texture(self) -> None:
        rng = np.random.default_rng(0)
        tex = cv2.GaussianBlur(rng.random((H + 8, W + 8)).astype(np.float32), (0, 0), 1.2)
        tex = (tex - tex.min()) / (tex.max() - tex.min())
        prev_rgb = np.repeat(tex[4 : 4 + H, 4 : 4 + W, None], 3, axis=2)
        cur_rgb = np.repeat(tex[4 : 4 + H, 2 : 2 + W, None], 3, axis=2)  # cur(x) = prev(x - 2): moved right
        m = ComputedMotion(DISFlow()).motion(Frame(2, cur_rgb), Frame(1, prev_rgb))
        assert np.median(m.flow[4:-4, 6:-4, 0]) == pytest.approx(-2.0, abs=0.1)
        assert m.reliable[4:-4, 8:-4].mean() > 0.9  # interior consistent
        assert m.reliable[:, :2].max() == 0.0  # disoccluded left border (b.x < 0)

    def test_exception(self) -> None:
        cur = Frame(2, np.zeros((H, W + 1, 3), np.float32), source="b.png")
        with pytest.raises(InputError, match="b.png: frame is 33x24, previous frame is 32x24"):
            ComputedMotion(ShiftProvider(1.0)).motion(cur, _frame(1, 0.0))


class TestFileMotion:
    def _write(self, folder: Path, start: int, target: int, flow: np.ndarray, mask: np.ndarray) -> None:
        write_flo(folder / f"backward_{start}_{target}.flo", flow)
        write_pgm(folder / f"reliable_{start}_{target}.pgm", mask)

    def test_smoke(self, tmp_path: Path) -> None:
        flow = _const(1.5, -0.5)
        mask = np.ones((H, W), np.float32)
        mask[3, 4] = 0.0
        self._write(tmp_path, 5, 4, flow, mask)
        src = FileMotion(str(tmp_path / "backward_[%d]_{%d}.flo"), str(tmp_path / "reliable_[%d]_{%d}.pgm"))
        m = src.motion(_frame(5, 0.5), _frame(4, 0.5))
        np.testing.assert_array_equal(m.flow, flow)
        np.testing.assert_array_equal(m.reliable, mask)
        assert m.source.endswith("backward_5_4.flo")

    def test_invert_and_fix(self, tmp_path: Path) -> None:
        mask = np.zeros((H, W), np.float32)
        mask[0, 0] = 1.0  # white = occluded in a ground-truth map
        self._write(tmp_path, 2, 1, _const(1.0, 0.0), mask)
        src = FileMotion(
            str(tmp_path / "backward_[%d]_{%d}.flo"),
            str(tmp_path / "reliable_[%d]_{%d}.pgm"),
            invert=True,
            fix=True,
        )
        m = src.motion(_frame(2, 0.5), _frame(1, 0.5))
        expected = 1.0 - mask
        expected[:, -1] = 0.0  # flow +1 leaves the frame in the last column
        np.testing.assert_array_equal(m.reliable, expected)

    def test_flow_pair_reads_both_directions(self, tmp_path: Path) -> None:
        write_flo(tmp_path / "backward_3_2.flo", _const(1.0, 0.0))
        write_flo(tmp_path / "backward_2_3.flo", _const(-1.0, 0.0))
        src = FileMotion(str(tmp_path / "backward_[%d]_{%d}.flo"), str(tmp_path / "r_[%d]_{%d}.pgm"))
        bwd, fwd = src.flow_pair(_frame(3, 0.5), _frame(2, 0.5))
        assert bwd[0, 0, 0] == 1.0 and fwd[0, 0, 0] == -1.0

    def test_missing_files(self, tmp_path: Path) -> None:
        src = FileMotion(str(tmp_path / "backward_[%d]_{%d}.flo"), str(tmp_path / "reliable_[%d]_{%d}.pgm"))
        with pytest.raises(InputError, match="backward_7_6.flo: flow file not found"):
            src.motion(_frame(7, 0.5), _frame(6, 0.5))
        write_flo(tmp_path / "backward_7_6.flo", _const(0.0, 0.0))
        with pytest.raises(InputError, match="reliable_7_6.pgm: reliability map not found"):
            src.motion(_frame(7, 0.5), _frame(6, 0.5))

    def test_wrong_sizes(self, tmp_path: Path) -> None:
        write_flo(tmp_path / "backward_2_1.flo", _const(0.0, 0.0, 48, 64))
        src = FileMotion(str(tmp_path / "backward_[%d]_{%d}.flo"), str(tmp_path / "reliable_[%d]_{%d}.pgm"))
        with pytest.raises(FlowFormatError, match="backward_2_1.flo: flow is 64x48, frame is 32x24"):
            src.motion(_frame(2, 0.5), _frame(1, 0.5))
        write_flo(tmp_path / "backward_2_1.flo", _const(0.0, 0.0))
        write_pgm(tmp_path / "reliable_2_1.pgm", np.ones((H + 1, W), np.float32))
        with pytest.raises(
            FlowFormatError, match="reliable_2_1.pgm: reliability map is 32x25, frame is 32x24"
        ):
            src.motion(_frame(2, 0.5), _frame(1, 0.5))

    def test_bad_pattern(self) -> None:
        with pytest.raises(ConfigError, match="placeholder"):
            FileMotion("backward_%d_%d.flo", "reliable_[%d]_{%d}.pgm")


class TestPassMotion:
    def test_valid_vectors_never_run_the_fallback(self) -> None:
        cur = _frame(2, 0.5, flow_to_prev=_const(1.0, 0.0), flow_valid=np.ones((H, W), bool))
        prev = _frame(1, 0.5, flow_to_next=_const(-1.0, 0.0))
        m = PassMotion(FailingSource()).motion(cur, prev)
        np.testing.assert_array_equal(m.flow, _const(1.0, 0.0))
        np.testing.assert_array_equal(
            m.reliable, consistency_check(_const(1.0, 0.0), _const(-1.0, 0.0), image=cur.rgb * 255)
        )
        assert m.source == "pass"

    def test_a_backward_run_uses_the_flow_to_the_next_frame(self) -> None:
        # backward: frame 2 is processed after frame 3, so its prior is frame 3's output, warped with 2 -> 3
        cur = _frame(2, 0.5, flow_to_prev=_const(9.0, 9.0), flow_to_next=_const(-1.0, 0.0))
        prev = _frame(3, 0.5, flow_to_prev=_const(1.0, 0.0), flow_to_next=_const(7.0, 7.0))
        m = PassMotion(FailingSource()).motion(cur, prev)
        np.testing.assert_array_equal(m.flow, _const(-1.0, 0.0))
        np.testing.assert_array_equal(
            m.reliable, consistency_check(_const(-1.0, 0.0), _const(1.0, 0.0), image=cur.rgb * 255)
        )
        # forward, the same frames: the flow to the previous frame
        m = PassMotion(FailingSource()).motion(prev, cur)
        np.testing.assert_array_equal(m.flow, _const(1.0, 0.0))
        # the vectors a backward run needs are missing: the fallback fills in
        half = _frame(2, 0.6, flow_to_prev=_const(1.0, 0.0))
        m = PassMotion(ComputedMotion(ShiftProvider(2.0)), structure_term=False).motion(half, _frame(3, 0.4))
        assert m.source == "pass+fallback"
        np.testing.assert_array_equal(m.flow, _const(2.0, 0.0))

    def test_invalid_pixels_use_the_fallback(self) -> None:
        valid = np.ones((H, W), bool)
        valid[:, :5] = False  # e.g. Cycles world
        host = _const(1.0, 0.0)
        host[:, :5] = 0.0  # garbage where invalid
        cur = _frame(2, 0.6, flow_to_prev=host, flow_valid=valid)
        prev = _frame(1, 0.4, flow_to_next=_const(-1.0, 0.0))
        provider = ShiftProvider(1.0)
        m = PassMotion(ComputedMotion(provider)).motion(cur, prev)
        assert len(provider.calls) == 2  # one flow pair, computed once
        np.testing.assert_array_equal(m.flow, _const(1.0, 0.0))
        assert m.source == "pass+fallback"
        assert m.reliable[:-1, :-2].all()  # merged flows are consistent

    def test_no_vectors_uses_fallback_everywhere(self) -> None:
        cur, prev = _frame(2, 0.6), _frame(1, 0.4)
        m = PassMotion(ComputedMotion(ShiftProvider(2.0)), structure_term=False).motion(cur, prev)
        np.testing.assert_array_equal(m.flow, _const(2.0, 0.0))
        np.testing.assert_array_equal(m.reliable, consistency_check(_const(2.0, 0.0), _const(-2.0, 0.0)))

    def test_generic_fallback_is_asked_both_ways(self) -> None:
        class Recorder:
            def __init__(self) -> None:
                self.pairs: list[tuple[int, int]] = []

            def motion(self, cur: Frame, prev: Frame) -> Motion:
                self.pairs.append((cur.index, prev.index))
                dx = 3.0 if cur.index > prev.index else -3.0
                return Motion(_const(dx, 0.0), np.ones((H, W), np.float32), "rec")

        fb = Recorder()
        cur = _frame(2, 0.5, flow_to_prev=_const(3.0, 0.0))  # prev has no forward vectors
        m = PassMotion(fb).motion(cur, _frame(1, 0.5))
        assert fb.pairs == [(2, 1), (1, 2)]
        np.testing.assert_array_equal(
            m.reliable, consistency_check(_const(3.0, 0.0), _const(-3.0, 0.0), image=cur.rgb * 255)
        )

    def test_inconsistent_host_vectors_marked(self) -> None:
        # host vectors never encode occlusion: the check still runs and catches a disagreement
        fwd = _const(-1.0, 0.0)
        fwd[10:14, 10:14] = 3.0
        cur = _frame(2, 0.5, flow_to_prev=_const(1.0, 0.0))
        prev = _frame(1, 0.5, flow_to_next=fwd)
        m = PassMotion(FailingSource(), structure_term=False).motion(cur, prev)
        assert m.reliable[10:14, 9:13].sum() == 0 and m.reliable[2:8, 2:8].all()
