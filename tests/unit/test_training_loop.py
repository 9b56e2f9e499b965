"""Training loop: loss goes down, true resume is bit-identical, video recursion with an image model, helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from fav_core.errors import ConfigError
from fav_core.occlusion import min_filter as min_filter_np
from training.config import TrainConfig
from training.datasets import build_image_hdf5
from training.loop import Trainer, min_filter, pixel_loss

TINY_ARCH = "c3s1-4,d8,R8,U2,c3s1-3"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("train")
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 40, dtype=np.float32)
    images = {f"im{i}": np.clip(ramp[None, :, None] * rng.uniform(0.3, 1, 3) + rng.normal(0, 20, (40, 40, 3)),
                                0, 255).astype(np.uint8) for i in range(3)}
    h5 = build_image_hdf5(images, {"v": images["im0"]}, root / "img.h5", 32, 32, max_resize=8)
    style = root / "style.png"
    import cv2

    stripes = np.zeros((24, 24, 3), np.uint8)
    stripes[:, ::4] = (255, 40, 0)
    stripes[::4, :] = (0, 60, 255)
    cv2.imwrite(str(style), stripes)
    return h5, style


def _config(data: tuple[Path, Path], out: Path, **kw: object) -> TrainConfig:
    base: dict[str, object] = dict(
        mode="image", style_image=str(data[1]), output_dir=str(out), h5_file=str(data[0]), arch=TINY_ARCH,
        loss_network="random-multiscale", content_weights="1", style_weights="2", style_image_size=24,
        image_size="16:16", crop_size=0, batch_size=2, num_iterations=4, learning_rate="1e-2",
        checkpoint_every=2, images_every=1000, val_every=1000, num_val_batches=1, tv_strength=1e-6,
    )
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


@pytest.mark.slow
def test_image_training_lowers_the_loss(data: tuple[Path, Path], tmp_path: Path) -> None:
    config = _config(data, tmp_path, num_iterations=20, batch_size=3, checkpoint_every=20)
    torch.manual_seed(0)
    state = Trainer(config, show_progress=False).run()
    totals = [v for _, v in state.history["total"]]
    assert np.mean(totals[-5:]) < 0.8 * np.mean(totals[:5])
    assert (tmp_path / "checkpoint.safetensors").exists() and (tmp_path / "loss_curve.png").exists()
    assert "val_total" in state.history  # validation ran at the last iteration


def _video_config(data: tuple[Path, Path], out: Path, **kw: object) -> TrainConfig:
    options: dict[str, object] = dict(
        mode="video", image_model="self", data_mix="shift:2,single_image:1", num_frame_steps="0:1,2:2",
        fill_occlusions="uniform-random", crop_size=24, image_size="20:20", pixel_loss_weight=0.05,
    )
    options.update(kw)
    return _config(data, out, **options)


@pytest.mark.slow
def test_resume_is_bit_identical(data: tuple[Path, Path], tmp_path: Path) -> None:
    whole = Trainer(_video_config(data, tmp_path / "a"), show_progress=False)
    whole.run()
    first = Trainer(_video_config(data, tmp_path / "b"), show_progress=False)
    first.run(stop_at=2)
    second = Trainer(_video_config(data, tmp_path / "b"), show_progress=False)
    second.resume()
    assert second.state.iteration == 2
    second.run()
    for key, value in whole.net.state_dict().items():
        assert torch.equal(value, second.net.state_dict()[key]), key
    a = load_file(tmp_path / "a" / "checkpoint-state.safetensors")
    b = load_file(tmp_path / "b" / "checkpoint-state.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert whole.state.history["total"] == second.state.history["total"]


@pytest.mark.slow
def test_video_training_with_an_image_model_and_debug_images(data: tuple[Path, Path], tmp_path: Path) -> None:
    image_run = Trainer(_config(data, tmp_path / "img", num_iterations=1, checkpoint_every=1), show_progress=False)
    image_run.run()
    config = _video_config(data, tmp_path / "vid", image_model=str(tmp_path / "img" / "checkpoint.safetensors"),
                           num_iterations=2, images_every=1, val_every=2, num_frame_steps="0:1",
                           data_mix="zoom_out:1,shift:1", fill_occlusions="vgg-mean")
    trainer = Trainer(config, show_progress=False)
    state = trainer.run()
    assert state.iteration == 2 and "val_pixel" in state.history
    assert sorted(p.name for p in (tmp_path / "vid" / "debug").iterdir()) == ["iter_000001.png", "iter_000002.png"]
    with pytest.raises(ConfigError):  # resuming with another arch is refused
        Trainer(_video_config(data, tmp_path / "vid", arch="c3s1-4,d8,R8,R8,U2,c3s1-3"), False).resume()


def test_zoom_out_needs_a_training_size_above_16_k(data: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="zoom_out"):
        Trainer(_video_config(data, tmp_path, data_mix="zoom_out:1"), show_progress=False)


def test_min_filter_matches_core_min_filter() -> None:
    mask = (torch.rand(1, 1, 12, 15, generator=torch.Generator().manual_seed(2)) > 0.2).float()
    expected = min_filter_np(mask[0, 0].numpy(), 5)
    np.testing.assert_array_equal(min_filter(mask, 5)[0, 0].numpy(), expected)


def test_pixel_loss_is_masked_mean_over_all_elements() -> None:
    out = torch.zeros(1, 3, 2, 2)
    prior = torch.full((1, 3, 2, 2), 2.0)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    assert float(pixel_loss(out, prior, mask, "L2")) == pytest.approx(4.0 * 3 / 12)
    assert float(pixel_loss(out, prior, mask, "L1")) == pytest.approx(2.0 * 3 / 12)
