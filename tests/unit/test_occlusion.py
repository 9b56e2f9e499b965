from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fav_core.errors import ConfigError, FlowFormatError, InputError, ShapeError
from fav_core.occlusion import (
    consistency_check,
    fix_occlusions,
    invert,
    min_filter,
    read_pgm,
    structure_term,
    write_pgm,
)

H, W = 6, 10


def _const(dx: float, dy: float, h: int = H, w: int = W) -> np.ndarray:
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    return flow


def _loop_reference(
    flow1: np.ndarray, flow2: np.ndarray, structure: np.ndarray | None, motion_boundaries: bool
) -> np.ndarray:
    """Line-by-line port of consistencyChecker.cpp ``checkConsistency`` (pixel loops, test oracle only)."""
    h, w = flow1.shape[:2]
    pad_x = np.pad(flow1, ((0, 0), (1, 1), (0, 0)), mode="symmetric")
    pad_y = np.pad(flow1, ((1, 1), (0, 0), (0, 0)), mode="symmetric")
    out = np.ones((h, w), np.float32)
    for ay in range(h):
        for ax in range(w):
            bx = np.float32(ax) + flow1[ay, ax, 0]
            by = np.float32(ay) + flow1[ay, ax, 1]
            x1, y1 = math.floor(bx), math.floor(by)
            x2, y2 = x1 + 1, y1 + 1
            if x1 < 0 or x2 >= w or y1 < 0 or y2 >= h:
                out[ay, ax] = 0
                continue
            alx, aly = float(np.float32(bx - x1)), float(np.float32(by - y1))
            uv = []
            for c in range(2):
                a = np.float32((1.0 - alx) * flow2[y1, x1, c] + alx * flow2[y1, x2, c])
                b = np.float32((1.0 - alx) * flow2[y2, x1, c] + alx * flow2[y2, x2, c])
                uv.append(np.float32((1.0 - aly) * a + aly * b))
            u, v = uv
            cx, cy = bx + u, by + v
            u2, v2 = flow1[ay, ax, 0], flow1[ay, ax, 1]
            s = float(structure[ay, ax]) if structure is not None else 0.0
            lhs = float((cx - ax) * (cx - ax) + (cy - ay) * (cy - ay))
            if lhs >= 0.01 * float(u2 * u2 + v2 * v2 + u * u + v * v) + s + 0.5:
                out[ay, ax] = 0
                continue
            if motion_boundaries:
                dx = 0.5 * (pad_x[ay, ax + 2] - pad_x[ay, ax])
                dy = 0.5 * (pad_y[ay + 2, ax] - pad_y[ay, ax])
                edge = float((dx * dx).sum() + (dy * dy).sum())
                if edge > 0.01 * float(u2 * u2 + v2 * v2) + float(np.float32(0.002)):
                    out[ay, ax] = 0
    return out


