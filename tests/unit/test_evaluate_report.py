"""Evaluation loop, report files, pictures, comparison video and per-frame perceptual losses."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from fav_core.errors import Cancelled, InputError, ShapeError
from fav_core.evaluate.compare_video import GAP_PX, side_by_side, write_comparison_video
from fav_core.evaluate.perceptual import (
    PerceptualEvaluator,
    PerceptualSettings,
    resize_longer_side,
    to_tensor,
)
from fav_core.evaluate.plots import plot_frame_errors, plot_heatmap
from fav_core.evaluate.report import CSV_COLUMNS, EvalReport, FrameRecord, summarize, write_csv, write_json
from fav_core.evaluate.sequence import evaluate_sequences
from fav_core.evaluate.temporal import EvalMotion, EvalMotionConfig
from fav_core.io import FrameSource
from fav_core.losses import content_loss, gram_matrix
from fav_core.lossnet import VGG16Loss, make_loss_network
from fav_core.nets.preprocess import preprocess
from fav_core.types import CancelToken, Frame

H, W = 16, 24


class ListSource(FrameSource):
    """In-memory frames numbered from ``first``."""

    def __init__(self, frames: list[np.ndarray], first: int = 1) -> None:
        self.path = "memory"
        self.frames = frames
        self.indices = list(range(first, first + len(frames)))
        self.size = frames[0].shape[:2]
        self.fps = 10.0

    def read(self, index: int) -> Frame:
        return Frame(index=index, rgb=self.frames[index - self.indices[0]])

    def describe(self) -> str:
        return f"memory: {len(self.frames)} frames"


class ZeroFlow:
    name = "zero"

    def compute(self, src_rgb: np.ndarray, dst_rgb: np.ndarray) -> np.ndarray:
        return np.zeros((*src_rgb.shape[:2], 2), np.float32)


def _flicker(levels: list[float]) -> list[np.ndarray]:
    return [np.full((H, W, 3), v, np.float32) for v in levels]


def _zero_motion() -> EvalMotion:
    return EvalMotion(EvalMotionConfig(), provider=ZeroFlow())


class TestLoop:
    def test_flicker_rows_and_means(self) -> None:
        inputs = ListSource(_flicker([0.5] * 4))
        stylized = ListSource(_flicker([0.2, 0.6, 0.0, 0.4]), first=11)
        baseline = ListSource(_flicker([0.0, 1.0, 0.0, 1.0]))
        result = evaluate_sequences(inputs, {"stylized": stylized, "per_frame": baseline}, motion=_zero_motion())
        recs = result.report.sequences["stylized"]
        assert [r.frame for r in recs] == [1, 2, 3, 4] and [r.stylized_frame for r in recs] == [11, 12, 13, 14]
        reliable = (H - 1) * (W - 1) / (H * W)  # computed masks: last row/column count as outside
        assert recs[0].temporal_error is None
        assert [r.temporal_error for r in recs[1:]] == pytest.approx([0.16 * reliable, 0.36 * reliable,
                                                                     0.16 * reliable])
        summary = result.report.summary()
        assert summary["stylized"]["temporal_error"]["count"] == 3  # means over the pairs actually evaluated
        assert summary["stylized"]["temporal_error"]["mean"] == pytest.approx(0.68 / 3 * reliable)
        assert summary["per_frame"]["temporal_error"]["mean"] == pytest.approx(reliable)
        assert summary["temporal_error_ratio"] == pytest.approx(0.68 / 3)
        assert result.heatmap_frame == 3 and result.heatmap is not None  # the worst frame
        assert result.heatmap.shape == (H, W)

    def test_chosen_heatmap_frame_and_shorter_sequence(self) -> None:
        inputs = ListSource(_flicker([0.5] * 5))
        stylized = ListSource(_flicker([0.2, 0.7, 0.2]))
        result = evaluate_sequences(inputs, {"stylized": stylized}, motion=_zero_motion(), heatmap_frame=3)
        assert result.report.settings["evaluated_frames"] == 3
        assert result.heatmap_frame == 3

    def test_no_motion_no_temporal(self) -> None:
        result = evaluate_sequences(ListSource(_flicker([0.5] * 2)), {"stylized": ListSource(_flicker([0.1, 0.9]))},
                                    motion=None)
        assert all(r.temporal_error is None for r in result.report.sequences["stylized"])
        assert result.heatmap is None

    def test_exception(self) -> None:
        small = ListSource([np.zeros((H, W - 2, 3), np.float32)] * 2)
        with pytest.raises(InputError, match=f"memory: stylized frames are {W - 2}x{H}, the input memory is {W}x{H}"):
            evaluate_sequences(ListSource(_flicker([0.5] * 2)), {"stylized": small}, motion=None)
        token = CancelToken()
        token.cancel()
        with pytest.raises(Cancelled):
            evaluate_sequences(ListSource(_flicker([0.5] * 2)), {"stylized": ListSource(_flicker([0.5] * 2))},
                               motion=None, cancel=token)


class TestReportFiles:
    def _report(self) -> EvalReport:
        return EvalReport(settings={"motion": "test"}, sequences={"stylized": [
            FrameRecord(1, 1, None, 2.0, 4.0), FrameRecord(2, 2, 0.5, 1.0, None), FrameRecord(3, 3, 0.25, 3.0, 8.0)]})

    def test_summarize(self) -> None:
        s = summarize(self._report().sequences["stylized"])
        assert s["frames"] == 3
        assert s["temporal_error"] == {"count": 2, "mean": 0.375, "max": 0.5, "min": 0.25, "sum": 0.75}
        assert s["content_loss"]["mean"] == 2.0 and s["style_loss"]["mean"] == 6.0

    def test_json_and_csv(self, tmp_path: Path) -> None:
        report = self._report()
        data = json.loads(write_json(tmp_path / "r" / "e.json", report).read_text())
        assert data["settings"]["motion"] == "test"
        assert data["frames"]["stylized"][1] == {"frame": 2, "stylized_frame": 2, "temporal_error": 0.5,
                                                 "content_loss": 1.0, "style_loss": None}
        with write_csv(tmp_path / "e.csv", report).open() as f:
            rows = list(csv.reader(f))
        assert tuple(rows[0]) == CSV_COLUMNS
        assert rows[1] == ["stylized", "1", "1", "", "2.0", "4.0"]
        assert rows[3] == ["stylized", "3", "3", "0.25", "3.0", "8.0"]

    def test_plots(self, tmp_path: Path) -> None:
        report = self._report()
        chart = plot_frame_errors(tmp_path / "errors.png", report.sequences, title="t")
        heat = plot_heatmap(tmp_path / "heat.png", np.random.default_rng(0).random((H, W)), 2,
                            np.zeros((H, W, 3), np.float32))
        for p in (chart, heat):
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 2000


class TestComparisonVideo:
    def test_side_by_side(self) -> None:
        a = np.zeros((H, W, 3), np.float32)
        out = side_by_side([a, a + 1.0, a + 0.5], ["input", "per-frame", "temporal"])
        assert out.shape == (H, 3 * W + 2 * GAP_PX, 3)
        assert np.all(out[:, W + GAP_PX : 2 * W + GAP_PX] == 1.0)  # tiny panels: no label
        assert np.all(out[:, W : W + GAP_PX] == 0.0)
        big = side_by_side([np.full((80, 120, 3), 0.5, np.float32)], ["input"])
        assert big[4, 4].max() < 0.5 and np.all(big[-1] == 0.5)  # label box top-left only
        with pytest.raises(ShapeError):
            side_by_side([a, np.zeros((H + 2, W, 3), np.float32)], ["a", "b"])

    def test_video_written(self, tmp_path: Path) -> None:
        srcs = [ListSource(_flicker([0.1, 0.5, 0.9])), ListSource(_flicker([0.2, 0.3, 0.4]))]
        path = write_comparison_video(tmp_path / "cmp.mp4", srcs, ["input", "stylized"])
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert len(frames) == 3
        assert frames[0].shape == (H, 2 * W + GAP_PX, 3)


class TestPerceptual:
    def test_resize_longer_side(self) -> None:
        x = torch.rand(1, 3, 40, 20)
        assert tuple(resize_longer_side(x, 256).shape) == (1, 3, 256, 128)
        assert tuple(resize_longer_side(torch.rand(1, 3, 30, 90), 45).shape) == (1, 3, 15, 45)

    def test_reference_losses_match_definitions(self) -> None:
        torch.manual_seed(0)
        net = VGG16Loss(content_layers=(4,), style_layers=(2, 4))
        rng = np.random.default_rng(0)
        frame, out, style = (rng.random((H, W, 3)).astype(np.float32) for _ in range(3))
        ev = PerceptualEvaluator(net, style, PerceptualSettings(style_image_size=32))
        got = ev(out, frame)
        with torch.no_grad():
            fo = net(preprocess(to_tensor(out), "vgg"))
            fc = net(preprocess(to_tensor(frame), "vgg"))
            fs = net(preprocess(resize_longer_side(to_tensor(style), 32), "vgg"))
        expected_c = content_loss(fo, fc, ["relu1_2"])[0].item()
        expected_s = sum(torch.mean((gram_matrix(fo[k]) - gram_matrix(fs[k])) ** 2).item()
                         for k in ("relu1_1", "relu1_2"))
        assert got["content_loss"] == pytest.approx(expected_c, rel=1e-4)
        assert got["style_loss"] == pytest.approx(expected_s, rel=1e-4)
        assert ev.describe()["loss_kind"] == "reference"

    def test_relative_losses_and_no_style(self) -> None:
        net = make_loss_network("random-multiscale", seed=0)
        frame = np.random.default_rng(1).random((H, W, 3)).astype(np.float32)
        ev = PerceptualEvaluator(net, None)
        same = ev(frame, frame)
        assert same["content_loss"] == pytest.approx(0.0, abs=1e-9) and same["style_loss"] is None
        ev_style = PerceptualEvaluator(net, frame, PerceptualSettings(style_image_size=32))
        assert ev_style.has_style and ev_style(frame * 0.5, frame)["style_loss"] > 0.01
        with pytest.raises(ShapeError):
            ev(frame, frame[:, :-1])
