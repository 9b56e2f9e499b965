"""Hardening of the training package (audit s4): interrupted checkpoints, cancellation, bad options and data."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from fav_core.errors import ConfigError
from training.checkpoints import state_iteration
from training.config import TrainConfig
from training.datasets import build_image_hdf5
from training.loop import Trainer

TINY_ARCH = "c3s1-4,d8,R8,U2,c3s1-3"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("audit")
    rng = np.random.default_rng(0)
    images = {f"im{i}": rng.integers(0, 256, (24, 24, 3), dtype=np.uint8) for i in range(3)}
    h5 = build_image_hdf5(images, {"v": images["im0"]}, root / "img.h5", 16, 16, max_resize=8)
    style = root / "style.png"
    stripes = np.zeros((20, 20, 3), np.uint8)
    stripes[:, ::4] = (255, 40, 0)
    cv2.imwrite(str(style), stripes)
    return h5, style


def _config(data: tuple[Path, Path], out: Path, **kw: object) -> TrainConfig:
    base: dict[str, object] = dict(
        mode="image", style_image=str(data[1]), output_dir=str(out), h5_file=str(data[0]), arch=TINY_ARCH,
        loss_network="random-multiscale", content_weights="1", style_weights="2", style_image_size=20,
        image_size="16:16", batch_size=2, num_iterations=4, learning_rate="1e-2", checkpoint_every=2,
        images_every=1000, val_every=1000, num_val_batches=1,
    )
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


class _Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs."""