class TestConsistencyCheck:
    def test_translation_masks_exactly_the_border(self) -> None:
        # w = (+2, 0): pixel x of frame t was at x + 2 in t-1. Reference rule: floor(x + 2) + 1 >= 10 -> x >= 7,
        # i.e. the 2 truly disoccluded columns 8, 9 plus column 7 (last column counts as outside); dy = 0 puts
        # b.y = y on the last row for y = 5 -> the last row is out too.
        mask = consistency_check(_const(2.0, 0.0), _const(-2.0, 0.0))
        expected = np.zeros((H, W), np.float32)
        expected[:5, :7] = 1.0
        np.testing.assert_array_equal(mask, expected)

    def test_translation_left_and_up(self) -> None:
        # w = (-1.5, -2): floor(x - 1.5) < 0 for x <= 1; floor(y - 2) < 0 for y <= 1; never at the far side.
        mask = consistency_check(_const(-1.5, -2.0), _const(1.5, 2.0))
        expected = np.zeros((H, W), np.float32)
        expected[2:, 2:] = 1.0
        np.testing.assert_array_equal(mask, expected)

    def test_consistent_flows_all_reliable_inside(self) -> None:
        mask = consistency_check(_const(0.0, 0.0), _const(0.0, 0.0))
        assert mask[:-1, :-1].all() and not mask[-1].any() and not mask[:, -1].any()
        assert mask.dtype == np.float32 and set(np.unique(mask)) <= {0.0, 1.0}

    @pytest.mark.parametrize(("err", "reliable"), [(0.6, 1.0), (0.75, 0.0), (2.0, 0.0)])
    def test_threshold(self, err: float, reliable: float) -> None:
        # |w + ŵ|² = err² vs 0.01 (4 + (2 - err)²) + 0.5: 0.36 < 0.5596, 0.5625 >= 0.5556, 4 >= 0.54
        mask = consistency_check(_const(2.0, 0.0), _const(-2.0 + err, 0.0))
        assert mask[2, 3] == reliable

    def test_occluded_object(self) -> None:
        # background static, a 2x2 object at columns 4-5 of t-1 moved to columns 6-7 in t. Pixels 4, 5 in t are
        # background that the object covered in t-1: their backward flow (0) points at object pixels whose
        # forward flow is +2 -> inconsistent.
        bwd = _const(0.0, 0.0)
        bwd[2:4, 6:8, 0] = -2.0
        fwd = _const(0.0, 0.0)
        fwd[2:4, 4:6, 0] = 2.0
        mask = consistency_check(bwd, fwd)
        assert mask[2:4, 4:6].sum() == 0
        assert mask[2:4, 6:8].all()
        assert mask[0:2, 0:9].all()

    def test_non_finite_is_unreliable(self) -> None:
        bwd = _const(0.0, 0.0)
        bwd[1, 1, 0] = np.nan
        mask = consistency_check(bwd, _const(0.0, 0.0))
        assert mask[1, 1] == 0 and mask[1, 2] == 1

    @pytest.mark.parametrize("motion_boundaries", [False, True])
    @pytest.mark.parametrize("with_image", [False, True])
    def test_matches_loop_port(self, motion_boundaries: bool, with_image: bool) -> None:
        rng = np.random.default_rng(3)
        h, w = 12, 15
        # smooth-ish flows with noise: a mix of consistent / inconsistent / motion-edge pixels
        bwd = (np.array([1.3, -0.7]) + rng.normal(size=(h, w, 2)) * 0.15).astype(np.float32)
        fwd = (np.array([-1.3, 0.7]) + rng.normal(size=(h, w, 2)) * 0.6).astype(np.float32)
        image = None
        if with_image:  # textured left part, flat right part (structure term matters there)
            image = np.full((h, w, 3), 100.0, np.float32)
            image[:, :7] = rng.random((h, 7, 3)) * 255
        structure = structure_term(image) if image is not None else None
        got = consistency_check(bwd, fwd, image, motion_boundaries=motion_boundaries)
        want = _loop_reference(bwd, fwd, structure, motion_boundaries)
        np.testing.assert_array_equal(got, want)
        assert 0 < got.mean() < 1  # the case is not trivial

    def test_motion_boundaries_off_by_default(self) -> None:
        bwd = _const(0.0, 0.0)
        bwd[:, 5:, 0] = 0.4  # a flow edge (small motion: still consistent with the matching forward flow)
        fwd = -bwd
        off = consistency_check(bwd, fwd)
        on = consistency_check(bwd, fwd, motion_boundaries=True)
        assert off[:5, :9].all()
        # |∇u|² = 0.2² = 0.04 > 0.01 * 0.16 + 0.002 on both sides of the edge
        assert not on[:5, 4:6].any() and on[:5, :4].all() and on[:5, 6:9].all()

    def test_structure_term_relaxes_flat_regions(self) -> None:
        rng = np.random.default_rng(0)
        image = np.full((16, 32), 128.0, np.float32)
        image[:, :16] = rng.random((16, 16)) * 255  # texture left, flat right
        s = structure_term(image)
        assert s.shape == (16, 32) and s.dtype == np.float32
        assert s.min() >= 0 and s.max() <= 2.0 + 1e-6
        assert s[:, 26:].min() > 1.5 and s[:, :8].max() < 0.5
        # error 1 px: 1 >= 0.01 * (4 + 1) + 0.5 -> unreliable without S, reliable where S > 0.45
        bwd, fwd = _const(2.0, 0.0, 16, 32), _const(-1.0, 0.0, 16, 32)
        plain = consistency_check(bwd, fwd)
        relaxed = consistency_check(bwd, fwd, image)
        assert plain.sum() == 0
        assert relaxed[:15, 24:29].all() and not relaxed[:, :8].any()

    def test_structure_term_flat_image_is_zero(self) -> None:
        np.testing.assert_array_equal(structure_term(np.full((5, 6, 3), 7.0, np.float32)), np.zeros((5, 6)))

    def test_exception(self) -> None:
        with pytest.raises(ShapeError, match="flow_fwd"):
            consistency_check(_const(0, 0), _const(0, 0, 5, 5))
        with pytest.raises(ShapeError, match="flow_bwd"):
            consistency_check(np.zeros((4, 4, 3)), np.zeros((4, 4, 3)))
        with pytest.raises(ShapeError, match="image"):
            consistency_check(_const(0, 0), _const(0, 0), np.zeros((H, W + 1, 3)))


