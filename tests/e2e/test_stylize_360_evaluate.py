"""``fav stylize-360 --evaluate REPORT.json``: the §9.6 numbers per face and frame, end to end."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fav_core.spherical.faces import FACES
from tests.e2e.test_stylize_360 import CUBE, base, fav, model, scene, write_png  # noqa: F401 (fixtures)


def run_eval(tmp_path: Path, name: str, inp: str, model_path: str, *extra: str) -> dict:
    report = tmp_path / f"{name}.json"
    assert fav(base(inp, tmp_path / name, model_path, *CUBE, "--num-frames", "2", "--evaluate", str(report),
                    *extra)) == 0
    return json.loads(report.read_text())


def test_evaluate_report_per_face(tmp_path: Path, scene: str, model: str) -> None:  # noqa: F811
    style = tmp_path / "style.png"
    write_png(style, np.random.default_rng(0).random((24, 32, 3)).astype(np.float32))
    data = run_eval(tmp_path, "ours", scene, model, "--eval-style-image", str(style), "--eval-loss-network",
                    "random-multiscale")
    assert [f["frame"] for f in data["frames"]] == [1, 2]
    for frame in data["frames"]:
        faces = frame["faces"]
        assert [f["face"] for f in faces] == list(FACES)
        assert faces[0]["gradient_ratio"] is None  # the front face has no cut edge
        assert all(f["gradient_ratio"] > 0 for f in faces[1:])
        assert all(f["edge_mse"] >= 0 and set(f["edge_mse_sides"]) == {"left", "right", "top", "bottom"}
                   for f in faces)
        assert all(f["content_loss"] > 0 and f["style_loss"] > 0 for f in faces)
        assert frame["cube_edge_mse"] == pytest.approx(np.mean([f["edge_mse"] for f in faces]))
        assert faces[0]["overlap_disagreement"] is None  # nothing stylized before the front face
        assert all(0 < f["overlap_disagreement"] < 1 for f in faces[1:])
    assert all(f["temporal_error"] is None for f in data["frames"][0]["faces"])
    assert all(f["temporal_error"] >= 0 for f in data["frames"][1]["faces"])
    summary = data["summary"]
    assert summary["frames"] == 2
    assert summary["faces"]["top"]["temporal_error"] == data["frames"][1]["faces"][4]["temporal_error"]
    assert data["settings"]["cube_edge"] == 48
    assert (data["settings"]["border_lock"], data["settings"]["first_faces"]) == (True, "image")
    assert data["settings"]["flow_margin"] == 8  # half the 16-px overlap: each face's flow on a wider view
    assert summary["all_faces"]["overlap_disagreement"] == pytest.approx(
        np.mean([f["overlap_disagreement"] for fr in data["frames"] for f in fr["faces"][1:]]))


def test_edge_mse_far_below_independent_faces(tmp_path: Path, scene: str, model: str) -> None:  # noqa: F811
    """Blended, border-consistent faces meet their neighbours; independently stylized faces do not."""
    ours = run_eval(tmp_path, "ours", scene, model)["summary"]["cube_edge_mse"]
    independent = run_eval(tmp_path, "independent", scene, model, "--create-inconsistent-border",
                           "--no-blend-sides")["summary"]["cube_edge_mse"]
    print("cube edge MSE ours / independent:", ours, independent, ours / independent)
    assert ours < 0.75 * independent  # measured ≈ 0.54 with the random model


def test_help_formats() -> None:
    """``fav stylize-360 --help`` prints (a bare ``%`` in a help text used to crash argparse)."""
    import argparse

    from fav_core.cli.stylize_360 import add_parser

    sub = argparse.ArgumentParser(prog="fav").add_subparsers()
    add_parser(sub)
    text = sub.choices["stylize-360"].format_help()
    assert "--evaluate REPORT.json" in text and "cubemap/frame_%05d.png" in text
