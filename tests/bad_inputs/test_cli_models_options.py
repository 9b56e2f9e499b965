"""``fav stylize`` with bad models, options and outputs: one-line errors, exit 2, nothing damaged."""
from __future__ import annotations

import errno
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import fav_core.io.sinks as sinks
from fav_core.nets import build_transformer

from .conftest import ARCH, assert_one_line_error, make_clip, plant, snapshot, stylize_args

Fav = Callable[..., tuple[int, str]]


def tensors_with_meta(path: Path, arch: str, in_channels: int, meta: dict) -> Path:
    """A safetensors file holding the weights of ``arch`` and arbitrary ``fav_model`` metadata."""
    torch.manual_seed(0)
    net = build_transformer(arch, in_channels)
    tensors = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    save_file(tensors, str(path), metadata={"fav_model": json.dumps(meta), "format": "pt"})
    return path


def video_meta(**over: object) -> dict:
    meta = {"kind": "video", "arch": ARCH, "in_channels": 7, "style_name": "t"}
    meta.update(over)
    return meta


# ------------------------------------------------------------------------------------------- models


def test_missing_model_file(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    inp = make_clip(tmp_path / "in")
    out = tmp_path / "out"
    before = plant(out)
    rc, err = fav(*stylize_args(inp, str(out), (str(tmp_path / "ghost.safetensors"), models[1])))
    assert_one_line_error(rc, err, "ghost.safetensors", "no such model file")
    assert snapshot(out) == before


def test_unknown_model_name(tmp_path: Path, models: tuple[str, str], fav: Fav,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAV_MODEL_PATH", str(Path(models[0]).parent))
    inp = make_clip(tmp_path / "in")
    rc, err = fav(*stylize_args(inp, str(tmp_path / "out"), ("no-such-style", models[1])))
    assert_one_line_error(rc, err, "no-such-style", "unknown model name", "tiny-video")


def test_weights_do_not_match_metadata(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    model = tensors_with_meta(tmp_path / "liar.safetensors", "c3s1-16,d16,R16,u16,c3s1-3", 7, video_meta())
    inp = make_clip(tmp_path / "in")
    rc, err = fav(*stylize_args(inp, str(tmp_path / "out"), (str(model), models[1])))
    assert_one_line_error(rc, err, "liar.safetensors", "weights do not match the architecture")


def test_bad_arch_string_in_metadata(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    model = tensors_with_meta(tmp_path / "arch.safetensors", ARCH, 7, video_meta(arch="c3s1-8,x9,c3s1-3"))
    inp = make_clip(tmp_path / "in")
    rc, err = fav(*stylize_args(inp, str(tmp_path / "out"), (str(model), models[1])))
    assert_one_line_error(rc, err, "arch.safetensors", "'x9'")


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"in_channels": "7"}, "in_channels"),
        ({"in_channels": 3}, "in_channels"),
        ({"tanh_constant": -1}, "tanh_constant"),
        ({"tanh_constant": True}, "tanh_constant"),
        ({"fill": "zeros"}, "fill"),
        ({"padding": "mirror"}, "padding"),
        ({"evil": 1}, "evil"),
    ],
)
def test_bad_metadata_is_refused_before_building_the_net(tmp_path: Path, models: tuple[str, str], fav: Fav,
                                                         monkeypatch: pytest.MonkeyPatch, over: dict,
                                                         needle: str) -> None:
    import fav_core.modelfile as modelfile

    model = tensors_with_meta(tmp_path / "meta.safetensors", ARCH, 7, video_meta(**over))
    built: list[object] = []
    real = modelfile.build_net
    monkeypatch.setattr(modelfile, "build_net", lambda meta: built.append(meta) or real(meta))
    inp = make_clip(tmp_path / "in")
    rc, err = fav(*stylize_args(inp, str(tmp_path / "out"), (str(model), models[1])))
    assert_one_line_error(rc, err, "meta.safetensors", needle)
    assert built == []


def test_three_channel_model_as_video_model(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    inp = make_clip(tmp_path / "in")
    out = tmp_path / "out"
    before = plant(out)
    rc, err = fav(*stylize_args(inp, str(out), (models[1], models[1])))
    assert_one_line_error(rc, err, "tiny-image.safetensors", "3 input channels", "7")
    assert snapshot(out) == before


def test_video_model_as_image_model(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    inp = make_clip(tmp_path / "in")
    rc, err = fav(*stylize_args(inp, str(tmp_path / "out"), (models[0], models[0])))
    assert_one_line_error(rc, err, "tiny-video.safetensors", "7 input channels", "expected 3")


# ------------------------------------------------------------------------------------------ options


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (("--device", "tpu"), "unknown device 'tpu'"),
        (("--device", "cuda:7"), "cuda:7"),
        (("--device", ""), "device"),
        (("--precision", "fp16", "--device", "cpu"), "fp16"),
        (("--num-frames", "0"), "--num-frames"),
        (("--min-filter", "4"), "min-filter"),
        (("--median-filter", "0"), "median-filter"),
        (("--continue-with", "99"), "--continue-with 99"),
        (("--flow", "raft"), "--raft-weights"),
    ],
)
def test_bad_options(tmp_path: Path, models: tuple[str, str], fav: Fav, extra: tuple[str, ...],
                     needle: str) -> None:
    if torch.cuda.is_available() and extra[1].startswith("cuda"):
        pytest.skip("this machine has CUDA")
    inp = make_clip(tmp_path / "in")
    out = tmp_path / "out"
    before = plant(out)
    rc, err = fav(*stylize_args(inp, str(out), models, *extra))
    assert_one_line_error(rc, err, needle)
    assert snapshot(out) == before


