"""Loss networks for perceptual losses and evaluation, selectable by name.

| name | what | weights |
|---|---|---|
| ``vgg16`` | VGG-16, reference layers (content relu3_3; style relu1_2, relu2_2, relu3_3, relu4_3) | torchvision IMAGENET1K_V1: ``weights`` file, else torch hub cache, else download |
| ``vgg16-t7`` / ``vgg16-t7:PATH`` | the same layers from the original fast-neural-style ``vgg16.t7`` | the .t7 file (``weights`` or after the colon) |
| ``random-multiscale`` | seeded random-filter pyramid (offline training net, offline_loss.md) | none, from ``seed`` |
| ``random-multiscale-literal`` | seeded single-layer multi-kernel net (independent offline evaluation net) | none, from ``seed`` |

Every network takes **vgg pre-space** input and returns ``dict[name, (B, C, H, W)]``; see
:class:`~fav_core.lossnet.base.LossNetwork`.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fav_core.errors import ConfigError
from fav_core.lossnet.base import LOSS_KINDS, LossNetwork
from fav_core.lossnet.random_multiscale import RandomMultiKernelNet, RandomPyramidNet
from fav_core.lossnet.vgg import (
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    VGG16Loss,
    layer_name,
    vgg16_from_t7,
    vgg16_torchvision,
)

LOSS_NETWORK_NAMES: tuple[str, ...] = ("vgg16", "vgg16-t7", "random-multiscale", "random-multiscale-literal")

__all__ = [
    "LOSS_KINDS",
    "LOSS_NETWORK_NAMES",
    "LossNetwork",
    "RandomMultiKernelNet",
    "RandomPyramidNet",
    "VGG16Loss",
    "layer_name",
    "make_loss_network",
    "vgg16_from_t7",
    "vgg16_torchvision",
]


def make_loss_network(
    name: str,
    *,
    seed: int = 0,
    weights: str | Path | None = None,
    content_layers: Sequence[int] = DEFAULT_CONTENT_LAYERS,
    style_layers: Sequence[int] = DEFAULT_STYLE_LAYERS,
    allow_download: bool = True,
) -> LossNetwork:
    """Build a loss network by name (frozen, eval mode, on the CPU).

    Args:
        name: one of ``LOSS_NETWORK_NAMES``, or ``"vgg16-t7:PATH"``.
        seed: filter seed of the random networks (ignored by VGG).
        weights: VGG weights file (``vgg16``: safetensors or torch state dict; ``vgg16-t7``: the .t7 file).
        content_layers: VGG reference layer indices for content (VGG only).
        style_layers: VGG reference layer indices for style (VGG only).
        allow_download: let ``vgg16`` download the torchvision weights when they are not cached.

    Raises:
        ConfigError: unknown name, or ``vgg16-t7`` without a file.
        ModelLoadError: VGG weights missing or unreadable.
    """
    if name.startswith("vgg16-t7:"):
        name, weights = "vgg16-t7", name.split(":", 1)[1]
    if name == "vgg16":
        return vgg16_torchvision(weights, content_layers, style_layers, allow_download=allow_download)
    if name == "vgg16-t7":
        if weights is None or str(weights) == "":
            raise ConfigError("loss network vgg16-t7 needs the vgg16.t7 file: vgg16-t7:PATH or --loss-weights PATH")
        return vgg16_from_t7(weights, content_layers, style_layers)
    if name == "random-multiscale":
        return RandomPyramidNet(seed)
    if name == "random-multiscale-literal":
        return RandomMultiKernelNet(seed)
    raise ConfigError(f"unknown loss network {name!r}; expected one of {', '.join(LOSS_NETWORK_NAMES)}")