@pytest.mark.slow
def test_a_run_killed_between_the_two_checkpoint_files_resumes_exactly(
    data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = Trainer(_config(data, tmp_path / "a"), show_progress=False)
    whole.run()
    real_replace = os.replace
    calls = []

    def replace(src: str | Path, dst: str | Path) -> None:
        calls.append(Path(dst).name)
        if len(calls) == 4:  # the checkpoint of iteration 4 has written its first file; the process dies
            raise _Killed
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(_Killed):
        Trainer(_config(data, tmp_path / "b"), show_progress=False).run()
    monkeypatch.setattr(os, "replace", real_replace)
    resumed = Trainer(_config(data, tmp_path / "b"), show_progress=False)
    resumed.resume()
    resumed.run()
    for key, value in whole.net.state_dict().items():
        assert torch.equal(value, resumed.net.state_dict()[key]), key
    assert state_iteration(tmp_path / "b" / "checkpoint-state.safetensors") == 4


@pytest.mark.slow
def test_an_old_state_file_with_a_model_file_of_another_iteration_is_refused(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    Trainer(_config(data, tmp_path / "a", num_iterations=2), show_progress=False).run()
    Trainer(_config(data, tmp_path / "b", num_iterations=4), show_progress=False).run()
    state_file = tmp_path / "a" / "checkpoint-state.safetensors"
    from safetensors.torch import save_file

    with open(state_file, "rb") as handle:  # an older state file: no weights in it
        import json
        import struct

        size = struct.unpack("<Q", handle.read(8))[0]
        metadata = json.loads(handle.read(size))["__metadata__"]
    tensors = {k: v for k, v in load_file(state_file).items() if not k.startswith("net/")}
    save_file(tensors, str(state_file), metadata=metadata)
    (tmp_path / "b" / "checkpoint.safetensors").replace(tmp_path / "a" / "checkpoint.safetensors")
    with pytest.raises(ConfigError, match="model file is at iteration 4, its state file at 2"):
        Trainer(_config(data, tmp_path / "a"), show_progress=False).resume()


@pytest.mark.slow
def test_a_cancelled_run_checkpoints_its_last_iteration_and_resumes_exactly(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    from fav_core.errors import Cancelled
    from fav_core.types import CancelToken

    whole = Trainer(_config(data, tmp_path / "a", checkpoint_every=4), show_progress=False)
    whole.run()
    token = CancelToken()
    stopped = Trainer(_config(data, tmp_path / "b", checkpoint_every=4), show_progress=False)
    step = stopped.step

    def step_then_signal(iteration: int):  # noqa: ANN202 - the signal arrives during iteration 3
        result = step(iteration)
        if iteration == 3:
            token.cancel()
        return result

    stopped.step = step_then_signal  # type: ignore[method-assign]
    with pytest.raises(Cancelled, match="stopped after iteration 3"):
        stopped.run(cancel=token)
    assert state_iteration(tmp_path / "b" / "checkpoint-state.safetensors") == 3
    resumed = Trainer(_config(data, tmp_path / "b", checkpoint_every=4), show_progress=False)
    resumed.resume()
    resumed.run()
    for key, value in whole.net.state_dict().items():
        assert torch.equal(value, resumed.net.state_dict()[key]), key


def test_the_first_stop_signal_cancels_the_token_the_second_stops_at_once(
        capsys: pytest.CaptureFixture[str]) -> None:
    import signal

    from fav_core.cli.signals import cancel_on_signals
    from fav_core.types import CancelToken
    from training.cli import _announce_stop

    token = CancelToken()
    before = signal.getsignal(signal.SIGTERM)
    with cancel_on_signals(token, announce=_announce_stop):
        signal.raise_signal(signal.SIGTERM)
        assert token.cancelled
        assert "stopping after this iteration" in capsys.readouterr().err
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.slow  # whole training runs: 3-17 s on the shared 2-core machine
def test_a_diverging_run_stops_with_one_line_before_the_weights_turn_nan(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    from training.loop import TrainingDiverged

    trainer = Trainer(_config(data, tmp_path, num_iterations=3, checkpoint_every=1), show_progress=False)
    objective = trainer.objective.forward

    def nan_at_3(output: torch.Tensor, content: torch.Tensor):  # noqa: ANN202
        loss, parts = objective(output, content)
        return (loss * float("nan"), parts) if trainer.state.iteration == 2 else (loss, parts)

    trainer.objective.forward = nan_at_3  # type: ignore[method-assign]
    diverged = "iteration 3: the loss is not finite .*checkpoint is from iteration 2"
    with pytest.raises(TrainingDiverged, match=diverged) as caught:
        trainer.run()
    assert all(bool(torch.isfinite(p).all()) for p in trainer.net.parameters())
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("content_weights", "-1", "--content-weights: weights must be finite and >= 0"),
        ("style_weights", "2,nan", "--style-weights: weights must be finite and >= 0"),
        ("pixel_loss_weight", -5.0, "--pixel-loss-weight must be a finite number >= 0"),
        ("percep_loss_weight", float("inf"), "--percep-loss-weight must be a finite number >= 0"),
        ("tv_strength", -1.0, "--tv-strength must be a finite number >= 0"),
        ("learning_rate", "inf", "--learning-rate: rates must be finite and > 0"),
        ("learning_rate", "1e-3,10:nan", "--learning-rate: rates must be finite and > 0"),
        ("crop_size", -3, "--crop-size"),
        ("device", "tpu", "--device: expected cpu, cuda or cuda:N"),
    ],
)
def test_out_of_range_options_are_refused_with_one_line(
    data: tuple[Path, Path], tmp_path: Path, option: str, value: object, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(data, tmp_path, **{option: value})
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_valid_devices_and_zero_weights_are_accepted(data: tuple[Path, Path], tmp_path: Path) -> None:
    for device in ("cpu", "cuda", "cuda:1"):
        assert _config(data, tmp_path, device=device).device == device
    assert _config(data, tmp_path, tv_strength=0.0, content_weights="0").tv_strength == 0.0


def test_an_interrupted_hdf5_build_leaves_no_file_that_looks_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fav_core.flow.providers import make_provider
    from training import datasets

    frames = [np.random.default_rng(t).integers(0, 256, (16, 16, 3), dtype=np.uint8) for t in range(4)]
    motion = datasets._motion
    done = []

    def motion_then_die(sequence: np.ndarray, provider: object):  # noqa: ANN202
        if done:
            raise _Killed
        done.append(1)
        return motion(sequence, provider)  # type: ignore[arg-type]

    monkeypatch.setattr(datasets, "_motion", motion_then_die)
    with pytest.raises(_Killed):
        datasets.build_video_hdf5([frames], [], tmp_path / "v.h5", make_provider("dis"), 16, 16, 2)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda out: build_image_hdf5({"a": np.zeros((8, 8, 3), np.uint8)}, {}, out, 0, 16), "build-images: --height"),
        (lambda out: build_image_hdf5({"a": np.zeros((8, 8, 3), np.uint8)}, {}, out, -5, 16), "build-images: --height"),
        (lambda out: build_image_hdf5({"a": np.zeros((8, 8, 3), np.uint8)}, {}, out, 16, 16, 0), "--max-resize"),
    ],
)
def test_impossible_dataset_sizes_are_refused(tmp_path: Path, call: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call(tmp_path / "x.h5")  # type: ignore[operator]
    assert not (tmp_path / "x.h5").exists()


def test_impossible_video_dataset_sizes_are_refused(tmp_path: Path) -> None:
    from fav_core.flow.providers import make_provider
    from training.datasets import build_video_hdf5
    from training.synthetic import synthetic_clips

    frames = [np.zeros((16, 16, 3), np.uint8)] * 3
    with pytest.raises(ConfigError, match="build-video: --height and --width must be >= 8, got 0x16"):
        build_video_hdf5([frames], [], tmp_path / "v.h5", make_provider("dis"), 0, 16)
    with pytest.raises(ConfigError, match="build-synthetic-video"):
        synthetic_clips({"a": frames[0]}, 1, 1, (16, 16), 0)
    with pytest.raises(ConfigError, match="build-synthetic-video"):
        synthetic_clips({"a": frames[0]}, 1, 4, (0, 16), 0)


def test_an_hdf5_output_that_cannot_be_written_is_one_output_error(tmp_path: Path) -> None:
    from fav_core.errors import OutputError

    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="file/x.h5: cannot write the HDF5 file"):
        build_image_hdf5({"a": np.zeros((8, 8, 3), np.uint8)}, {}, tmp_path / "file" / "x.h5", 16, 16)


