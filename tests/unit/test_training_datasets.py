"""HDF5 builders on tiny data: reference layouts, determinism, and readback through the training banks."""

from __future__ import annotations

from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch

from fav_core.errors import ConfigError, InputError
from fav_core.flow.providers import make_provider
from training.datasets import as_rgb_u8, build_image_hdf5, build_video_hdf5, fit_image, read_image_folder
from training.sources import ImageBank, VideoBank


def _photo(seed: int, height: int = 36, width: int = 44) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_fit_image_crops_top_left_to_multiple_then_resizes() -> None:
    image = np.zeros((20, 37, 3), np.uint8)
    image[:, 32:] = 255  # columns beyond the multiple of 16 are cropped away
    assert fit_image(image, 8, 8).max() == 0
    square = fit_image(_photo(0, 32, 64), 16, 16, max_resize=16, center_square=True)
    assert square.shape == (16, 16, 3)


def test_image_hdf5_layout_determinism_and_bank(tmp_path: Path) -> None:
    train = {f"p{i}": _photo(i) for i in range(5)}
    val = {"v": _photo(9)}
    a = build_image_hdf5(train, val, tmp_path / "a.h5", 16, 24, max_resize=4, seed=1)
    b = build_image_hdf5(train, val, tmp_path / "b.h5", 16, 24, max_resize=4, seed=1)
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        assert fa["train2014/images"].shape == (5, 3, 16, 24) and fa["train2014/images"].dtype == np.uint8
        assert fa["val2014/images"].shape == (1, 3, 16, 24)
        assert np.array_equal(fa["train2014/images"][...], fb["train2014/images"][...])
        assert sorted(fa["train2014"].attrs["names"].split(",")) == sorted(train)
    bank = ImageBank(a, "train2014")
    sizes = [bank.next_batch(2, torch.Generator()).shape[0] for _ in range(4)]
    assert sizes == [2, 2, 1, 2]  # sequential, last batch of a pass smaller, then wrap-around
    crops = ImageBank(a, "train2014", crop_size=12).next_batch(3, torch.Generator().manual_seed(0))
    assert crops.shape == (3, 3, 12, 12) and 0.0 <= float(crops.min()) and float(crops.max()) <= 1.0
    with pytest.raises(ConfigError):
        build_image_hdf5({}, {}, tmp_path / "c.h5")


def test_read_image_folder_and_conversions(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "b.png"), np.full((4, 5, 3), (10, 20, 30), np.uint8))
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((4, 5, 3), np.uint8))
    images = read_image_folder(tmp_path)
    assert list(images) == ["a", "b"] and images["b"][0, 0].tolist() == [30, 20, 10]  # RGB order
    assert as_rgb_u8(np.ones((2, 2), bool), "x").shape == (2, 2, 3)
    with pytest.raises(InputError):
        read_image_folder(tmp_path / "missing")


def _clip(frames: int, dx: int) -> list[np.ndarray]:
    base = cv2.GaussianBlur(_photo(4, 64, 96), (0, 0), 2.0)
    return [np.roll(base, dx * t, axis=1) for t in range(frames)]


def test_video_hdf5_layout_flow_and_bank(tmp_path: Path) -> None:
    out = build_video_hdf5([_clip(4, 2)], [], tmp_path / "v.h5", make_provider("dis", preset="medium"),
                           height=32, width=48, sequence_length=3, stride=1, seed=0)
    with h5py.File(out, "r") as handle:
        assert handle["train/frames1"].shape == (2, 3, 3, 32, 48)
        assert handle["train/flow"].shape == (2, 2, 2, 32, 48) and handle["train/flow"].dtype == np.float32
        assert handle["train/cert"].shape == (2, 2, 32, 48)
        assert handle["val/frames1"].shape == (2, 3, 3, 32, 48)  # reference: val = train, reshuffled
        flow = handle["train/flow"][0, 0]
        cert = handle["train/cert"][0, 0]
    # frames roll right by 1 px at this size: the backward flow of frame t points left (dx = -1)
    centre = flow[:, 8:-8, 8:-8]
    assert abs(float(np.median(centre[0])) + 1.0) < 0.2 and abs(float(np.median(centre[1]))) < 0.2
    assert set(np.unique(cert)) <= {0, 255}
    sample = VideoBank(out, "train").next_sample(2, 2, "vgg")
    assert sample.steps == 2 and sample.frames[0].shape == (2, 3, 32, 48) and sample.masks[0].shape == (2, 1, 32, 48)
    with pytest.raises(ConfigError):
        VideoBank(out, "train").next_sample(1, 3, "vgg")  # K+1 = 4 > sequence length 3


def test_synthetic_clips_are_deterministic_and_move() -> None:
    from training.synthetic import synthetic_clips

    photos = {"a": _photo(1, 60, 80), "b": _photo(2, 50, 50)}
    first = synthetic_clips(photos, 2, 4, (24, 32), seed=5)
    again = synthetic_clips(photos, 2, 4, (24, 32), seed=5)
    assert len(first) == 4 and all(len(clip) == 4 for clip in first)
    assert all(f.shape == (24, 32, 3) and f.dtype == np.uint8 for clip in first for f in clip)
    assert all(np.array_equal(a, b) for ca, cb in zip(first, again, strict=True) for a, b in zip(ca, cb, strict=True))
    assert all(not np.array_equal(clip[0], clip[-1]) for clip in first)  # camera and shapes move
