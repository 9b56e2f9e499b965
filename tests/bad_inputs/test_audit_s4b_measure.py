"""Audit of the measuring and conversion commands (``fav evaluate``, ``compare``, ``flow``, ``models``,
``import-t7``) as a TD uses them: hand-checked numbers on tiny clips and the failures found by the audit."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from fav_core.flow import write_flo
from tests.bad_inputs.conftest import assert_one_line_error, make_clip, write_image

H, W, N = 16, 24, 3


@pytest.fixture
def clip(tmp_path: Path) -> dict[str, str]:
    """Input == stylized clip (panning 1 px right per frame) with exact backward flow files (dx = -1)."""
    inp = make_clip(tmp_path / "input", n=N, h=H, w=W)
    gt = tmp_path / "gt"
    gt.mkdir()
    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0] = -1.0
    for i in range(2, N + 1):
        write_flo(gt / f"backward_{i}_{i - 1}.flo", flow)
    return {"input": inp, "input_dir": str(tmp_path / "input"), "flow": str(gt / "backward_[%d]_{%d}.flo"),
            "root": str(tmp_path)}


def test_vgg16_without_weights_never_downloads(clip: dict[str, str], fav: Callable[..., tuple[int, str]],
                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--style-image`` with the default vgg16 and no cached weights: one line saying what to do, no download."""
    calls: list[object] = []
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: calls.append(a))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    style = write_image(tmp_path / "style.png", np.full((20, 10, 3), 128, np.uint8))
    rc, err = fav("evaluate", clip["input"], "--input", clip["input"], "-o", str(tmp_path / "rep"),
                  "--flow-pattern-eval", clip["flow"], "--style-image", str(style), "--no-video")
    assert_one_line_error(rc, err, "--loss-weights", "random-multiscale")
    assert calls == []
    assert not (tmp_path / "rep").exists()


def test_rerun_removes_the_earlier_reports_heat_map_and_video(clip: dict[str, str],
                                                              fav: Callable[..., tuple[int, str]]) -> None:
    """A second evaluation into the same folder leaves only its own pictures (a heat map of another frame and a
    comparison video of the earlier run were kept next to the new report)."""
    rep = Path(clip["root"]) / "rep"
    base = ("evaluate", clip["input"], "--input", clip["input"], "-o", str(rep), "--flow-pattern-eval", clip["flow"])
    assert fav(*base, "--heatmap-frame", "2")[0] == 0
    assert {p.name for p in rep.iterdir()} >= {"heatmap_00002.png", "comparison.mp4", "evaluation.json"}
    assert fav(*base, "--heatmap-frame", "3", "--no-video")[0] == 0
    assert sorted(p.name for p in rep.iterdir()) == ["errors.png", "evaluation.csv", "evaluation.json",
                                                     "heatmap_00003.png"]


@pytest.mark.parametrize("which", ["input", "stylized"])
def test_report_folder_equal_to_a_frame_folder_is_refused(clip: dict[str, str], fav: Callable[..., tuple[int, str]],
                                                          which: str, tmp_path: Path) -> None:
    """``-o`` = the frames' folder wrote errors.png/heat maps among the frames; the next evaluation then failed."""
    sty = make_clip(tmp_path / "stylized", n=N, h=H, w=W)
    before = sorted(p.name for p in (tmp_path / which).iterdir())
    rc, err = fav("evaluate", sty, "--input", clip["input"], "-o", str(tmp_path / which),
                  "--flow-pattern-eval", clip["flow"], "--no-video")
    assert_one_line_error(rc, err, f"{which} frames", "choose another -o")
    assert sorted(p.name for p in (tmp_path / which).iterdir()) == before


def _read_u8(pattern: str, i: int) -> np.ndarray:
    import OpenImageIO as oiio

    return np.asarray(oiio.ImageBuf(pattern % i).get_pixels(oiio.UINT8), np.float64) / 255.0