def test_a_run_folder_that_cannot_be_written_is_refused_before_training(
    data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from fav_core.errors import OutputError

    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="file/run: cannot write the run folder"):
        Trainer(_config(data, tmp_path / "file" / "run"), show_progress=False)

    def read_only(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)  # a read-only folder (the tests may run as root)
    (tmp_path / "ro").mkdir()
    with pytest.raises(OutputError, match="ro: cannot write the run folder .Permission denied."):
        Trainer(_config(data, tmp_path / "ro"), show_progress=False)


def _cli_args(data: tuple[Path, Path], out: Path, *extra: str) -> list[str]:
    return ["image", "--style-image", str(data[1]), "--h5-file", str(data[0]), "--arch", TINY_ARCH,
            "--loss-network", "random-multiscale", "--style-image-size", "20", "--image-size", "16:16",
            "--batch-size", "2", "--num-iterations", "2", "--val-every", "1000", "--images-every", "1000",
            "--output-dir", str(out), *extra]


@pytest.mark.slow  # whole training runs: 3-17 s on the shared 2-core machine
def test_the_cli_never_overwrites_a_checkpoint_and_says_when_there_is_nothing_to_train(
    data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from training.cli import main

    assert main(_cli_args(data, tmp_path / "a")) == 0
    before = (tmp_path / "a" / "checkpoint-state.safetensors").read_bytes()
    capsys.readouterr()
    assert main(_cli_args(data, tmp_path / "a")) == 2  # a fresh run into a folder with a checkpoint
    err = capsys.readouterr().err
    assert "already holds a checkpoint (iteration 2); add --resume" in err and err.count("\n") == 1
    assert (tmp_path / "a" / "checkpoint-state.safetensors").read_bytes() == before
    assert main(_cli_args(data, tmp_path / "a", "--resume")) == 0  # finished: nothing to do, says so
    assert "already at iteration 2 (--num-iterations 2); nothing to train" in capsys.readouterr().out
    assert main(_cli_args(data, tmp_path / "b", "--resume", str(tmp_path / "a"))) == 2
    assert "the checkpoint is at iteration 2, --num-iterations is 2: nothing to train" in capsys.readouterr().err
    assert not (tmp_path / "b" / "checkpoint.safetensors").exists()


def _video_h5(path: Path, **override: np.ndarray) -> Path:
    import h5py

    rng = np.random.default_rng(0)
    arrays = {
        "frames1": rng.integers(0, 256, (2, 3, 3, 8, 12), dtype=np.uint8),
        "flow": np.zeros((2, 2, 2, 8, 12), np.float32),
        "cert": np.full((2, 2, 8, 12), 255, np.uint8),
    }
    arrays.update(override)
    with h5py.File(path, "w") as handle:
        for name, array in arrays.items():
            handle.create_dataset(f"train/{name}", data=array)
    return path


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"cert": np.zeros((2, 1, 8, 12), np.uint8)}, r"'train/cert' has shape \(2, 1, 8, 12\), the frames need"),
        ({"flow": np.zeros((2, 2, 2, 4, 4), np.float32)}, r"'train/flow' has shape \(2, 2, 2, 4, 4\)"),
        ({"frames1": np.zeros((2, 3, 3, 8, 12), np.float32)}, "'train/frames1' must be uint8"),
    ],
)
def test_a_video_hdf5_whose_parts_do_not_fit_is_refused_by_name(
    tmp_path: Path, override: dict[str, np.ndarray], message: str
) -> None:
    from fav_core.errors import InputError
    from training.sources import VideoBank

    path = _video_h5(tmp_path / "v.h5", **override)
    with pytest.raises(InputError, match=message) as caught:
        VideoBank(path, "train")
    assert str(caught.value).startswith(str(path))


