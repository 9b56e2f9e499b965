"""``fav evaluate`` end to end on a tiny clip written by the test (PNG frames, .flo/.pgm ground truth)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from fav_core.cli.main import main
from fav_core.flow import write_flo
from fav_core.pgm import write_pgm

H, W, N = 32, 48, 4


def _write_seq(folder: Path, frames: list[np.ndarray]) -> str:
    folder.mkdir(parents=True)
    for i, f in enumerate(frames, start=1):
        cv2.imwrite(str(folder / f"frame_{i:04d}.png"), f[..., ::-1])  # RGB -> BGR for OpenCV
    return str(folder / "frame_%04d.png")


@pytest.fixture()
def clip(tmp_path: Path) -> dict[str, str]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 150, (H, W, 3), dtype=np.uint8)
    frames = [np.roll(base, i, axis=1) for i in range(N)]  # moves 1 px right per frame, column 0 wraps in
    per_frame = [np.clip(f.astype(int) + 51 * (i % 2), 0, 255).astype(np.uint8) for i, f in enumerate(frames)]
    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0] = -1.0  # backward flow: pixel x of frame i is at x-1 in frame i-1
    mask = np.ones((H, W), np.float32)
    mask[:, 0] = 0.0  # the wrapped-in column has no correspondence
    gt = tmp_path / "gt"
    gt.mkdir()
    for i in range(2, N + 1):
        write_flo(gt / f"backward_{i}_{i - 1}.flo", flow)
        write_pgm(gt / f"reliable_{i}_{i - 1}.pgm", mask)
    style = rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "style.png"), style)
    return {
        "input": _write_seq(tmp_path / "input", frames),
        "stylized": _write_seq(tmp_path / "stylized", frames),  # a perfectly consistent "stylization"
        "per_frame": str(tmp_path / "per_frame"),
        "per_frame_pattern": _write_seq(tmp_path / "per_frame", per_frame),
        "flow": str(gt / "backward_[%d]_{%d}.flo"),
        "occ": str(gt / "reliable_[%d]_{%d}.pgm"),
        "style": str(tmp_path / "style.png"),
        "root": str(tmp_path),
    }


@pytest.mark.slow
def test_evaluate_with_ground_truth(clip: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    out = Path(clip["root"]) / "report"
    code = main(["evaluate", clip["stylized"], "--input", clip["input"], "-o", str(out),
                 "--flow-pattern-eval", clip["flow"], "--occlusions-pattern-eval", clip["occ"],
                 "--compare-per-frame", clip["per_frame"], "--style-image", clip["style"],
                 "--loss-network", "random-multiscale", "--style-image-size", "32"])
    assert code == 0
    data = json.loads((out / "evaluation.json").read_text())
    summary = data["summary"]
    assert data["settings"]["flow"] == "files"
    assert summary["stylized"]["temporal_error"]["count"] == N - 1
    assert summary["stylized"]["temporal_error"]["mean"] == pytest.approx(0.0, abs=1e-12)
    expected = (51 / 255) ** 2 * (W - 1) / W  # brightness flicker of 0.2 on every reliable pixel
    assert summary["per_frame"]["temporal_error"]["mean"] == pytest.approx(expected, rel=1e-5)
    assert summary["temporal_error_ratio"] == pytest.approx(0.0, abs=1e-9)
    frames = data["frames"]["stylized"]
    assert [f["frame"] for f in frames] == [1, 2, 3, 4]
    assert frames[0]["content_loss"] == pytest.approx(0.0, abs=1e-9) and frames[0]["style_loss"] > 0
    assert data["settings"]["perceptual"]["loss_network"] == "random-multiscale"
    names = {p.name for p in out.iterdir()}
    assert {"evaluation.json", "evaluation.csv", "errors.png", "comparison.mp4"} <= names
    assert any(n.startswith("heatmap_") and n.endswith(".png") for n in names)
    assert (out / "evaluation.csv").read_text().count("\n") == 1 + 2 * N
    assert "temporal error ratio" in capsys.readouterr().out


def test_evaluate_computes_flow_and_says_so(clip: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    out = Path(clip["root"]) / "report2"
    code = main(["evaluate", clip["stylized"], "--input", clip["input"], "-o", str(out), "--no-video",
                 "--flow-preset", "fast"])
    assert code == 0
    data = json.loads((out / "evaluation.json").read_text())
    assert data["settings"]["flow"] == "computed"
    assert "no ground-truth flow given" in data["settings"]["motion"]
    assert data["settings"]["perceptual"] is None
    assert not (out / "comparison.mp4").exists()
    assert "no ground-truth flow given" in capsys.readouterr().out


def test_evaluate_bad_input_is_one_line_error(clip: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["evaluate", clip["stylized"], "--input", clip["root"] + "/nope_%04d.png", "-o",
                 clip["root"] + "/r3", "--flow-pattern-eval", clip["flow"]])
    assert code == 2
    assert "fav: error:" in capsys.readouterr().err
