"""Bad input given to the core directly: always a typed ``FavError`` with a one-line message naming the file."""
from __future__ import annotations

import errno
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import fav_core.budget as budget
from fav_core.errors import (
    ConfigError,
    FavError,
    FlowFormatError,
    InputError,
    ModelLoadError,
    OutputError,
    ShapeError,
)
from fav_core.flow import read_flo, read_flo_header, write_flo
from fav_core.io import ImageSequenceSink, open_frames
from fav_core.io.atomic import atomic_write
from fav_core.modelfile import load_model
from fav_core.motion import FileMotion
from fav_core.nets import build_transformer, parse_arch
from fav_core.pgm import read_pgm, read_pgm_header, write_pgm
from fav_core.runstate import RunState
from fav_core.stylizer import StylizerConfig, resolve_device
from fav_core.types import Frame
from fav_core.warp import warp_backward

from .conftest import make_clip, write_image


def one_line(exc: BaseException, *needles: str) -> None:
    text = str(exc)
    assert isinstance(exc, FavError) and "\n" not in text and text.strip() == text
    for needle in needles:
        assert needle in text, (needle, text)


# ------------------------------------------------------------------------------------------ files


@pytest.mark.parametrize("reader", [read_flo, read_flo_header, read_pgm, read_pgm_header])
def test_readers_on_a_folder_and_a_missing_file(tmp_path: Path, reader) -> None:
    with pytest.raises(InputError) as info:
        reader(tmp_path)
    one_line(info.value, str(tmp_path))
    with pytest.raises(InputError) as info:
        reader(tmp_path / "gone")
    one_line(info.value, "gone", "not found")


def test_write_flo_refuses_nan_and_bad_shapes(tmp_path: Path) -> None:
    with pytest.raises(FlowFormatError) as info:
        write_flo(tmp_path / "n.flo", np.full((2, 2, 2), np.nan, np.float32))
    one_line(info.value, "n.flo", "NaN")
    with pytest.raises(ShapeError):
        write_flo(tmp_path / "s.flo", np.zeros((2, 2, 3), np.float32))
    with pytest.raises(OutputError) as info:
        write_flo(tmp_path / "no" / "such" / "dir.flo", np.zeros((2, 2, 2), np.float32))
    one_line(info.value, "dir.flo")
    assert not (tmp_path / "n.flo").exists() and not (tmp_path / "s.flo").exists()


def test_pgm_header_longer_than_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "c.pgm"
    path.write_bytes(b"P5\n#" + b"x" * 70000 + b"\n2 2\n255\n" + bytes(4))
    with pytest.raises(FlowFormatError) as info:
        read_pgm(path)
    one_line(info.value, "c.pgm", "header")


def test_write_pgm_refuses_nan(tmp_path: Path) -> None:
    with pytest.raises(FlowFormatError):
        write_pgm(tmp_path / "m.pgm", np.full((2, 2), np.nan, np.float32))
    assert not (tmp_path / "m.pgm").exists()


@pytest.mark.parametrize(
    ("spec", "error", "needle"),
    [
        ("in/f_%04d_%04d.png", ConfigError, "more than one"),
        ("in/%04d/f.png", ConfigError, "not in a folder"),
        ("in/f_%4d.png", ConfigError, "space-padded"),
        ("in/x_####.png", InputError, "no files match"),
        ("in", None, None),
        ("nowhere", InputError, "no such file or folder"),
    ],
)
def test_open_frames_patterns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str, error, needle) -> None:
    monkeypatch.chdir(tmp_path)
    make_clip(tmp_path / "in", n=2)
    if error is None:
        assert open_frames(spec).indices == [1, 2]  # a folder of numbered frames works
        return
    with pytest.raises(error) as info:
        open_frames(spec)
    one_line(info.value, needle)


def test_open_frames_bad_colorspace_and_start(tmp_path: Path) -> None:
    inp = make_clip(tmp_path / "in", n=2)
    with pytest.raises(ConfigError):
        open_frames(inp, colorspace="rec709")
    with pytest.raises(InputError) as info:
        open_frames(inp, start=7)
    one_line(info.value, "frame_0007.png")


def test_folder_mixing_sequences_and_types(tmp_path: Path) -> None:
    make_clip(tmp_path / "in", n=2)
    write_image(tmp_path / "in" / "other_0001.png", np.zeros((16, 24, 3), np.uint8))
    with pytest.raises(InputError) as info:
        open_frames(tmp_path / "in")
    one_line(info.value, "more than one sequence")
    write_image(tmp_path / "in" / "other_0001.tif", np.zeros((16, 24, 3), np.uint8))
    with pytest.raises(InputError) as info:
        open_frames(tmp_path / "in")
    one_line(info.value, "mixes image types")