# ------------------------------------------------------------------------------------------- outputs


def test_single_image_output_for_many_frames(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    inp = make_clip(tmp_path / "in")
    rc, err = fav(*stylize_args(inp, str(tmp_path / "still.png"), models))
    assert_one_line_error(rc, err, "still.png", "placeholder")
    assert not (tmp_path / "still.png").exists()


def test_unsupported_output_type(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    inp = make_clip(tmp_path / "in")
    rc, err = fav(*stylize_args(inp, str(tmp_path / "out" / "f_%04d.gif"), models))
    assert_one_line_error(rc, err, "f_%04d.gif", ".gif")


def test_output_folder_below_a_file(tmp_path: Path, models: tuple[str, str], fav: Fav) -> None:
    inp = make_clip(tmp_path / "in")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the output folder should be")
    rc, err = fav(*stylize_args(inp, str(blocker / "out"), models))
    assert_one_line_error(rc, err, "blocker")
    assert blocker.read_text() == "a file where the output folder should be"


def _mount_tmpfs(where: Path, options: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    return res.returncode == 0


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount a small tmpfs under tmp_path (needs root); skips when mounting is not allowed."""
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        where = tmp_path / f"mnt{len(mounted)}"
        if not _mount_tmpfs(where, options):
            pytest.skip("cannot mount a tmpfs here (not root or no CAP_SYS_ADMIN)")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_read_only_output_folder(tmp_path: Path, models: tuple[str, str], fav: Fav,
                                 tmpfs: Callable[[str], Path]) -> None:
    ro = tmpfs("size=64k,ro")
    inp = make_clip(tmp_path / "in")
    rc, err = fav(*stylize_args(inp, str(ro / "out"), models))
    assert_one_line_error(rc, err, str(ro / "out"))
    assert list(ro.iterdir()) == []


def test_full_disk_real(tmp_path: Path, models: tuple[str, str], fav: Fav,
                        tmpfs: Callable[[str], Path]) -> None:
    disk = tmpfs("size=256k")
    out = disk / "out"
    before = plant(out)
    filler = disk / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:  # fill the disk to the last byte
        with pytest.raises(OSError) as full:
            while True:
                os.write(fd, b"\0" * 1024)
        assert full.value.errno == errno.ENOSPC
    finally:
        os.close(fd)
    inp = make_clip(tmp_path / "in")
    rc, err = fav(*stylize_args(inp, str(out), models))
    line = assert_one_line_error(rc, err, str(out))
    assert "No space left" in line or "disk full" in line
    assert snapshot(out) == before  # nothing half-written, no temp files left behind


def test_full_disk_mid_run_keeps_written_frames(tmp_path: Path, models: tuple[str, str], fav: Fav,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    real = sinks._write_integer_image
    calls: list[Path] = []

    def write(path: Path, final: Path, data: np.ndarray, bits: int, has_alpha: bool) -> None:
        calls.append(final)
        if len(calls) == 2:
            path.write_bytes(b"partial")  # a half-written temp file, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, final, data, bits, has_alpha)

    monkeypatch.setattr(sinks, "_write_integer_image", write)
    inp = make_clip(tmp_path / "in")
    out = tmp_path / "out"
    before = plant(out)
    rc, err = fav(*stylize_args(inp, str(out), models))
    assert_one_line_error(rc, err, "frame_00002.png", "disk full")
    after = snapshot(out)
    assert {k: after[k] for k in before} == before
    assert sorted(k for k in after if k.startswith("frame_0000")) == ["frame_00001.png"]
    assert not [k for k in after if ".tmp-" in k]


def test_dotdot_in_output_stays_in_the_chosen_folder(tmp_path: Path, models: tuple[str, str],
                                                     fav: Fav) -> None:
    inp = make_clip(tmp_path / "in", n=2)
    (tmp_path / "a" / "b").mkdir(parents=True)
    rc, err = fav(*stylize_args(inp, str(tmp_path / "a" / "b" / ".." / "shot_%03d.png"), models))
    assert rc == 0, err
    assert sorted(p.name for p in (tmp_path / "a").glob("shot_*.png")) == ["shot_001.png", "shot_002.png"]
