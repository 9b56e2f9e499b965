"""End-to-end runs of ``fav stylize-360`` on a synthetic rotating sphere, with a tiny random video model."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from fav_core.cli.stylize_360 import add_parser, parse_size
from fav_core.errors import ConfigError
from fav_core.io import open_frames
from fav_core.spherical.faces import FACES, FILE_IDS
from fav_core.spherical.projection import CubeGeometry, CubeToEquirect, EquirectToCube
from fav_core.spherical.seams import seam_difference, seam_excess
from fav_core.spherical.synthetic import rotating_scene
from tests.support import read_png_u8 as read_png
from tests.support import write_png

CUBE = ["--cube-edge", "48", "--overlap", "16"]


def fav(argv: list[str]) -> int:
    """``fav`` with only this sub-command registered (the lead adds it to CORE_COMMANDS)."""
    parser = argparse.ArgumentParser(prog="fav")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


def write_scene(folder: Path, width: int, height: int, frames: int) -> str:
    """The rotating synthetic sphere as equirect PNGs ``eq_0001.png`` ...; returns their pattern."""
    for i in range(1, frames + 1):
        write_png(folder / f"eq_{i:04d}.png", rotating_scene(width, height, i - 1))
    return str(folder / "eq_%04d.png")


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_scene(tmp_path_factory.mktemp("equi"), 128, 64, 3)


@pytest.fixture(scope="module")
def model(tiny_models: tuple[str, str]) -> str:
    return tiny_models[0]


def base(inp: str, out: Path | str, model: str, *extra: str) -> list[str]:
    return ["stylize-360", inp, "-o", str(out), "--model", model, "--flow-preset", "ultrafast", "--progress",
            "none", *extra]


def test_equirect_in_all_layouts_out(tmp_path: Path, scene: str, model: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    argv = base(scene, out, model, *CUBE, "--num-frames", "2", "--out-cubemap", "--faces-pattern",
                "faces/f_%05d-%d.png")
    argv[argv.index("--progress") + 1] = "json"
    assert fav(argv) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["event"] for e in events] == ["start", "frame", "frame", "done"]
    assert events[1]["path"].endswith("frame_00001.png")
    for i in (1, 2):
        assert read_png(out / f"frame_{i:05d}.png").shape == (64, 128, 3)  # input size by default
        assert read_png(out / "cubemap" / f"frame_{i:05d}.png").shape == (32, 192, 3)  # 6 trimmed 32-px faces
        for face_id in range(1, 7):
            assert read_png(out / "faces" / f"f_{i:05d}-{face_id}.png").shape == (48, 48, 3)
    equi = read_png(out / "frame_00001.png")
    assert equi.std() > 2  # a picture, not a flat colour


def test_out_equi_size_into_a_video(tmp_path: Path, scene: str, model: str) -> None:
    video = tmp_path / "equi.mp4"
    assert fav(base(scene, video, model, *CUBE, "--num-frames", "2", "--out-equi", "96x48")) == 0
    frames = open_frames(video)
    assert frames.indices == [1, 2] and frames.size == (48, 96)
    with pytest.raises(ConfigError, match="image-sequence output"):
        fav(base(scene, tmp_path / "again.mp4", model, *CUBE, "--continue-with", "2"))


def test_cube_face_input(tmp_path: Path, model: str) -> None:
    # Faces written the way the reference's transformVRVideo.sh names them: frame_%05d-<file id>.png.
    geom = CubeGeometry(48, 16)
    project = EquirectToCube(geom, (64, 128))
    for i in (1, 2):
        for name, face in zip(FACES, project(rotating_scene(128, 64, i - 1)), strict=True):
            write_png(tmp_path / f"frame_{i:05d}-{FILE_IDS[name]}.png", face)
    out = tmp_path / "out"
    assert fav(base(str(tmp_path / "frame_%05d-%d.png"), out, model, "--overlap", "16")) == 0
    assert read_png(out / "frame_00002.png").shape == (64, 128, 3)  # 4 x 2 faces of 32 px
    settings = json.loads((out / ".fav-state" / "settings.json").read_text())  # kept for --continue-with
    assert settings["flow_margin"] == 8  # half the overlap: wider flow views assembled from the neighbours
    before = (out / "frame_00002.png").stat().st_mtime_ns
    assert fav(base(str(tmp_path / "frame_%05d-%d.png"), out, model, "--overlap", "16")) == 0  # all done already
    assert (out / "frame_00002.png").stat().st_mtime_ns == before
    with pytest.raises(ConfigError, match="give --overlap"):
        fav(base(str(tmp_path / "frame_%05d-%d.png"), tmp_path / "o2", model))


@pytest.mark.slow
def test_continue_with_and_resume_equal_one_run(tmp_path: Path, scene: str, model: str) -> None:
    whole, split, resumed = tmp_path / "whole", tmp_path / "split", tmp_path / "resumed"
    assert fav(base(scene, whole, model, *CUBE, "--faces-pattern", "faces/f_%05d-%d.png")) == 0
    assert fav(base(scene, split, model, *CUBE, "--num-frames", "1", "--faces-pattern", "faces/f_%05d-%d.png")) == 0
    assert not (split / "frame_00002.png").exists()
    assert fav(base(scene, split, model, *CUBE, "--continue-with", "2", "--faces-pattern",
                    "faces/f_%05d-%d.png")) == 0
    assert fav(base(scene, resumed, model, *CUBE, "--num-frames", "2")) == 0
    assert fav(base(scene, resumed, model, *CUBE)) == 0  # picks up at frame 3
    for i in (1, 2, 3):
        ref = read_png(whole / f"frame_{i:05d}.png")
        np.testing.assert_array_equal(read_png(split / f"frame_{i:05d}.png"), ref)
        np.testing.assert_array_equal(read_png(resumed / f"frame_{i:05d}.png"), ref)
        np.testing.assert_array_equal(read_png(split / "faces" / f"f_{i:05d}-6.png"),
                                      read_png(whole / "faces" / f"f_{i:05d}-6.png"))
    with pytest.raises(ConfigError, match="the existing frames were made with"):
        fav(base(scene, whole, model, "--cube-edge", "48", "--overlap", "12"))  # resuming with other settings


def test_bad_options(tmp_path: Path, scene: str, model: str) -> None:
    with pytest.raises(ConfigError, match="WIDTHxHEIGHT"):
        fav(base(scene, tmp_path / "o", model, *CUBE, "--out-equi", "wide"))
    with pytest.raises(ConfigError, match="nothing to write"):
        fav(base(scene, tmp_path / "o", model, *CUBE, "--no-equi"))
    with pytest.raises(ConfigError, match="placeholder"):
        fav(base(scene, tmp_path / "o", model, *CUBE, "--flow", "files", "--flow-pattern", "b_[%d]_{%d}.flo",
                 "--occlusions-pattern", "r_[%d]_{%d}.pgm"))
    with pytest.raises(ConfigError, match="even"):
        fav(base(scene, tmp_path / "o", model, "--cube-edge", "48", "--overlap", "15"))
    assert parse_size("2560x1440") == (1440, 2560)


def test_seam_ratio_against_the_baselines(tmp_path: Path, scene: str, model: str) -> None:
    """The issue's seam metric on the equirect output (8-bit PNGs), ours against the reference's baselines.

    ``seam_difference`` = mean colour difference across cube-face borders; ``seam_excess`` = that minus the
    difference right beside the borders on the same rows/columns (≈ 0 when seamless). With a *random* video
    model the neighbour priors cannot help (a random net does not continue its prior); the border lock (default)
    is what removes most of the seam. Measured (2 frames, 48-px faces): seam_excess ours 0.0018, reference
    baseline 0.0036, independent 0.018. Part of what ours keeps is resampling: the lock copies the neighbour
    through a bilinear warp, which blurs this random net's pixel-scale texture (with a bicubic warp, tried, frame
    2 went from 0.0015 to -0.0007 and frame 1 from 0.0021 to 0.0018). With the trained model
    (bench/seams_360.py) ours is at the floor of a seam-free stylization, the baseline at 0.0050.
    """
    ref = ["--border-maps", "reference"]
    runs = {"ours": [], "reference_baseline": ["--create-inconsistent-border", *ref],
            "independent": ["--create-inconsistent-border", "--no-blend-sides", *ref]}
    index = CubeToEquirect(CubeGeometry(48, 16), (64, 128)).face_index
    seams, excess = {}, {}
    for name, extra in runs.items():
        out = tmp_path / name
        assert fav(base(scene, out, model, *CUBE, "--num-frames", "2", *extra)) == 0
        frames = [read_png(out / f"frame_{i:05d}.png") / 255.0 for i in (1, 2)]
        seams[name] = np.mean([seam_difference(f, index) for f in frames])
        excess[name] = np.mean([seam_excess(f, index) for f in frames])
    print("seam metric:", seams, "excess:", excess)
    assert excess["ours"] < 0.6 * excess["reference_baseline"]
    assert excess["reference_baseline"] < 0.5 * excess["independent"]
    assert seams["reference_baseline"] < 0.6 * seams["independent"]


@pytest.fixture(scope="module")
def small_scene(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_scene(tmp_path_factory.mktemp("equi-256"), 256, 128, 2)


def test_shipped_models_are_seamless(tmp_path: Path, small_scene: str) -> None:
    """With the shipped (trained) models the default method leaves no seam; the reference baseline does.

    256x128 equirect, 80-px faces, 16 px overlap, 2 frames (bench/seams_360.py at this size). Measured:
    seam_excess ours -0.0011, reference baseline +0.0034 (a seam-free stylization scores -0.0005);
    overlap_disagreement ours 0.081 vs 0.120; saturation ours 0.73, the reference method (border-only first
    faces) 0.57.
    """
    index = CubeToEquirect(CubeGeometry(80, 16), (128, 256)).face_index
    ref = ["--border-maps", "reference"]
    runs = {"ours": [], "reference_method": ["--first-faces", "border", "--no-border-lock", *ref],
            "reference_baseline": ["--create-inconsistent-border", *ref]}
    excess, disagreement, saturation = {}, {}, {}
    for name, extra in runs.items():
        out, report = tmp_path / name, tmp_path / f"{name}.json"
        assert fav(["stylize-360", small_scene, "-o", str(out), "--model", "stained-glass-video", "--image-model",
                    "stained-glass-image", "--cube-edge", "80", "--overlap", "16", "--progress", "none",
                    "--evaluate", str(report), *extra]) == 0
        frames = [read_png(out / f"frame_{i:05d}.png") / 255.0 for i in (1, 2)]
        excess[name] = np.mean([seam_excess(f, index) for f in frames])
        disagreement[name] = json.loads(report.read_text())["summary"]["all_faces"]["overlap_disagreement"]
        saturation[name] = np.mean([(f.max(-1) - f.min(-1)) / np.maximum(f.max(-1), 1e-6) for f in frames])
    print("seam_excess", excess, "disagreement", disagreement, "saturation", saturation)
    assert excess["ours"] < 0.2 * excess["reference_baseline"]
    assert disagreement["ours"] < 0.8 * disagreement["reference_baseline"]
    assert saturation["ours"] > saturation["reference_method"] + 0.1


def test_bad_flow_margin_is_refused_before_anything_is_written(tmp_path: Path, scene: str, model: str) -> None:
    out = tmp_path / "o"
    with pytest.raises(ConfigError, match="flow margin must be 0..24 px"):
        fav(base(scene, out, model, *CUBE, "--flow-margin", "100"))
    assert not out.exists() or not any(out.iterdir())
