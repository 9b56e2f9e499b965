"""Turn the data sources into per-iteration training samples (algorithm.md §10.2 steps 1-3)."""

from __future__ import annotations

import torch

from fav_core.errors import ConfigError
from fav_core.nets.preprocess import preprocess
from training.config import TrainConfig, parse_data_mix, parse_steps, steps_for_iteration
from training.sources import (
    MAX_SHIFT,
    VR_SIDES,
    ImageBank,
    Sample,
    SourceWheel,
    VideoBank,
    draw_shift,
    make_shift,
    make_single_image,
    make_vr,
    make_zoom_out,
    resize_bilinear,
)


class SampleMaker:
    """Draws one :class:`Sample` per iteration from the configured sources.

    Args:
        config: Training options (data mix, schedule, sizes, files).
        split: `train` or `val` (image HDF5 groups `train2014` / `val2014`, video groups `train` / `val`).
    """

    def __init__(self, config: TrainConfig, split: str = "train") -> None:
        self.config = config
        self.size_hw = config.size_hw
        self.schedule = parse_steps(config.num_frame_steps)
        mix = parse_data_mix(config.data_mix) if config.mode == "video" else {"single_image": 1}
        self.wheel = SourceWheel(mix)
        max_steps = max(k for _, k in self.schedule)
        if mix.get("zoom_out", 0) > 0 and min(self.size_hw) <= MAX_SHIFT * max_steps:
            raise ConfigError(
                f"zoom_out: training size {self.size_hw} must exceed 16·K = {MAX_SHIFT * max_steps} px"
            )
        needs_images = config.mode == "image" or any(w > 0 and s != "video" for s, w in mix.items())
        image_file = config.val_h5_file if split == "val" and config.val_h5_file else config.h5_file
        image_split = "val2014" if split == "val" else "train2014"
        self.images = ImageBank(image_file, image_split, config.crop_size) if needs_images else None
        self.videos = VideoBank(config.h5_file_video, split) if mix.get("video", 0) > 0 else None
        if self.images is not None and mix.get("zoom_out", 0) > 0:
            stored = self.images.image_hw
            if stored[0] < self.size_hw[0] or stored[1] < self.size_hw[1]:
                raise ConfigError(f"{image_file}: zoom_out needs images of at least the training size "
                                  f"{self.size_hw[0]}x{self.size_hw[1]}, the '{image_split}' images are "
                                  f"{stored[0]}x{stored[1]} (use --crop-size or a larger HDF5)")
        if self.videos is not None and self.videos.sequence_length < max_steps + 1:
            raise ConfigError(
                f"{config.h5_file_video}: sequences of {self.videos.sequence_length} frames ('{split}'), but "
                f"--num-frame-steps {config.num_frame_steps!r} reaches K = {max_steps}, which needs {max_steps + 1} "
                "(rebuild with a longer --sequence-length)"
            )

    def state(self) -> dict[str, int]:
        """Read positions of the banks (part of the resumable training state)."""
        return {
            "image_position": self.images.position if self.images else 0,
            "video_position": self.videos.position if self.videos else 0,
        }

    def load_state(self, state: dict[str, int]) -> None:
        """Restore read positions saved by :meth:`state`.

        A position beyond the end (a resume with a smaller HDF5 file) wraps around, as reading on would.
        """
        if self.images:
            self.images.position = int(state.get("image_position", 0)) % len(self.images)
        if self.videos:
            self.videos.position = int(state.get("video_position", 0)) % len(self.videos)

    def steps(self, iteration: int) -> int:
        """K for a (1-based) iteration from the `--num-frame-steps` schedule."""
        return steps_for_iteration(self.schedule, iteration)

    def image_batch(self, generator: torch.Generator) -> torch.Tensor:
        """Image-model batch: `(B, 3, H, W)` pre-space images resized to the training size."""
        if self.images is None:
            raise ConfigError("image batches need --h5-file")
        rgb = self.images.next_batch(self.config.batch_size, generator)
        return resize_bilinear(preprocess(rgb, self.config.preprocessing), self.size_hw)

    def sample(self, iteration: int, generator: torch.Generator, steps: int | None = None) -> Sample:
        """Draw the source and build the K-step sample for a (1-based) iteration.

        Args:
            iteration: Current iteration (for `single_image_until` and the K schedule).
            generator: Random generator for the source choice, shifts and crops.
            steps: Override K (validation uses the final K).
        """
        if iteration < self.config.single_image_until:
            source = "single_image"
        else:
            source = self.wheel.pick(generator)
        k = self.steps(iteration) if steps is None else steps  # single_image and vr are always K = 1
        if source == "video":
            assert self.videos is not None
            return self.videos.next_sample(self.config.batch_size, k, self.config.preprocessing)
        if self.images is None:
            raise ConfigError(f"source {source!r} needs --h5-file")
        pre = preprocess(self.images.next_batch(self.config.batch_size, generator), self.config.preprocessing)
        if source == "single_image":
            return make_single_image(pre, self.size_hw)
        if source == "vr":
            return make_vr(pre, VR_SIDES[int(torch.randint(0, len(VR_SIDES), (1,), generator=generator))])
        dx, dy = draw_shift(generator)
        if source == "shift":
            return make_shift(pre, k, self.size_hw, dx, dy)
        return make_zoom_out(pre, k, self.size_hw, dx, dy)