def test_sintel_layout_start_frame_names_png_occlusions_backward_eval(tmp_path: Path,
                                                                      fav: Callable[..., tuple[int, str]]) -> None:
    """Sintel ground truth as shipped: ``flow/frame_0001.flo`` = forward flow 1 -> 2 and
    ``occlusions/frame_0001.png`` white = occluded, named by the start frame only. ``--backward-eval
    --invert-occlusion-eval`` gives the hand-computed E_i = mean((m ⊙ warp(out_i, ŵ) − m ⊙ out_{i−1})²),
    m = 1 − occlusion of frame i−1 (the patterns needed a {%d} and the masks had to be PGM)."""
    import json

    inp = make_clip(tmp_path / "input", n=N, h=H, w=W)
    rng = np.random.default_rng(5)
    (tmp_path / "sty").mkdir()
    for i in range(1, N + 1):
        noisy = np.clip(_read_u8(inp, i) * 255 + rng.integers(-20, 21, (H, W, 3)), 0, 255).astype(np.uint8)
        write_image(tmp_path / "sty" / f"frame_{i:04d}.png", noisy)
    sty = str(tmp_path / "sty" / "frame_%04d.png")
    (tmp_path / "flow").mkdir()
    (tmp_path / "occlusions").mkdir()
    fwd = np.zeros((H, W, 2), np.float32)
    fwd[..., 0] = 1.0  # pixel x of frame i-1 is at x+1 in frame i
    occ = np.zeros((H, W), np.uint8)
    occ[:, -1] = 255  # leaves the frame
    occ[4, 7] = 255
    for i in range(1, N):
        write_flo(tmp_path / "flow" / f"frame_{i:04d}.flo", fwd)
        write_image(tmp_path / "occlusions" / f"frame_{i:04d}.png", occ)
    rep = tmp_path / "rep"
    rc, err = fav("evaluate", sty, "--input", inp, "-o", str(rep), "--no-video", "--backward-eval",
                  "--invert-occlusion-eval", "--flow-pattern-eval", str(tmp_path / "flow" / "frame_[%04d].flo"),
                  "--occlusions-pattern-eval", str(tmp_path / "occlusions" / "frame_[%04d].png"))
    assert rc == 0, err
    m = (1.0 - occ / 255.0)[..., None]
    expected = []
    for i in range(2, N + 1):
        cur, prev = _read_u8(sty, i), _read_u8(sty, i - 1)
        warped = np.zeros_like(cur)
        warped[:, :-1] = cur[:, 1:]
        expected.append(float(np.mean((m * warped - m * prev) ** 2)))
    got = [r["temporal_error"] for r in json.loads((rep / "evaluation.json").read_text())["frames"]["stylized"]]
    assert got[0] is None
    np.testing.assert_allclose(got[1:], expected, rtol=1e-5)
    assert min(expected) > 1e-4


def test_eval_pattern_without_start_placeholder_is_one_line(clip: dict[str, str],
                                                            fav: Callable[..., tuple[int, str]]) -> None:
    rc, err = fav("evaluate", clip["input"], "--input", clip["input"], "-o", str(Path(clip["root"]) / "rep"),
                  "--flow-pattern-eval", str(Path(clip["root"]) / "gt" / "frame_%04d.flo"))
    assert_one_line_error(rc, err, "needs a [%d] (start frame) placeholder")


