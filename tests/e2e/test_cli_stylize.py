"""End-to-end runs of ``fav stylize`` / ``fav flow`` on clips the tests generate, with tiny random models."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fav_core.cli.main import main
from tests.support import make_clip
from tests.support import read_png_u8 as read_image

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def models(tiny_models: tuple[str, str]) -> tuple[str, str]:
    return tiny_models


def stylize_args(inp: str, out: str, models: tuple[str, str], *extra: str) -> list[str]:
    return ["stylize", inp, "-o", out, "--model", models[0], "--image-model", models[1],
            "--flow-preset", "fast", "--progress", "none", *extra]


def frames_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix == ".png")


def test_stylize_image_sequence(tmp_path: Path, models: tuple[str, str]) -> None:
    inp = make_clip(tmp_path / "in", 6)
    out = tmp_path / "out"
    assert main(stylize_args(inp, str(out), models)) == 0
    files = frames_in(out)
    assert [p.name for p in files] == [f"frame_{i:05d}.png" for i in range(1, 7)]
    img = read_image(files[0])
    assert img.shape == (24, 32, 3) and img.dtype == np.uint8
    assert img.std() > 0  # a real image, not a flat colour
    assert not list(out.glob(".tmp*")) and not list(out.glob("*.tmp*"))


def test_stylize_video_in_and_out(tmp_path: Path, models: tuple[str, str]) -> None:
    import av

    inp = make_clip(tmp_path / "in", n=5)
    mp4 = tmp_path / "clip.mp4"
    assert main(stylize_args(inp, str(mp4), models, "--median-filter", "1")) == 0
    out = tmp_path / "again.mp4"
    assert main(stylize_args(str(mp4), str(out), models)) == 0
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 5 and frames[0].shape[:2] == (24, 32)


def test_continue_with_gives_the_same_frames_as_one_run(tmp_path: Path, models: tuple[str, str]) -> None:
    inp = make_clip(tmp_path / "in", 6)
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(stylize_args(inp, str(one), models)) == 0
    assert main(stylize_args(inp, str(two), models, "--num-frames", "3")) == 0
    assert len(frames_in(two)) == 3
    assert main(stylize_args(inp, str(two), models, "--continue-with", "4")) == 0
    for a, b in zip(frames_in(one), frames_in(two), strict=True):
        np.testing.assert_array_equal(read_image(a), read_image(b))


def test_backward_direction_runs_from_the_end(tmp_path: Path, models: tuple[str, str]) -> None:
    inp = make_clip(tmp_path / "in", n=4)
    fwd, bwd = tmp_path / "fwd", tmp_path / "bwd"
    assert main(stylize_args(inp, str(fwd), models)) == 0
    assert main(stylize_args(inp, str(bwd), models, "--backward")) == 0
    f, b = frames_in(fwd), frames_in(bwd)
    assert len(b) == 4
    # the first processed frame has no prior in both runs: frame 1 forward == per-frame of frame 1, and
    # backward's frame 4 equals the per-frame result of frame 4
    per = tmp_path / "per"
    assert main(stylize_args(inp, str(per), models, "--per-frame")) == 0
    p = frames_in(per)
    np.testing.assert_array_equal(read_image(f[0]), read_image(p[0]))
    np.testing.assert_array_equal(read_image(b[3]), read_image(p[3]))
    assert not np.array_equal(read_image(b[0]), read_image(p[0]))


def test_flow_files_round_trip_through_fav_flow(tmp_path: Path, models: tuple[str, str]) -> None:
    inp = make_clip(tmp_path / "in", n=4)
    flow_dir = tmp_path / "flow"
    assert main(["flow", inp, "-o", str(flow_dir), "--preset", "fast", "--progress", "none"]) == 0
    names = sorted(p.name for p in flow_dir.iterdir())
    assert "backward_2_1.flo" in names and "forward_1_2.flo" in names
    assert "reliable_2_1.pgm" in names and "reliable_1_2.pgm" in names
    computed, files = tmp_path / "computed", tmp_path / "files"
    assert main(stylize_args(inp, str(computed), models)) == 0
    assert main(stylize_args(inp, str(files), models, "--flow", "files",
                             "--flow-pattern", str(flow_dir / "backward_[%d]_{%d}.flo"),
                             "--occlusions-pattern", str(flow_dir / "reliable_[%d]_{%d}.pgm"))) == 0
    for a, b in zip(frames_in(computed), frames_in(files), strict=True):
        diff = np.abs(read_image(a).astype(int) - read_image(b).astype(int))
        assert diff.max() <= 1  # identical flows; only float rounding of the stored .flo may differ


def run_cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fav_core.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, **kw)


def test_json_progress_protocol(tmp_path: Path, models: tuple[str, str]) -> None:
    inp = make_clip(tmp_path / "in", n=3)
    args = stylize_args(inp, str(tmp_path / "out"), models)
    args[args.index("none")] = "json"
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    assert [e["event"] for e in events] == ["start", "frame", "frame", "frame", "done"]
    assert events[0]["total"] == 3 and [e["index"] for e in events[1:4]] == [1, 2, 3]
    assert events[3]["path"].endswith("frame_00003.png")


def test_sigkill_then_resume_is_bit_identical(tmp_path: Path, models: tuple[str, str]) -> None:
    inp = make_clip(tmp_path / "in", n=12, h=48, w=64)
    ref = tmp_path / "ref"
    assert main(stylize_args(inp, str(ref), models)) == 0
    out = tmp_path / "out"
    args = stylize_args(inp, str(out), models)
    args[args.index("none")] = "json"
    proc = subprocess.Popen([sys.executable, "-m", "fav_core.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    seen = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        if json.loads(line)["event"] == "frame":
            seen += 1
            if seen == 3:
                os.kill(proc.pid, signal.SIGKILL)
                break
    proc.wait(timeout=60)
    partial = frames_in(out)
    assert 3 <= len(partial) < 12
    (out / ".frame_00004.tmp-abc.png").write_bytes(b"half a frame")  # as a kill mid-write leaves
    res = run_cli(*stylize_args(inp, str(out), models))
    assert res.returncode == 0, res.stderr
    assert "resuming" in res.stderr
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name]
    for a, b in zip(frames_in(ref), frames_in(out), strict=True):
        np.testing.assert_array_equal(read_image(a), read_image(b))


def test_sigterm_cancels_cleanly(tmp_path: Path, models: tuple[str, str]) -> None:
    inp = make_clip(tmp_path / "in", n=12, h=48, w=64)
    out = tmp_path / "out"
    args = stylize_args(inp, str(out), models)
    args[args.index("none")] = "json"
    proc = subprocess.Popen([sys.executable, "-m", "fav_core.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    for line in proc.stdout:
        if json.loads(line)["event"] == "frame":
            proc.send_signal(signal.SIGTERM)
            break
    rest = proc.stdout.read()
    assert proc.wait(timeout=60) == 130
    events = [json.loads(line) for line in rest.splitlines()]
    cancelled = [e for e in events if e["event"] == "cancelled"]
    assert len(cancelled) == 1
    written = frames_in(out)
    assert cancelled[0]["done"] == len(written) and 1 <= len(written) < 12
    for p in written:
        assert read_image(p).shape == (48, 64, 3)


@pytest.mark.parametrize(
    "case",
    ["missing_input", "missing_model", "flow_files_without_patterns", "wrong_size_flow", "bad_video",
     "pass_without_vectors"],
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, models: tuple[str, str], case: str) -> None:
    inp = make_clip(tmp_path / "in", n=3)
    out = tmp_path / "out"
    if case == "missing_input":
        args, needle = stylize_args(str(tmp_path / "nope_%04d.png"), str(out), models), "nope_"
    elif case == "missing_model":
        args = stylize_args(inp, str(out), (str(tmp_path / "ghost.safetensors"), models[1]))
        needle = "ghost"
    elif case == "flow_files_without_patterns":
        args, needle = stylize_args(inp, str(out), models, "--flow", "files"), "--flow-pattern"
    elif case == "wrong_size_flow":
        from fav_core.flow import write_flo
        from fav_core.pgm import write_pgm

        fd = tmp_path / "flow"
        fd.mkdir()
        for i in (2, 3):
            write_flo(fd / f"backward_{i}_{i - 1}.flo", np.zeros((10, 10, 2), np.float32))
            write_pgm(fd / f"reliable_{i}_{i - 1}.pgm", np.ones((24, 32), np.float32))
        args = stylize_args(inp, str(out), models, "--flow", "files",
                            "--flow-pattern", str(fd / "backward_[%d]_{%d}.flo"),
                            "--occlusions-pattern", str(fd / "reliable_[%d]_{%d}.pgm"))
        needle = "backward_2_1.flo"
    elif case == "pass_without_vectors":
        args, needle = stylize_args(inp, str(out), models, "--flow", "pass"), "frame_0001.png"
    else:
        bad = tmp_path / "broken.mp4"
        bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 20)
        args, needle = stylize_args(str(bad), str(out), models), "broken.mp4"
    res = run_cli(*args)
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("fav: error:") and needle in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    if case == "wrong_size_flow":  # flow files are checked before any work starts: nothing was written
        assert not out.exists() or frames_in(out) == []


def test_compare_prints_the_flicker_ratio(tmp_path: Path, models: tuple[str, str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    inp = make_clip(tmp_path / "in", n=4)
    out = tmp_path / "cmp"
    assert main(["compare", inp, "--model", models[0], "--image-model", models[1], "-o", str(out),
                 "--flow-preset", "fast", "--progress", "none"]) == 0
    assert len(frames_in(out / "temporal")) == 4 and len(frames_in(out / "per-frame")) == 4
    report = json.loads((out / "report" / "evaluation.json").read_text())
    assert "temporal_error_ratio" in json.dumps(report)
    assert "temporal error ratio stylized / per-frame" in capsys.readouterr().out
    assert (out / "report" / "comparison.mp4").stat().st_size > 0


def test_rerun_of_a_finished_job_does_nothing(tmp_path: Path, models: tuple[str, str]) -> None:
    inp = make_clip(tmp_path / "in", n=3)
    out = tmp_path / "out"
    assert main(stylize_args(inp, str(out), models)) == 0
    before = {p.name: p.stat().st_mtime_ns for p in frames_in(out)}
    res = run_cli(*stylize_args(inp, str(out), models))
    assert res.returncode == 0, res.stderr
    assert "already done" in res.stderr
    assert {p.name: p.stat().st_mtime_ns for p in frames_in(out)} == before


def test_backward_run_into_a_video_is_in_frame_order(tmp_path: Path, models: tuple[str, str]) -> None:
    import av

    inp = make_clip(tmp_path / "in", n=5, h=48, w=64)
    pngs, mp4 = tmp_path / "bwd", tmp_path / "bwd.mp4"
    assert main(stylize_args(inp, str(pngs), models, "--backward")) == 0
    assert main(stylize_args(inp, str(mp4), models, "--backward")) == 0
    with av.open(str(mp4)) as c:
        video = [f.to_ndarray(format="rgb24").astype(float) for f in c.decode(video=0)]
    ref = [read_image(p).astype(float) for p in frames_in(pngs)]
    assert len(video) == len(ref) == 5
    same = [np.abs(v - r).mean() for v, r in zip(video, ref, strict=True)]
    swapped = [np.abs(v - r).mean() for v, r in zip(video, ref[::-1], strict=True)]
    assert max(same) < 10.0  # H.264 (yuv420, crf 18) on tiny noisy frames: about 6-7 levels here
    assert max(same) < 0.5 * np.mean([s for i, s in enumerate(swapped) if i != 2])
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".fav-reorder")]
