"""Model pre/deprocessing between "rgb01" tensors and the network's "pre-space" (algorithm.md §2).

- ``vgg`` (default everywhere, inference in the reference hard-codes it): RGB -> BGR, ×255, minus the
  per-channel mean B=103.939, G=116.779, R=123.68. No division by a std, no clamping.
- ``resnet`` (training option only): RGB stays RGB, ``(x - mean) / std`` on [0, 1] values.

Both functions return new tensors; the caller's tensor is never modified.
"""
from __future__ import annotations

import torch

from fav_core.errors import ConfigError, check_shape

#: VGG mean in pre-space channel order (B, G, R), on the 0..255 scale.
VGG_MEAN_BGR: tuple[float, float, float] = (103.939, 116.779, 123.68)
#: The same mean in RGB order (R, G, B), on the 0..255 scale.
VGG_MEAN_RGB: tuple[float, float, float] = (123.68, 116.779, 103.939)
#: Scale between rgb01 and vgg pre-space.
VGG_SCALE: float = 255.0
#: ImageNet mean / std used by ``resnet`` preprocessing, RGB order, on [0, 1] values.
RESNET_MEAN_RGB: tuple[float, float, float] = (0.485, 0.456, 0.406)
RESNET_STD_RGB: tuple[float, float, float] = (0.229, 0.224, 0.225)
#: Preprocessing kinds understood by :func:`preprocess` / :func:`deprocess`.
PREPROCESSING_KINDS: tuple[str, ...] = ("vgg", "resnet")


def _channel_vector(values: tuple[float, float, float], like: torch.Tensor) -> torch.Tensor:
    """(1, 3, 1, 1) tensor of ``values`` on ``like``'s device and dtype."""
    return torch.tensor(values, dtype=like.dtype, device=like.device).view(1, 3, 1, 1)


def _check(x: torch.Tensor, kind: str, name: str) -> None:
    if kind not in PREPROCESSING_KINDS:
        raise ConfigError(f"unknown preprocessing {kind!r}; expected one of {', '.join(PREPROCESSING_KINDS)}")
    check_shape(x, "B 3 H W", name)
    if not x.is_floating_point():
        raise ConfigError(f"{name}: expected a floating point tensor, got {x.dtype}")


def preprocess(rgb01: torch.Tensor, kind: str = "vgg") -> torch.Tensor:
    """Convert rgb01 images to the network's pre-space.

    Args:
        rgb01: (B, 3, H, W) float, RGB, nominally [0, 1] (values outside are kept as they are).
        kind: ``"vgg"`` or ``"resnet"``.

    Returns:
        (B, 3, H, W) pre-space tensor (a new tensor): vgg = BGR, 0..255 minus the VGG mean;
        resnet = RGB, (x - mean) / std.

    Raises:
        ConfigError: unknown ``kind`` or non-float input.
        ShapeError: input is not (B, 3, H, W).
    """
    _check(rgb01, kind, "rgb01")
    if kind == "vgg":
        bgr = rgb01.flip(1)  # flip returns a copy: RGB -> BGR
        return bgr * VGG_SCALE - _channel_vector(VGG_MEAN_BGR, rgb01)
    return (rgb01 - _channel_vector(RESNET_MEAN_RGB, rgb01)) / _channel_vector(RESNET_STD_RGB, rgb01)


def deprocess(x: torch.Tensor, kind: str = "vgg") -> torch.Tensor:
    """Convert pre-space tensors back to rgb01 (exact inverse of :func:`preprocess`, no clamping).

    Args:
        x: (B, 3, H, W) float in pre-space of ``kind``.
        kind: ``"vgg"`` or ``"resnet"``.

    Returns:
        (B, 3, H, W) RGB tensor, nominally [0, 1] (may exceed it; clamp only when writing files).

    Raises:
        ConfigError: unknown ``kind`` or non-float input.
        ShapeError: input is not (B, 3, H, W).
    """
    _check(x, kind, "pre-space tensor")
    if kind == "vgg":
        bgr01 = (x + _channel_vector(VGG_MEAN_BGR, x)) / VGG_SCALE
        return bgr01.flip(1)
    return x * _channel_vector(RESNET_STD_RGB, x) + _channel_vector(RESNET_MEAN_RGB, x)