def test_frame_not_in_sequence(tmp_path: Path) -> None:
    source = open_frames(make_clip(tmp_path / "in", n=2))
    with pytest.raises(InputError) as info:
        source.read(5)
    one_line(info.value, "frame 5")


def test_frame_replaced_after_opening_with_another_size(tmp_path: Path) -> None:
    source = open_frames(make_clip(tmp_path / "in", n=2))
    write_image(tmp_path / "in" / "frame_0002.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InputError) as info:
        source.read(2)
    one_line(info.value, "frame_0002.png", "8x8")


# ------------------------------------------------------------------------------------- models, nets


@pytest.mark.parametrize(
    ("arch", "needle"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("c9s1-32,,c9s1-3", "empty token"),
        ("c9s1-32,", "empty token"),
        ("c8s1-32", "odd"),
        ("c9s0-32", "stride"),
        ("c9s1-0", "channel"),
        ("q5", "unknown layer type"),
        ("R", "expected RZ"),
        ("U0", "factor"),
        ("c9x1-32", "expected cXsY-Z"),
        ("d-3", "expected dZ"),
        ("c９s1-3", "expected cXsY-Z"),
    ],
)
def test_bad_arch_strings(arch: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_arch(arch)
    one_line(info.value, needle)


@pytest.mark.parametrize("arch", ["c3s1-8,d8,c3s1-3", "c3s1-8,u8,c3s1-3", "c3s1-8,R16,c3s1-3"])
def test_archs_that_parse_but_cannot_build(arch: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_transformer(arch, 3)
    one_line(info.value)


def test_empty_model_name() -> None:
    with pytest.raises(ModelLoadError):
        load_model("")


@pytest.mark.parametrize("name", ["tpu", "cuda:x", "gpu0", "", "cpu:0:1"])
def test_unknown_devices(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_device(name)
    one_line(info.value)


@pytest.mark.parametrize(
    "kw",
    [{"precision": "fp8"}, {"direction": "sideways"}, {"fill": "zeros"}, {"min_filter": 0},
     {"median_filter": 33}, {"median_filter": 2.0}, {"model": ""}],
)
def test_bad_stylizer_config(kw: dict) -> None:
    args = {"model": "x.safetensors", "device": "cpu", **kw}
    with pytest.raises(ConfigError) as info:
        StylizerConfig(**args)
    one_line(info.value)


def test_warp_shapes() -> None:
    with pytest.raises(ShapeError):
        warp_backward(torch.zeros(2, 3, 4, 4), torch.zeros(1, 2, 4, 4))
    with pytest.raises(ShapeError):
        warp_backward(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))
    with pytest.raises(ShapeError):
        warp_backward(torch.zeros(3, 4, 4), torch.zeros(1, 2, 4, 4))


# ------------------------------------------------------------------------------------------ outputs


@pytest.mark.parametrize("target", ["../evil_%04d.png", "sub/../../evil_%04d.png", "/tmp/evil_%04d.png"])
def test_sink_paths_cannot_leave_the_root(tmp_path: Path, target: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(OutputError) as info:
        ImageSequenceSink(target, root=root)
    one_line(info.value, "leaves the output folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]


def test_atomic_write_on_a_full_disk_keeps_the_old_file(tmp_path: Path) -> None:
    final = tmp_path / "frame_00001.png"
    final.write_bytes(b"the old, whole frame")

    def write(tmp: Path) -> None:
        tmp.write_bytes(b"half a fr")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError) as info:
        atomic_write(final, write)
    one_line(info.value, "frame_00001.png", "disk full")
    assert final.read_bytes() == b"the old, whole frame"
    assert [p.name for p in tmp_path.iterdir()] == ["frame_00001.png"]


# ------------------------------------------------------------------------------------ resume state


def test_pickled_prior_is_not_loaded(tmp_path: Path) -> None:
    state = RunState(tmp_path)
    state.dir.mkdir()
    marker = tmp_path / "marker.txt"

    class Boom:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (exec, (f"open({str(marker)!r}, 'w').write('pwned')",))

    arr = np.empty(1, dtype=object)
    arr[0] = Boom()
    with state.prior_path(3).open("wb") as f:
        np.save(f, arr, allow_pickle=True)
    with pytest.raises(InputError) as info:
        state.load_prior(3, (2, 2))
    one_line(info.value, "prior_000003.npy")
    assert not marker.exists()


def test_prior_of_the_wrong_size_or_type(tmp_path: Path) -> None:
    state = RunState(tmp_path)
    state.save_prior(1, np.zeros((4, 4, 3), np.float32))
    with pytest.raises(InputError) as info:
        state.load_prior(1, (8, 8))
    one_line(info.value, "prior_000001.npy", "(8, 8, 3)")
    state.prior_path(2).write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(InputError):
        state.load_prior(2, (4, 4))


def test_corrupt_settings_record(tmp_path: Path) -> None:
    state = RunState(tmp_path)
    state.dir.mkdir()
    (state.dir / "settings.json").write_text("{not json")
    with pytest.raises(InputError) as info:
        state.check_settings({"a": 1}, resume=True)
    one_line(info.value, "settings.json", "--no-resume")
    (state.dir / "settings.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError):
        state.check_settings({"a": 1}, resume=True)
    (state.dir / "settings.json").write_text(json.dumps({"a": 2}))
    with pytest.raises(ConfigError) as info:
        state.check_settings({"a": 1}, resume=True)
    one_line(info.value, "a=2")


# --------------------------------------------------------------------------- validate before work


def test_file_motion_check_names_the_first_bad_file(tmp_path: Path) -> None:
    for i in (2, 3):
        write_flo(tmp_path / f"b_{i}_{i - 1}.flo", np.zeros((4, 6, 2), np.float32))
        write_pgm(tmp_path / f"r_{i}_{i - 1}.pgm", np.ones((4, 6), np.float32))
    motion = FileMotion(str(tmp_path / "b_[%d]_{%d}.flo"), str(tmp_path / "r_[%d]_{%d}.pgm"))
    motion.check([(2, 1), (3, 2)], (4, 6))  # all fine
    with pytest.raises(FlowFormatError) as info:
        motion.check([(2, 1), (3, 2)], (5, 6))
    one_line(info.value, "b_2_1.flo", "flow is 6x4, frame is 6x5")
    with pytest.raises(InputError) as info:
        motion.check([(2, 1), (3, 2), (4, 3)], (4, 6))
    one_line(info.value, "b_4_3.flo")
    frame = Frame(2, np.zeros((4, 6, 3), np.float32))
    assert motion.motion(frame, Frame(1, np.zeros((4, 6, 3), np.float32))).flow.shape == (4, 6, 2)


def test_budget_estimates_and_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = parse_arch("c3s1-8,d8,R8,u8,c3s1-3")
    # c3s1-8 on a 7-channel input: 7 + 2*8 = 23 values per pixel, x1.25 padding margin, 4 bytes
    assert budget.net_bytes(tokens, 7, (100, 100)) == int(23 * 100 * 100 * 1.25 * 4)
    assert budget.net_bytes(tokens, 7, (100, 100), 2) == int(23 * 100 * 100 * 1.25 * 2)
    monkeypatch.setattr(budget, "available_bytes", lambda: 10 * budget.GIB)
    budget.check_decode("f.png", (1080, 1920))
    with pytest.raises(InputError) as info:
        budget.check_decode("f.png", (30000, 30000))
    one_line(info.value, "f.png", "30000x30000", "10.0 GiB")
    budget.check_stylize("in", (1080, 1920), tokens, 7, "cpu")
    with pytest.raises(ConfigError) as info:
        budget.check_stylize("in", (16384, 16384), tokens, 7, "cpu")
    one_line(info.value, "in:", "16384x16384", "cpu")
    assert budget.available_bytes() == 10 * budget.GIB
    monkeypatch.undo()
    assert budget.available_bytes() > 0


def test_sink_symlink_out_of_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(OutputError) as info:
        ImageSequenceSink("link/f_%04d.png", root=root)
    one_line(info.value, "leaves the output folder")
    assert list(outside.iterdir()) == []


def test_budget_on_cuda_uses_the_gpu_free_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (3 * budget.GIB, 80 * budget.GIB))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: budget.GIB)
    assert budget.device_bytes("cuda:0") == 4 * budget.GIB
    tokens = parse_arch("c3s1-8,d8,R8,u8,c3s1-3")
    budget.check_stylize("in", (4096, 4096), tokens, 7, "cuda:0", 2)  # 23*16.8M*1.25*2 B = 0.9 GiB fits
    with pytest.raises(ConfigError) as info:
        budget.check_stylize("in", (8192, 8192), tokens, 7, "cuda:0", 4)  # 7.2 GiB does not
    one_line(info.value, "8192x8192", "cuda:0", "4.0 GiB")