def test_models_lists_shadowed_duplicates_and_warns_about_a_broken_one(
        tmp_path: Path, models: tuple[str, str], capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two folders on $FAV_MODEL_PATH with one name: the hidden file is listed (--json stays valid JSON on
    stdout); a broken file that takes a name says which file it hides."""
    import json
    import shutil

    from fav_core.cli.main import main

    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    shutil.copy(models[0], first / "mine.safetensors")
    shutil.copy(models[1], second / "mine.safetensors")
    shutil.copy(models[1], second / "other.safetensors")
    (first / "other.safetensors").write_bytes(b"not a model")
    monkeypatch.setenv("FAV_MODEL_PATH", f"{first}:{second}")
    capsys.readouterr()
    assert main(["models", "--json"]) == 0
    captured = capsys.readouterr()
    listed = {m["name"]: m for m in json.loads(captured.out)}
    assert listed["mine"]["path"] == str(first / "mine.safetensors")
    assert listed["mine"]["shadowed"] == [str(second / "mine.safetensors")]
    assert "other" not in listed
    assert f"taken by the unreadable {first / 'other.safetensors'}, which hides {second / 'other.safetensors'}" \
        in caplog.text
    assert main(["models"]) == 0
    assert f"shadowed: {second / 'mine.safetensors'}" in capsys.readouterr().out


def test_compare_num_frames_evaluates_that_many_without_a_length_warning(
        tmp_path: Path, models: tuple[str, str], fav: Callable[..., tuple[int, str]],
        caplog: pytest.LogCaptureFixture) -> None:
    """``fav compare --num-frames 2`` on a 3-frame clip warned "sequences differ in length" (the evaluation got
    the whole input); its ratio is the one of the two evaluations it is made of."""
    import json

    inp = make_clip(tmp_path / "input", n=3, h=H, w=W)
    out = tmp_path / "cmp"
    rc, err = fav("compare", inp, "-o", str(out), "--model", models[0], "--image-model", models[1],
                  "--num-frames", "2", "--flow-preset", "ultrafast", "--progress", "none", "--device", "cpu")
    assert rc == 0, err
    assert "differ in length" not in caplog.text
    rep = json.loads((out / "report" / "evaluation.json").read_text())
    assert rep["settings"]["evaluated_frames"] == 2
    s = rep["summary"]
    assert s["temporal_error_ratio"] == pytest.approx(s["stylized"]["temporal_error"]["mean"]
                                                      / s["per_frame"]["temporal_error"]["mean"], rel=1e-12)
    means = []
    for name in ("temporal", "per-frame"):
        assert fav("evaluate", str(out / name), "--input", inp, "--num-frames", "2", "--flow-preset", "ultrafast",
                   "-o", str(tmp_path / f"ev_{name}"), "--no-video")[0] == 0
        ev = json.loads((tmp_path / f"ev_{name}" / "evaluation.json").read_text())
        assert ev["settings"]["evaluated_frames"] == 2
        means.append(ev["summary"]["stylized"]["temporal_error"]["mean"])
    assert s["temporal_error_ratio"] == pytest.approx(means[0] / means[1], rel=1e-12)


@pytest.mark.parametrize("frame", ["1", "99"])
def test_heatmap_frame_without_a_temporal_error_is_one_line(clip: dict[str, str], frame: str,
                                                            fav: Callable[..., tuple[int, str]]) -> None:
    """``--heatmap-frame`` 1 (no temporal error) or a frame the clip lacks wrote no heat map and said nothing."""
    rc, err = fav("evaluate", clip["input"], "--input", clip["input"], "-o", str(Path(clip["root"]) / "rep"),
                  "--flow-pattern-eval", clip["flow"], "--no-video", "--heatmap-frame", frame)
    assert_one_line_error(rc, err, f"--heatmap-frame {frame}", f"frames 2..{N} have one")


def test_stylized_of_another_size_names_both_sequences_before_any_flow(
        clip: dict[str, str], tmp_path: Path, fav: Callable[..., tuple[int, str]]) -> None:
    big = make_clip(tmp_path / "big", n=N, h=2 * H, w=2 * W)
    rc, err = fav("evaluate", big, "--input", clip["input"], "-o", str(tmp_path / "rep"), "--no-video")
    assert_one_line_error(rc, err, big, f"stylized frames are {2 * W}x{2 * H}", f"{clip['input']} is {W}x{H}")
    assert not (tmp_path / "rep").exists()


def test_evaluate_flow_raft_takes_local_weights(clip: dict[str, str], tmp_path: Path,
                                                fav: Callable[..., tuple[int, str]]) -> None:
    """``--flow raft`` was offered but no weights could be given ("missing a required argument: 'weights_path'")."""
    base = ("evaluate", clip["input"], "--input", clip["input"], "-o", str(tmp_path / "rep"), "--no-video",
            "--flow", "raft")
    assert_one_line_error(*fav(*base), "--flow raft needs --raft-weights PATH")
    rc, err = fav(*base, "--raft-weights", str(tmp_path / "raft.txt"))
    assert_one_line_error(rc, err, "raft.txt", "RAFT weights must be one of")  # the file reached the provider


def test_flow_into_a_folder_of_another_clips_flows_is_refused(tmp_path: Path,
                                                              fav: Callable[..., tuple[int, str]]) -> None:
    """``fav flow`` kept the 24x16 files of an earlier clip for a 33x25 clip and reported success."""
    out = tmp_path / "flo"
    small = make_clip(tmp_path / "small", n=2, h=H, w=W)
    assert fav("flow", small, "-o", str(out), "--preset", "ultrafast", "--progress", "none")[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert fav("flow", small, "-o", str(out), "--preset", "ultrafast", "--progress", "none")[0] == 0  # resumes
    other = make_clip(tmp_path / "other", n=2, h=25, w=33)
    rc, err = fav("flow", other, "-o", str(out), "--preset", "ultrafast", "--progress", "none")
    assert_one_line_error(rc, err, "forward_1_2.flo", f"left by another clip ({W}x{H}, the frames are 33x25)")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_evaluate_device_cuda_without_cuda_is_one_line(clip: dict[str, str], tmp_path: Path,
                                                       fav: Callable[..., tuple[int, str]]) -> None:
    """``--device cuda`` on a CPU-only torch printed a traceback (AssertionError: Torch not compiled with CUDA)."""
    rc, err = fav("evaluate", clip["input"], "--input", clip["input"], "-o", str(tmp_path / "rep"), "--no-video",
                  "--flow-pattern-eval", clip["flow"], "--loss-network", "random-multiscale", "--device", "cuda")
    assert_one_line_error(rc, err, "--device cpu")


def test_flow_method_raft_without_weights_is_one_line_and_makes_no_folder(
        tmp_path: Path, fav: Callable[..., tuple[int, str]]) -> None:
    """``fav flow --method raft`` without ``--raft-weights`` was a TypeError traceback after making the folder."""
    inp = make_clip(tmp_path / "input", n=2, h=H, w=W)
    rc, err = fav("flow", inp, "-o", str(tmp_path / "flo"), "--method", "raft", "--progress", "none")
    assert_one_line_error(rc, err, "--method raft needs --raft-weights PATH")
    assert not (tmp_path / "flo").exists()


def test_report_folder_holding_the_stylized_video_is_fine(clip: dict[str, str], tmp_path: Path,
                                                          fav: Callable[..., tuple[int, str]]) -> None:
    """Only a frame *folder* is refused: ``fav evaluate shot/out.mp4 ... -o shot`` writes its report there."""
    import av

    shot = tmp_path / "shot"
    shot.mkdir()
    with av.open(str(shot / "out.mkv"), "w") as container:
        stream = container.add_stream("ffv1", rate=24)
        stream.width, stream.height, stream.pix_fmt = W, H, "bgr0"
        for i in range(1, N + 1):
            rgb = np.round(_read_u8(clip["input"], i) * 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="bgr0")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    rc, err = fav("evaluate", str(shot / "out.mkv"), "--input", clip["input"], "-o", str(shot), "--no-video",
                  "--flow-pattern-eval", clip["flow"])
    assert rc == 0, err
    assert (shot / "evaluation.json").is_file()


def test_a_stylized_video_named_comparison_mp4_is_never_replaced_or_removed(
        clip: dict[str, str], tmp_path: Path, fav: Callable[..., tuple[int, str]]) -> None:
    """The report folder holding the evaluated ``comparison.mp4`` (an earlier report's video evaluated again):
    writing the new video would replace it, and --no-video would have deleted it as stale."""
    first = tmp_path / "first"
    assert fav("evaluate", clip["input"], "--input", clip["input"], "-o", str(first),
               "--flow-pattern-eval", clip["flow"])[0] == 0
    video = first / "comparison.mp4"
    before = video.read_bytes()
    base = ("evaluate", str(video), "--input", str(video), "-o", str(first), "--flow-preset", "ultrafast")
    assert_one_line_error(*fav(*base), "comparison.mp4", "is one of the evaluated sequences", "--no-video")
    rc, err = fav(*base, "--no-video")
    assert rc == 0, err
    assert video.read_bytes() == before


def test_models_warns_about_a_model_path_entry_that_is_not_a_folder(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A typo in $FAV_MODEL_PATH (or a model file given instead of its folder) was ignored without a word."""
    from fav_core.cli.main import main

    model_file = tmp_path / "mine.safetensors"
    model_file.write_bytes(b"x")
    monkeypatch.setenv("FAV_MODEL_PATH", f"{tmp_path / 'typo'}:{model_file}")
    assert main(["models", "--json"]) == 0
    capsys.readouterr()
    assert f"FAV_MODEL_PATH entry {tmp_path / 'typo'} is not a folder" in caplog.text
    assert f"FAV_MODEL_PATH entry {model_file} is not a folder" in caplog.text
