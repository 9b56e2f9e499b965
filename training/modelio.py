"""Training networks ↔ our model files (`fav_core.modelfile`): metadata from the config, frozen loading."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from fav_core.errors import ConfigError
from fav_core.modelfile import ModelMeta, load_model, save_model
from training.config import VIDEO_ONLY, TrainConfig


def style_name(config: TrainConfig) -> str:
    """The style's short name: `--style-name`, else the style image's file stem."""
    return config.style_name or Path(config.style_image).stem or "style"


def model_meta(config: TrainConfig, iteration: int) -> ModelMeta:
    """Metadata of the network being trained (the training options go to `trained_with`; for an image model
    without the options only video training reads, which would misdescribe it)."""
    settings = {k: v for k, v in config.to_dict().items() if config.mode == "video" or k not in VIDEO_ONLY}
    return ModelMeta(
        kind=config.mode,
        arch=config.arch,
        in_channels=config.in_channels,
        style_name=style_name(config),
        padding=config.padding_type,
        norm="instance" if config.use_instance_norm else "batch",
        tanh_constant=config.tanh_constant,
        preprocessing=config.preprocessing,
        fill=config.fill_occlusions,
        style_image=Path(config.style_image).name,
        trained_with={"iterations": iteration, "config": settings},
    )


def save_training_model(
    path: str | Path, net: nn.Module, config: TrainConfig, iteration: int, dtype: torch.dtype = torch.float32
) -> Path:
    """Save the network in our model format (float32 by default so that resuming is exact)."""
    return save_model(path, net, model_meta(config, iteration), dtype=dtype)


def load_frozen_model(path: str | Path, device: torch.device, expect_arch: str | None = None) -> nn.Module:
    """Load a model file as a frozen network in eval mode (used for the first-frame image model and resume).

    Raises:
        ModelLoadError: the file cannot be loaded.
        ConfigError: `expect_arch` is given and differs from the file's.
    """
    model = load_model(path, device=device)
    if expect_arch is not None and model.meta.arch != expect_arch:
        raise ConfigError(f"{path}: checkpoint arch {model.meta.arch!r} differs from --arch {expect_arch!r}")
    return _frozen(model.net, device)


def load_first_frame_model(path: str | Path, device: torch.device, preprocessing: str) -> nn.Module:
    """Load the `--image-model` of video training: a 3-channel model in the run's pre-space, frozen.

    Raises:
        ModelLoadError: the file cannot be loaded.
        ConfigError: the file is a video (7-channel) model or was trained in another pre-space.
    """
    model = load_model(path, device=device)
    if model.meta.in_channels != 3:
        raise ConfigError(f"{path}: --image-model needs an image model (3 input channels), this is a "
                          f"{model.meta.kind} model with {model.meta.in_channels}")
    if model.meta.preprocessing != preprocessing:
        raise ConfigError(f"{path}: the image model works in {model.meta.preprocessing!r} pre-space, the run in "
                          f"{preprocessing!r} (--preprocessing)")
    return _frozen(model.net, device)


def _frozen(net: nn.Module, device: torch.device) -> nn.Module:
    """The network on `device`, in eval mode, without gradients."""
    net = net.to(device)
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    return net.eval()
