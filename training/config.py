"""Training options (algorithm.md §10.1) as one frozen, validated dataclass, plus the small schedule parsers.

The defaults are the reference train_video.lua defaults unless noted; `mode="image"` trains the 3-channel
fast-neural-style image network with the same machinery (fns defaults differ only in the style settings, which
the caller passes explicitly).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from pathlib import Path

from fav_core.errors import ConfigError

#: Reference default architecture (fns / train_video.lua `-arch`).
DEFAULT_ARCH = "c9s1-32,d64,d128,R128,R128,R128,R128,R128,u64,u32,c9s1-3"

#: The small architecture of offline_loss.md (277 k parameters), used for the shipped default models.
SMALL_ARCH = "c9s1-16,d32,d64,R64,R64,R64,U2,c3s1-32,U2,c3s1-16,c9s1-3"

SOURCES = ("single_image", "shift", "zoom_out", "video", "vr")
PADDING_TYPES = ("reflect-start", "reflect", "replicate", "zero", "none")
FILL_TYPES = ("vgg-mean", "uniform-random")
PIXEL_LOSS_TYPES = ("L2", "L1", "SmoothL1")
#: Options that only video training reads; image training accepts and ignores them.
VIDEO_ONLY = frozenset({
    "h5_file_video", "image_model", "data_mix", "num_frame_steps", "single_image_until", "reliable_map_min_filter",
    "fill_occlusions", "pixel_loss_type", "pixel_loss_weight",
})


def parse_data_mix(text: str) -> dict[str, int]:
    """Parse `"shift:1,zoom_out:1,video:3"` into {source: weight}.

    Raises:
        ConfigError: unknown or repeated source, non-integer or negative weight, or all weights zero.
    """
    mix: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, weight = (part.strip() for part in item.partition(":"))
        if name in mix:
            raise ConfigError(f"--data-mix: source {name!r} is given twice in {text!r}")
        if name not in SOURCES:
            raise ConfigError(f"--data-mix: unknown source {name!r} (choose from {', '.join(SOURCES)})")
        try:
            mix[name] = int(weight) if weight else 1
        except ValueError:
            raise ConfigError(f"--data-mix: weight of {name!r} must be an integer, got {weight!r}") from None
        if mix[name] < 0:
            raise ConfigError(f"--data-mix: weight of {name!r} must be >= 0")
    if sum(mix.values()) <= 0:
        raise ConfigError(f"--data-mix: no source with a positive weight in {text!r}")
    return mix


def parse_steps(text: str) -> tuple[tuple[int, int], ...]:
    """Parse a `--num-frame-steps` schedule `"0:1,50000:2,60000:4"` into ((iter, K), ...).

    Raises:
        ConfigError: malformed entry, K < 1, or iterations not increasing.
    """
    entries: list[tuple[int, int]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        start, sep, steps = item.partition(":")
        try:
            pair = (int(start), int(steps))
        except ValueError:
            raise ConfigError(f"--num-frame-steps: entry {item!r} is not ITER:STEPS") from None
        if not sep or pair[1] < 1:
            raise ConfigError(f"--num-frame-steps: entry {item!r} needs STEPS >= 1")
        if entries and pair[0] <= entries[-1][0]:
            raise ConfigError(f"--num-frame-steps: iterations must increase, got {text!r}")
        entries.append(pair)
    if not entries:
        raise ConfigError("--num-frame-steps: empty schedule")
    return tuple(entries)


def steps_for_iteration(schedule: tuple[tuple[int, int], ...], iteration: int) -> int:
    """Number of recursion steps K at a (1-based) iteration: the last entry whose iter is STRICTLY less.

    `0:1,50000:2,60000:4` gives K=1 up to 50000, 2 for 50001-60000, 4 after (algorithm.md §10.2). Before the
    first entry applies, K=1.
    """
    steps = 1
    for start, value in schedule:
        if start < iteration:
            steps = value
    return steps


def parse_learning_rate(text: str) -> tuple[float, tuple[tuple[int, float], ...]]:
    """Parse `"r0,iterA:rA,iterB:rB"` (the rate switches when the iteration is greater than iterX).

    Returns:
        (initial rate, ((iterA, rA), ...)).

    Raises:
        ConfigError: malformed numbers, a rate that is not finite and positive, or switch iterations that do
            not increase.
    """
    parts = [part.strip() for part in text.split(",") if part.strip()]
    try:
        base = float(parts[0])
        switches = tuple((int(p.split(":")[0]), float(p.split(":")[1])) for p in parts[1:])
    except (IndexError, ValueError):
        raise ConfigError(f"--learning-rate: expected RATE[,ITER:RATE...], got {text!r}") from None
    if not all(math.isfinite(rate) and rate > 0 for rate in (base, *(r for _, r in switches))):
        raise ConfigError(f"--learning-rate: rates must be finite and > 0, got {text!r}")
    starts = [start for start, _ in switches]
    if starts != sorted(set(starts)):
        raise ConfigError(f"--learning-rate: switch iterations must increase, got {text!r}")
    return base, switches


def learning_rate_at(text: str, iteration: int) -> float:
    """Learning rate in effect at a (1-based) iteration for a `--learning-rate` string."""
    rate, switches = parse_learning_rate(text)
    for start, value in switches:
        if iteration > start:
            rate = value
    return rate


def parse_floats(text: str, option: str) -> tuple[float, ...]:
    """Parse a comma-separated list of finite, non-negative floats such as `--style-weights 5.0,5.0`.

    Raises:
        ConfigError: a value is not a number, not finite or negative (a negative loss weight would push the
            network away from its target).
    """
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{option}: expected comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise ConfigError(f"{option}: weights must be finite and >= 0, got {text!r}")
    return values


#: `--device` values: the CPU or a CUDA device.
DEVICE_PATTERN = re.compile(r"cpu|cuda(:\d+)?")


def parse_image_size(text: str) -> tuple[int, int]:
    """Parse `"H:W"` (or a single `"S"` for square) into (H, W), both multiples of 4.

    Raises:
        ConfigError: malformed or not a multiple of 4 (algorithm.md §3.3 size constraint).
    """
    parts = text.split(":")
    try:
        size = (int(parts[0]), int(parts[-1]))
    except ValueError:
        raise ConfigError(f"--image-size: expected H:W, got {text!r}") from None
    if len(parts) > 2 or min(size) < 8 or size[0] % 4 or size[1] % 4:
        raise ConfigError(f"--image-size: H and W must be multiples of 4 and >= 8, got {text!r}")
    return size


@dataclass(frozen=True)
class TrainConfig:
    """Every option of one training run (validated on construction).

    Attributes mirror the CLI flags (kebab-case there, snake_case here). Empty content/style layer lists mean
    the loss network's defaults (VGG-16: content 16, style 4,9,16,23 as in the reference). Lists that the CLI takes as
    comma-separated strings are stored as strings and parsed by the helpers above, so the config round-trips
    through JSON unchanged (it is stored in every checkpoint).
    """

    mode: str = "video"
    style_image: str = ""
    style_name: str = ""
    output_dir: str = "runs/train"
    h5_file: str = ""
    h5_file_video: str = ""
    val_h5_file: str = ""
    arch: str = DEFAULT_ARCH
    use_instance_norm: bool = True
    padding_type: str = "reflect-start"
    tanh_constant: float = 150.0
    preprocessing: str = "vgg"
    image_model: str = ""
    data_mix: str = "shift:1,zoom_out:1,video:3"
    num_frame_steps: str = "0:1"
    single_image_until: int = 0
    reliable_map_min_filter: int = 7
    fill_occlusions: str = "vgg-mean"
    image_size: str = "256:256"
    crop_size: int = 0
    pixel_loss_type: str = "L2"
    pixel_loss_weight: float = 50.0
    percep_loss_weight: float = 1.0
    tv_strength: float = 1e-6
    loss_network: str = "vgg16"
    loss_weights: str = ""
    loss_seed: int = 0
    content_weights: str = "1.0"
    content_layers: str = ""
    style_weights: str = "10.0"
    style_layers: str = ""
    style_image_size: int = 384
    style_target_type: str = "gram"
    num_iterations: int = 60000
    batch_size: int = 4
    learning_rate: str = "1e-3"
    checkpoint_every: int = 1000
    images_every: int = 100
    val_every: int = 500
    num_val_batches: int = 4
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.mode not in ("image", "video"):
            raise ConfigError(f"mode must be 'image' or 'video', got {self.mode!r}")
        if self.padding_type not in PADDING_TYPES:
            raise ConfigError(f"--padding-type: choose from {', '.join(PADDING_TYPES)}")
        if self.fill_occlusions not in FILL_TYPES:
            raise ConfigError(f"--fill-occlusions: choose from {', '.join(FILL_TYPES)}")
        if self.pixel_loss_type not in PIXEL_LOSS_TYPES:
            raise ConfigError(f"--pixel-loss-type: choose from {', '.join(PIXEL_LOSS_TYPES)}")
        if self.preprocessing not in ("vgg", "resnet"):
            raise ConfigError("--preprocessing: choose vgg or resnet")
        if self.style_target_type not in ("gram", "mean"):
            raise ConfigError("--style-target-type: choose gram or mean")
        for name in ("num_iterations", "batch_size", "checkpoint_every", "images_every", "val_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1")
        if self.reliable_map_min_filter < 1 or self.reliable_map_min_filter % 2 == 0:
            raise ConfigError("--reliable-map-min-filter must be an odd number >= 1")
        if self.style_image_size < 16:
            raise ConfigError("--style-image-size must be >= 16")
        for name in ("pixel_loss_weight", "percep_loss_weight", "tv_strength"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {value!r}")
        if self.crop_size < 0 or self.num_val_batches < 0 or self.single_image_until < 0:
            raise ConfigError("--crop-size, --num-val-batches and --single-image-until must be >= 0")
        if not DEVICE_PATTERN.fullmatch(self.device):
            raise ConfigError(f"--device: expected cpu, cuda or cuda:N, got {self.device!r}")
        if not self.style_image:
            raise ConfigError("--style-image is required")
        height, width = self.size_hw
        if self.crop_size and self.crop_size < max(height, width):
            raise ConfigError(f"--crop-size {self.crop_size} must be >= the training size {height}x{width}")
        mix = parse_data_mix(self.data_mix)
        parse_steps(self.num_frame_steps)
        parse_learning_rate(self.learning_rate)
        for option, weights, layers in (
            ("--content-weights", self.content_weights, self.content_layer_list),
            ("--style-weights", self.style_weights, self.style_layer_list),
        ):
            count = len(parse_floats(weights, option))
            if count == 0 or (layers and count not in (1, len(layers))):
                raise ConfigError(f"{option}: give one weight or one per layer")
        if self.mode == "video":
            if not self.image_model:
                raise ConfigError("--image-model is required for video training (a model file or 'self')")
            if any(src != "video" and w > 0 for src, w in mix.items()) and not self.h5_file:
                raise ConfigError("--h5-file (image HDF5) is required by the synthetic data sources")
            if mix.get("video", 0) > 0 and not self.h5_file_video:
                raise ConfigError("--h5-file-video is required by the 'video' data source")
        elif not self.h5_file:
            raise ConfigError("--h5-file (image HDF5) is required for image training")

    @property
    def size_hw(self) -> tuple[int, int]:
        """Training size (H, W) for the synthetic sources."""
        return parse_image_size(self.image_size)

    @property
    def content_layer_list(self) -> tuple[str, ...]:
        """Content layer names/indices as strings."""
        return tuple(v.strip() for v in self.content_layers.split(",") if v.strip())

    @property
    def style_layer_list(self) -> tuple[str, ...]:
        """Style layer names/indices as strings."""
        return tuple(v.strip() for v in self.style_layers.split(",") if v.strip())

    @property
    def in_channels(self) -> int:
        """3 for the image network, 7 for the video network."""
        return 3 if self.mode == "image" else 7

    @property
    def output_path(self) -> Path:
        """Run folder as a Path."""
        return Path(self.output_dir)

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-able dict of all options."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ConfigError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"training config: unknown option(s) {', '.join(unknown)}")
        return cls(**data)  # type: ignore[arg-type]