def test_a_video_batch_with_non_finite_flow_is_refused_by_name(tmp_path: Path) -> None:
    from fav_core.errors import InputError
    from training.sources import VideoBank

    flow = np.zeros((2, 2, 2, 8, 12), np.float32)
    flow[1, 0, 0, 3, 3] = np.nan
    bank = VideoBank(_video_h5(tmp_path / "v.h5", flow=flow), "train")
    with pytest.raises(InputError, match=r"v.h5: 'train/flow' holds NaN or infinite values \(sequences 0-1\)"):
        bank.next_sample(2, 1, "vgg")


def test_a_well_formed_video_hdf5_still_reads(tmp_path: Path) -> None:
    from training.sources import VideoBank

    sample = VideoBank(_video_h5(tmp_path / "v.h5"), "train").next_sample(2, 2, "vgg")
    assert sample.steps == 2 and sample.masks[1].shape == (2, 1, 8, 12)


def test_style_images_missing_tiny_or_too_thin_are_refused_grey_and_rgba_are_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from fav_core.errors import InputError
    from training.objective import load_style_image

    with pytest.raises(InputError, match="nope.png: no such style image"):
        load_style_image(tmp_path / "nope.png", 64)
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(InputError, match="text.png: cannot read the style image"):
        load_style_image(tmp_path / "text.png", 64)
    cv2.imwrite(str(tmp_path / "dot.png"), np.full((1, 1, 3), 200, np.uint8))
    with pytest.raises(InputError, match="dot.png: the style image is 1x1 px; it needs at least 16 px"):
        load_style_image(tmp_path / "dot.png", 64)
    cv2.imwrite(str(tmp_path / "thin.png"), np.full((16, 400, 3), 200, np.uint8))
    with pytest.raises(InputError, match=r"thin.png: the style image \(400x16 px\) is 64x3 px at --style-image-size 64"):
        load_style_image(tmp_path / "thin.png", 64)
    grey = np.tile(np.arange(0, 240, 15, dtype=np.uint8), (16, 1))
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    image = load_style_image(tmp_path / "grey.png", 16)
    assert image.shape == (1, 3, 16, 16) and torch.equal(image[0, 0], image[0, 2])
    assert float(image[0, 0, 0, 1]) == pytest.approx(15 / 255)
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 2] = 255  # red in BGR order
    rgba[..., 3] = 0
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    with caplog.at_level("WARNING"):
        image = load_style_image(tmp_path / "rgba.png", 16)
    assert image.shape == (1, 3, 16, 16) and float(image[0, 0].min()) == 1.0 and float(image[0, 1].max()) == 0.0
    assert "alpha channel is ignored" in caplog.text