class TestMinFilter:
    @pytest.mark.parametrize("k", [3, 5, 7])
    def test_matches_torch_maxpool(self, k: int) -> None:
        rng = np.random.default_rng(k)
        for _ in range(3):
            # values k/4: 1 - (1 - m) is exact in float32, so equality can be exact
            mask = np.where(rng.random((13, 17)) > 0.15, 1.0, rng.integers(0, 4, (13, 17)) / 4).astype(
                np.float32
            )
            ref = 1 - F.max_pool2d(1 - torch.from_numpy(mask)[None, None], k, stride=1, padding=k // 2)
            np.testing.assert_array_equal(min_filter(mask, k), ref[0, 0].numpy())

    def test_shrinks_by_three(self) -> None:
        mask = np.ones((15, 15), np.float32)
        mask[7, 7] = 0
        out = min_filter(mask, 7)
        expected = np.ones((15, 15), np.float32)
        expected[4:11, 4:11] = 0
        np.testing.assert_array_equal(out, expected)
        np.testing.assert_array_equal(
            min_filter(np.ones((4, 5), np.float32), 7), np.ones((4, 5))
        )  # no border

    def test_identity_and_exception(self) -> None:
        mask = np.eye(4, dtype=np.float32)
        out = min_filter(mask, 1)
        np.testing.assert_array_equal(out, mask)
        assert out is not mask
        with pytest.raises(ConfigError, match="odd"):
            min_filter(mask, 4)
        with pytest.raises(ShapeError):
            min_filter(np.zeros((2, 2, 1)), 3)


class TestInvertFix:
    def test_invert(self) -> None:
        np.testing.assert_array_equal(invert(np.array([[0.0, 0.25, 1.0]])), [[1.0, 0.75, 0.0]])

    def test_fix_occlusions(self) -> None:
        # last column: dx = 0.4 samples x = 4.4 on a 5-wide frame -> coverage 0.6 (kept);
        # dx = 0.6 -> coverage 0.4 (zeroed); dx = 2 far outside -> 0.
        mask = np.ones((1, 5), np.float32)
        flow = np.zeros((1, 5, 2), np.float32)
        flow[0, 4, 0] = 0.4
        flow[0, 3, 0] = 1.6
        flow[0, 0, 0] = -0.3
        out = fix_occlusions(mask, flow)
        assert out.tolist() == [[1.0, 1.0, 1.0, 0.0, 1.0]]
        flow[0, 4, 0] = 0.6
        assert fix_occlusions(mask, flow).tolist() == [[1.0, 1.0, 1.0, 0.0, 0.0]]
        assert mask.min() == 1.0  # input untouched
        with pytest.raises(ShapeError):
            fix_occlusions(mask, np.zeros((2, 5, 2), np.float32))


class TestPgm:
    def test_round_trip(self, tmp_path: Path) -> None:
        mask = np.array([[0.0, 1.0, 0.5], [0.2, 1.7, -1.0]], np.float32)
        p = tmp_path / "r.pgm"
        write_pgm(p, mask)
        assert p.read_bytes()[:11] == b"P5\n3 2\n255\n"
        back = read_pgm(p, expect_size=(2, 3))
        np.testing.assert_array_equal(back * 255, [[0, 255, 128], [51, 255, 0]])
        assert back.dtype == np.float32

    def test_16bit_and_ascii(self, tmp_path: Path) -> None:
        p = tmp_path / "w.pgm"
        p.write_bytes(b"P5\n# comment\n2 1\n65535\n" + np.array([0, 65535], ">u2").tobytes())
        assert read_pgm(p).tolist() == [[0.0, 1.0]]
        p.write_bytes(b"P2\n# made by hand\n3 2\n# another\n4\n0 1 2\n3 4 4\n")
        assert read_pgm(p).tolist() == [[0.0, 0.25, 0.5], [0.75, 1.0, 1.0]]

    def test_exception(self, tmp_path: Path) -> None:
        p = tmp_path / "b.pgm"
        with pytest.raises(InputError, match="b.pgm: reliability map not found"):
            read_pgm(p)
        p.write_bytes(b"P6\n1 1\n255\n\x00\x00\x00")
        with pytest.raises(FlowFormatError, match="b.pgm: not a greyscale PGM"):
            read_pgm(p)
        p.write_bytes(b"P5\n4 2\n255\n" + bytes(7))
        with pytest.raises(FlowFormatError, match="truncated PGM data"):
            read_pgm(p)
        p.write_bytes(b"P5\n4 2\n255\n" + bytes(8))
        with pytest.raises(FlowFormatError, match="b.pgm: reliability map is 4x2, frame is 3x2"):
            read_pgm(p, expect_size=(2, 3))
        p.write_bytes(b"P5\n4 2\n0\n" + bytes(8))
        with pytest.raises(FlowFormatError, match="maxval 0"):
            read_pgm(p)
        p.write_bytes(b"P5\n4 2")
        with pytest.raises(FlowFormatError, match="truncated PGM header"):
            read_pgm(p)
        p.write_bytes(b"P2\n2 1\n3\n1 4\n")
        with pytest.raises(FlowFormatError, match="exceeds maxval 3"):
            read_pgm(p)
        p.write_bytes(b"P2\n2 1\n3\n1\n")
        with pytest.raises(FlowFormatError, match="holds 1 values"):
            read_pgm(p)
        with pytest.raises(FlowFormatError, match="NaN"):
            write_pgm(tmp_path / "n.pgm", np.full((2, 2), np.nan))
