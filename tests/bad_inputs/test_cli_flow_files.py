"""``fav stylize --flow files`` with bad flow / reliability files: checked before work where possible."""
from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fav_core.flow import write_flo
from fav_core.pgm import write_pgm

from .conftest import assert_one_line_error, make_clip, plant, snapshot, stylize_args

Fav = Callable[..., tuple[int, str]]
H, W, N = 16, 24, 4


def flow_files(folder: Path, n: int = N) -> tuple[str, str]:
    """Valid backward flows (1 px to the left) and all-reliable maps for frames 2..n."""
    folder.mkdir(parents=True, exist_ok=True)
    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0] = -1.0
    for i in range(2, n + 1):
        write_flo(folder / f"backward_{i}_{i - 1}.flo", flow)
        write_pgm(folder / f"reliable_{i}_{i - 1}.pgm", np.ones((H, W), np.float32))
    return str(folder / "backward_[%d]_{%d}.flo"), str(folder / "reliable_[%d]_{%d}.pgm")


def flow_args(inp: str, out: Path, models: tuple[str, str], patterns: tuple[str, str], *extra: str) -> list[str]:
    return stylize_args(inp, str(out), models, "--flow", "files", "--flow-pattern", patterns[0],
                        "--occlusions-pattern", patterns[1], *extra)


def flo_bytes(w: int, h: int, values: np.ndarray | None = None, tag: float = 202021.25) -> bytes:
    data = np.zeros((h, w, 2), "<f4") if values is None else values.astype("<f4")
    return struct.pack("<fii", tag, w, h) + data.tobytes()


def break_flo(path: Path, how: str) -> None:
    good = path.read_bytes()
    if how == "missing":
        path.unlink()
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "bad magic":
        path.write_bytes(b"JUNK" + good[4:])
    elif how == "short":
        path.write_bytes(good[:-8])
    elif how == "oversized":
        path.write_bytes(good + b"\0" * 64)
    elif how == "huge header":
        path.write_bytes(struct.pack("<fii", 202021.25, 1 << 20, 1 << 20))
    elif how == "wrong size":
        path.write_bytes(flo_bytes(W // 2, H // 2))


@pytest.mark.parametrize(
    ("how", "needle"),
    [
        ("missing", "flow file not found"),
        ("empty", "not a .flo file"),
        ("bad magic", "not a .flo file"),
        ("short", "truncated or padded"),
        ("oversized", "truncated or padded"),
        ("huge header", "bad size"),
        ("wrong size", "flow is 12x8, frame is 24x16"),
    ],
)
def test_bad_flo_is_found_before_any_work(tmp_path: Path, models: tuple[str, str], fav: Fav, how: str,
                                          needle: str) -> None:
    inp = make_clip(tmp_path / "in", n=N, h=H, w=W)
    patterns = flow_files(tmp_path / "flow")
    break_flo(tmp_path / "flow" / "backward_4_3.flo", how)
    out = tmp_path / "out"
    before = plant(out)
    rc, err = fav(*flow_args(inp, out, models, patterns))
    assert_one_line_error(rc, err, "backward_4_3.flo", needle)
    assert snapshot(out) == before  # not even frame 1 was written


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_flow_stops_at_that_frame_earlier_frames_whole(tmp_path: Path, models: tuple[str, str],
                                                                  fav: Fav, bad: float) -> None:
    inp = make_clip(tmp_path / "in", n=N, h=H, w=W)
    patterns = flow_files(tmp_path / "flow")
    values = np.zeros((H, W, 2), np.float32)
    values[5, 6, 1] = bad
    (tmp_path / "flow" / "backward_3_2.flo").write_bytes(flo_bytes(W, H, values))
    out = tmp_path / "out"
    before = plant(out)
    rc, err = fav(*flow_args(inp, out, models, patterns))
    assert_one_line_error(rc, err, "backward_3_2.flo", "1 pixel(s) hold NaN or Inf")
    after = snapshot(out)
    assert {k: after[k] for k in before} == before
    assert sorted(k for k in after if k.startswith("frame_0000")) == ["frame_00001.png", "frame_00002.png"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"P5\n12 8\n255\n" + bytes(96), "reliability map is 12x8, frame is 24x16"),
        (b"P5\n24 16\n70000\n" + bytes(2 * H * W), "unsupported PGM depth"),
        (b"P6\n24 16\n255\n" + bytes(3 * H * W), "not a greyscale PGM"),
        (b"P5\n24 16\n255\n" + bytes(10), "truncated PGM data"),
        (b"P5\n24 sixteen\n255\n", "bad PGM header field"),
        (b"", "not a greyscale PGM"),
    ],
)
def test_bad_pgm_is_found_before_any_work(tmp_path: Path, models: tuple[str, str], fav: Fav, content: bytes,
                                          needle: str) -> None:
    inp = make_clip(tmp_path / "in", n=N, h=H, w=W)
    patterns = flow_files(tmp_path / "flow")
    (tmp_path / "flow" / "reliable_3_2.pgm").write_bytes(content)
    out = tmp_path / "out"
    before = plant(out)
    rc, err = fav(*flow_args(inp, out, models, patterns))
    assert_one_line_error(rc, err, "reliable_3_2.pgm", needle)
    assert snapshot(out) == before


def test_pgm_value_above_maxval(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    inp = make_clip(tmp_path / "in", n=N, h=H, w=W)
    patterns = flow_files(tmp_path / "flow")
    (tmp_path / "flow" / "reliable_2_1.pgm").write_bytes(b"P5\n24 16\n1\n" + bytes([2]) * (H * W))
    rc, err = fav(*flow_args(inp, tmp_path / "out", models, patterns))
    assert_one_line_error(rc, err, "reliable_2_1.pgm", "exceeds maxval 1")


@pytest.mark.parametrize("which", ["flow", "occlusions"])
def test_flow_pattern_without_placeholder(tmp_path: Path, models: tuple[str, str], fav: Fav, which: str) -> None:
    inp = make_clip(tmp_path / "in", n=N, h=H, w=W)
    flow_p, occ_p = flow_files(tmp_path / "flow")
    if which == "flow":
        flow_p = str(tmp_path / "flow" / "backward_%d.flo")
    else:
        occ_p = str(tmp_path / "flow" / "reliable.pgm")
    rc, err = fav(*flow_args(inp, tmp_path / "out", models, (flow_p, occ_p)))
    assert_one_line_error(rc, err, "[%d]", "{%d}")


def test_failed_rerun_leaves_the_earlier_run_untouched(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    """A finished job re-run with --no-resume and a broken flow file: the old frames and state stay byte-equal."""
    inp = make_clip(tmp_path / "in", n=N, h=H, w=W)
    patterns = flow_files(tmp_path / "flow")
    out = tmp_path / "out"
    rc, err = fav(*flow_args(inp, out, models, patterns))
    assert rc == 0, err
    before = snapshot(out)
    assert ".fav-state/settings.json" in before and "frame_00004.png" in before
    (tmp_path / "flow" / "reliable_4_3.pgm").unlink()
    rc, err = fav(*flow_args(inp, out, models, patterns, "--no-resume"))
    assert_one_line_error(rc, err, "reliable_4_3.pgm", "not found")
    assert snapshot(out) == before