def test_the_vgg_loss_network_takes_a_weights_file_and_never_downloads(
    data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fav_core.errors import ModelLoadError

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("training must not download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    with pytest.raises(ModelLoadError, match="not cached; pass --loss-weights PATH"):
        Trainer(_config(data, tmp_path / "a", loss_network="vgg16"), show_progress=False)
    with pytest.raises(ModelLoadError, match="nope.safetensors"):
        Trainer(_config(data, tmp_path / "b", loss_network="vgg16", loss_weights=str(tmp_path / "nope.safetensors")),
                show_progress=False)


@pytest.mark.parametrize("mode", ["image", "video"])
def test_training_help_states_each_default_once_and_marks_video_only_options(
    mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import re

    from training.cli import main

    with pytest.raises(SystemExit):
        main([mode, "--help"])
    text = capsys.readouterr().out
    entries = re.split(r"\n  (?=--)", text.split("options:", 1)[1])
    for entry in entries[1:]:
        assert entry.count("(default") <= 1, entry
    loss = next(e for e in entries if e.startswith("--pixel-loss-weight"))
    assert ("(video training only)" in loss) == (mode == "image")
    assert "--loss-weights" in text and "cuda:N" in text


def test_the_first_frame_model_must_be_an_image_model_in_the_runs_pre_space(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    from fav_core.modelfile import save_model
    from fav_core.nets import build_transformer
    from training.modelio import model_meta

    video = _config(data, tmp_path / "v", mode="video", image_model="self", data_mix="shift:1", image_size="36:36",
                    crop_size=0)
    save_model(tmp_path / "video.safetensors", build_transformer(TINY_ARCH, 7), model_meta(video, 1))
    with pytest.raises(ConfigError, match="video.safetensors: --image-model needs an image model .3 input channels."):
        Trainer(_config(data, tmp_path / "a", mode="video", data_mix="shift:1", image_size="36:36",
                        image_model=str(tmp_path / "video.safetensors")), show_progress=False)
    image = _config(data, tmp_path / "i", preprocessing="resnet")
    save_model(tmp_path / "resnet.safetensors", build_transformer(TINY_ARCH, 3), model_meta(image, 1))
    with pytest.raises(ConfigError, match="resnet.safetensors: the image model works in 'resnet' pre-space"):
        Trainer(_config(data, tmp_path / "b", mode="video", data_mix="shift:1", image_size="36:36",
                        image_model=str(tmp_path / "resnet.safetensors")), show_progress=False)


@pytest.mark.slow  # whole training runs: 3-17 s on the shared 2-core machine
def test_the_training_state_file_follows_the_umask_and_leaves_no_temporary_file(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    previous = os.umask(0o022)
    try:
        Trainer(_config(data, tmp_path, num_iterations=1), show_progress=False).run()
    finally:
        os.umask(previous)
    assert (tmp_path / "checkpoint-state.safetensors").stat().st_mode & 0o777 == 0o644
    assert not [p for p in tmp_path.iterdir() if "tmp" in p.name]


def test_the_random_loss_network_refuses_per_layer_weights_it_would_ignore(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="--style-weights: loss network random-multiscale takes one weight"):
        Trainer(_config(data, tmp_path, style_weights="1,2,3"), show_progress=False)


def test_frame_folders_numbered_without_padding_are_read_in_frame_order(tmp_path: Path) -> None:
    from training.datasets import read_clip, read_image_folder

    for number in (1, 2, 10, 11):
        cv2.imwrite(str(tmp_path / f"frame_{number}.png"), np.full((4, 4, 3), number, np.uint8))
    cv2.imwrite(str(tmp_path / "frame_1.jpg"), np.full((4, 4, 3), 0, np.uint8))
    assert [int(f[0, 0, 0]) for f in read_clip(tmp_path)] == [0, 1, 2, 10, 11]
    assert list(read_image_folder(tmp_path)) == ["frame_1.jpg", "frame_1.png", "frame_2", "frame_10", "frame_11"]
    (tmp_path / "frame_12.png").write_bytes(b"not a png")
    folder = read_image_folder(tmp_path)
    assert "frame_12" in folder and "frame_1" not in folder  # names only: nothing is decoded


def test_data_mix_takes_spaces_and_refuses_a_source_given_twice() -> None:
    from training.config import parse_data_mix

    assert parse_data_mix(" shift : 1, zoom_out:2 ,video") == {"shift": 1, "zoom_out": 2, "video": 1}
    with pytest.raises(ConfigError, match="--data-mix: source 'shift' is given twice"):
        parse_data_mix("shift:1,video:2,shift:3")


def test_learning_rate_switches_must_increase() -> None:
    from training.config import learning_rate_at, parse_learning_rate

    assert learning_rate_at("2e-3,300:6e-4,400:1e-4", 350) == 6e-4
    with pytest.raises(ConfigError, match="switch iterations must increase"):
        parse_learning_rate("1e-3,300:6e-4,200:1e-4")


def test_the_data_banks_hold_one_batch_not_the_whole_file(tmp_path: Path) -> None:
    import tracemalloc

    import h5py

    from training.sources import ImageBank, VideoBank

    with h5py.File(tmp_path / "big.h5", "w") as handle:  # 12 MB of images, 10 MB of video
        handle.create_dataset("train2014/images", data=np.ones((1000, 3, 64, 64), np.uint8))
        handle.create_dataset("train/frames1", data=np.ones((200, 2, 3, 64, 64), np.uint8))
        handle.create_dataset("train/flow", data=np.zeros((200, 1, 2, 64, 64), np.float32))
        handle.create_dataset("train/cert", data=np.ones((200, 1, 64, 64), np.uint8))
    tracemalloc.start()
    try:
        images = ImageBank(tmp_path / "big.h5", "train2014")
        videos = VideoBank(tmp_path / "big.h5", "train")
        batch = images.next_batch(4, torch.Generator())
        sample = videos.next_sample(4, 1, "vgg")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, peak
    assert len(images) == 1000 and len(videos) == 200 and images.position == 4 and videos.position == 4
    assert float(batch.mean()) == pytest.approx(1 / 255) and sample.frames[1].shape == (4, 3, 64, 64)


def test_a_resume_with_a_smaller_image_file_wraps_the_read_position(data: tuple[Path, Path], tmp_path: Path) -> None:
    from training.batches import SampleMaker

    maker = SampleMaker(_config(data, tmp_path), "train")  # the fixture file holds 3 training images
    maker.load_state({"image_position": 7, "video_position": 0})
    assert maker.images is not None and maker.images.position == 1
    assert maker.image_batch(torch.Generator()).shape == (2, 3, 16, 16)


def test_a_schedule_whose_k_outgrows_the_video_sequences_is_refused_before_training(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    from training.batches import SampleMaker

    video = _video_h5(tmp_path / "v.h5")  # sequences of 3 frames: K <= 2
    config = _config(data, tmp_path, mode="video", image_model="self", data_mix="video:1",
                     h5_file_video=str(video), num_frame_steps="0:1,1000:3")
    with pytest.raises(ConfigError, match=r"v.h5: sequences of 3 frames \('train'\), but --num-frame-steps "
                                          r"'0:1,1000:3' reaches K = 3, which needs 4"):
        SampleMaker(config, "train")


def test_zoom_out_with_images_smaller_than_the_training_size_is_refused_before_training(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    from training.batches import SampleMaker

    config = _config(data, tmp_path, mode="video", image_model="self", data_mix="shift:1,zoom_out:1",
                     image_size="20:20")  # the fixture's images are 16x16
    with pytest.raises(ConfigError, match="img.h5: zoom_out needs images of at least the training size 20x20, "
                                          "the 'train2014' images are 16x16"):
        SampleMaker(config, "train")
    assert SampleMaker(_config(data, tmp_path, mode="video", image_model="self", data_mix="shift:1,zoom_out:1",
                               image_size="20:20", crop_size=24), "train").images is not None


def test_validation_data_that_does_not_fit_is_refused_before_training(data: tuple[Path, Path], tmp_path: Path) -> None:
    small = build_image_hdf5({"a": np.zeros((24, 24, 3), np.uint8)}, {"v": np.zeros((24, 24, 3), np.uint8)},
                             tmp_path / "small.h5", 12, 12, max_resize=4)
    big = build_image_hdf5({"a": np.zeros((24, 24, 3), np.uint8)}, {}, tmp_path / "big.h5", 24, 24, max_resize=4)
    config = _config(data, tmp_path / "run", mode="video", image_model="self", data_mix="shift:1,zoom_out:1",
                     image_size="20:20", h5_file=str(big), val_h5_file=str(small))
    with pytest.raises(ConfigError, match="small.h5: zoom_out needs images of at least the training size"):
        Trainer(config, show_progress=False)


@pytest.mark.slow  # whole training runs: 3-17 s on the shared 2-core machine
def test_validation_batches_are_the_same_every_time(data: tuple[Path, Path], tmp_path: Path) -> None:
    trainer = Trainer(_config(data, tmp_path, num_val_batches=2), show_progress=False)
    assert trainer.validate() == trainer.validate()


def test_an_interrupted_state_write_leaves_the_old_state_and_no_temporary_file(
    data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer = Trainer(_config(data, tmp_path, num_iterations=1), show_progress=False)
    trainer.run()
    before = (tmp_path / "checkpoint-state.safetensors").read_bytes()

    def interrupted(src: str | Path, dst: str | Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        trainer.save_checkpoint()
    assert (tmp_path / "checkpoint-state.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "checkpoint-state.safetensors", "checkpoint.safetensors", "loss_curve.png"]


def test_model_metadata_records_the_settings_that_shaped_the_model(data: tuple[Path, Path], tmp_path: Path) -> None:
    from training.modelio import model_meta

    image = model_meta(_config(data, tmp_path), 7)
    assert image.kind == "image" and image.in_channels == 3 and image.arch == TINY_ARCH
    assert image.trained_with["iterations"] == 7
    assert image.trained_with["config"]["style_weights"] == "2" and "data_mix" not in image.trained_with["config"]
    video = model_meta(_config(data, tmp_path, mode="video", image_model="self", data_mix="shift:1",
                               fill_occlusions="uniform-random"), 3)
    assert video.in_channels == 7 and video.fill == "uniform-random"
    assert video.trained_with["config"]["data_mix"] == "shift:1"


def test_building_images_from_a_folder_holds_one_photo_at_a_time(tmp_path: Path) -> None:
    import tracemalloc

    import h5py

    from training.datasets import read_image_folder

    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(30):  # 30 × 196 kB decoded = 5.9 MB; output at 16 px: 23 kB
        cv2.imwrite(str(photos / f"p{index}.png"), np.full((256, 256, 3), index, np.uint8))
    tracemalloc.start()
    try:
        folder = read_image_folder(photos)
        build_image_hdf5(folder, {}, tmp_path / "x.h5", 16, 16)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, peak
    with h5py.File(tmp_path / "x.h5", "r") as handle:
        assert handle["train2014/images"].shape == (30, 3, 16, 16) and handle["val2014/images"].shape == (0, 3, 16, 16)
        stored = handle["train2014/images"][...]
    assert sorted(int(v) for v in stored[:, 0, 0, 0]) == list(range(30))


def test_clips_are_kept_at_the_dataset_size_while_they_are_read(tmp_path: Path) -> None:
    import tracemalloc

    from training.datasets import read_clip

    for index in range(20):  # 20 × 196 kB decoded = 3.9 MB at full size
        cv2.imwrite(str(tmp_path / f"f{index}.png"), np.full((256, 256, 3), index * 10, np.uint8))
    tracemalloc.start()
    try:
        frames = read_clip(tmp_path, (16, 24))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_500_000, peak
    assert len(frames) == 20 and frames[3].shape == (16, 24, 3) and int(frames[3][0, 0, 0]) == 30
    with pytest.raises(ConfigError, match="build-video: --height and --width must be >= 8, got 0x24"):
        read_clip(tmp_path, (0, 24))


def test_a_val_split_that_is_the_train_split_reshuffled_computes_no_flow_twice(tmp_path: Path) -> None:
    import h5py

    from fav_core.flow.providers import make_provider
    from training.datasets import build_video_hdf5

    class Counting:
        def __init__(self) -> None:
            self.inner, self.calls = make_provider("dis"), 0

        def compute(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
            self.calls += 1
            return self.inner.compute(src, dst)

    rng = np.random.default_rng(3)
    clip = [cv2.GaussianBlur(rng.integers(0, 256, (16, 24, 3), dtype=np.uint8), (0, 0), 2.0) for _ in range(5)]
    provider = Counting()
    out = build_video_hdf5([clip], [], tmp_path / "v.h5", provider, 16, 24, 2, 1, 0)  # type: ignore[arg-type]
    assert provider.calls == 4 * 2  # 4 sequences, one backward and one forward flow each
    with h5py.File(out, "r") as handle:
        train = {k: handle[f"train/{k}"][...] for k in ("frames1", "flow", "cert")}
        val = {k: handle[f"val/{k}"][...] for k in ("frames1", "flow", "cert")}
    for row in range(4):  # every val row is a train row, with its own flow and cert
        match = [r for r in range(4) if np.array_equal(train["frames1"][r], val["frames1"][row])]
        assert len(match) == 1
        assert np.array_equal(train["flow"][match[0]], val["flow"][row])
        assert np.array_equal(train["cert"][match[0]], val["cert"][row])


@pytest.mark.slow  # whole training runs: 3-17 s on the shared 2-core machine
def test_export_takes_the_run_folder_and_names_a_state_file_for_what_it_is(
    data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fav_core.modelfile import load_model
    from training.cli import main

    Trainer(_config(data, tmp_path / "run", num_iterations=1), show_progress=False).run()
    assert main(["export", str(tmp_path / "run"), "-o", str(tmp_path / "m.safetensors")]) == 0
    model = load_model(tmp_path / "m.safetensors")
    assert model.meta.kind == "image" and model.meta.arch == TINY_ARCH and model.meta.trained_with["iterations"] == 1
    capsys.readouterr()
    assert main(["export", str(tmp_path / "run" / "checkpoint-state.safetensors"), "-o",
                 str(tmp_path / "n.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "checkpoint-state.safetensors: is a training-state file; export " in err and err.count("\n") == 1


@pytest.mark.slow  # whole training runs: 3-17 s on the shared 2-core machine
def test_a_second_run_into_a_folder_in_use_is_refused(
    data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from training.cli import main, run_folder_lock

    with run_folder_lock(tmp_path / "run"):
        assert main(_cli_args(data, tmp_path / "run")) == 2
        err = capsys.readouterr().err
        assert f"another training run (pid {os.getpid()}) is using this folder" in err
        assert not (tmp_path / "run" / "checkpoint.safetensors").exists()
    assert main(_cli_args(data, tmp_path / "run")) == 0  # released with the run


def test_stop_handlers_from_a_worker_thread_install_nothing() -> None:
    import signal
    import threading

    from fav_core.cli.signals import cancel_on_signals
    from fav_core.types import CancelToken

    before = signal.getsignal(signal.SIGINT)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with cancel_on_signals(CancelToken()):
                pass
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert errors == [] and signal.getsignal(signal.SIGINT) is before


def test_a_float_rgba_tiff_style_image_is_read(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from training.objective import load_style_image

    image = np.zeros((16, 16, 4), np.float32)
    image[..., 1] = 1.0  # green
    image[..., 3] = 0.5
    assert cv2.imwrite(str(tmp_path / "s.tiff"), image)
    with caplog.at_level("WARNING"):
        style = load_style_image(tmp_path / "s.tiff", 16)
    assert style.shape == (1, 3, 16, 16) and float(style[0, 1].min()) == 1.0 and float(style[0, 0].max()) == 0.0
    assert "alpha channel is ignored" in caplog.text


@pytest.mark.slow  # whole training runs: 3-17 s on the shared 2-core machine
def test_running_out_of_memory_is_one_line_that_says_what_to_lower(data: tuple[Path, Path], tmp_path: Path) -> None:
    from training.loop import TrainingOutOfMemory

    trainer = Trainer(_config(data, tmp_path, num_iterations=3, checkpoint_every=1), show_progress=False)
    step = trainer.step

    def step_then_oom(iteration: int):  # noqa: ANN202
        if iteration == 2:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate "
                               "memory: you tried to allocate 68719476736 bytes. Error code 12")
        return step(iteration)

    trainer.step = step_then_oom  # type: ignore[method-assign]
    with pytest.raises(TrainingOutOfMemory) as caught:
        trainer.run()
    message = str(caught.value)
    assert "iteration 2: out of cpu memory with --batch-size 2 at --image-size 16:16" in message
    assert message.endswith("the last checkpoint is from iteration 1") and "\n" not in message

    def other_error(iteration: int):  # noqa: ANN202
        raise RuntimeError("some other torch failure")

    trainer.step = other_error  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="some other torch failure"):
        trainer.run()
