"""The perceptual training objective: loss network + content/style losses + TV (algorithm.md §10.5-10.6).

Two loss kinds, chosen by the loss network (`LossNetwork.loss_kind`):
- `reference` (VGG-16): Σ content MSE + Σ Gram MSE with per-layer weights, exactly as the reference;
- `relative` (random-multiscale, offline_loss.md): relative content error on the coarse blocks (weight =
  `--content-weights`) and relative Gram + mean/covariance style error averaged over blocks (both terms weighted
  by `--style-weights`, 2 in offline_loss.md).
Empty `--content-layers` / `--style-layers` mean the network's defaults.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from fav_core.errors import ConfigError, InputError
from fav_core.losses import (
    content_loss,
    moment_targets,
    offline_content_loss,
    offline_style_loss,
    style_loss,
    style_targets,
    tv_loss,
)
from fav_core.lossnet import make_loss_network
from fav_core.nets.preprocess import deprocess, preprocess
from training.config import TrainConfig, parse_floats
from training.sources import resize_bilinear

LOG = logging.getLogger(__name__)


#: Smallest shorter side of a style image, as stored and after scaling to `--style-image-size`.
MIN_STYLE_SIDE = 16


def load_style_image(path: str | Path, longer_side: int) -> torch.Tensor:
    """Read a style image and resize it so that its longer side is `longer_side` (torch7 `image.scale`).

    Grey images are used as grey RGB; an alpha channel is dropped (with a warning when it has transparent
    pixels: they are used with their stored colour).

    Returns:
        `(1, 3, H, W)` float32 rgb01.

    Raises:
        InputError: missing or undecodable file, or an image too small (or too thin) to carry a style.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such style image")
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.ndim not in (2, 3) or raw.size == 0:
        raise InputError(path, "cannot read the style image (not an image file OpenCV can decode)")
    height, width = raw.shape[:2]
    if min(height, width) < MIN_STYLE_SIDE:
        raise InputError(path, f"the style image is {width}x{height} px; it needs at least {MIN_STYLE_SIDE} px "
                               "on its shorter side")
    scale = longer_side / max(height, width)
    size = (max(round(height * scale), 1), max(round(width * scale), 1))
    if min(size) < MIN_STYLE_SIDE:
        raise InputError(path, f"the style image ({width}x{height} px) is {size[1]}x{size[0]} px at "
                               f"--style-image-size {longer_side}; its shorter side needs at least "
                               f"{MIN_STYLE_SIDE} px (raise --style-image-size or crop the image)")
    opaque = np.iinfo(raw.dtype).max if np.issubdtype(raw.dtype, np.integer) else 1.0
    if raw.ndim == 3 and raw.shape[2] == 4 and float(raw[..., 3].min()) < opaque:
        LOG.warning("%s: the style image's alpha channel is ignored (transparent pixels are used with their "
                    "stored colour)", path)
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)  # 8-bit BGR, EXIF orientation applied
    if bgr is not None:
        rgb01 = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    else:  # e.g. a float TIFF, which IMREAD_COLOR refuses: convert what IMREAD_UNCHANGED gave
        rgb01 = _unchanged_to_rgb01(raw, path)
    rgb = torch.from_numpy(np.ascontiguousarray(rgb01))
    return resize_bilinear(rgb.permute(2, 0, 1)[None], size)


def _unchanged_to_rgb01(raw: np.ndarray, path: Path) -> np.ndarray:
    """`(H, W[, C])` grey / BGR / BGRA of any depth (as cv2.IMREAD_UNCHANGED reads it) -> `(H, W, 3)` float32 RGB
    in [0, 1] (integers scaled by their maximum, floats clipped).

    Raises:
        InputError: a channel count other than 1, 3 or 4.
    """
    image = raw[..., None] if raw.ndim == 2 else raw
    if image.shape[2] not in (1, 3, 4):
        raise InputError(path, f"the style image has {image.shape[2]} channels; expected grey, RGB or RGBA")
    scale = float(np.iinfo(image.dtype).max) if np.issubdtype(image.dtype, np.integer) else 1.0
    values = np.clip(image.astype(np.float32) / scale, 0.0, 1.0)
    return np.repeat(values, 3, axis=2) if values.shape[2] == 1 else values[..., 2::-1]


class PerceptualObjective(nn.Module):
    """Content + style loss of a model output against its content frame and the style image.

    Args:
        config: Training options (loss network, layers, weights, preprocessing).
        style_rgb01: `(1, 3, H, W)` style image in rgb01.
        device: Device of the loss network.
    """

    def __init__(self, config: TrainConfig, style_rgb01: torch.Tensor, device: torch.device) -> None:
        super().__init__()
        self.config = config
        layers: dict[str, object] = {}
        if config.loss_network.startswith("vgg16"):
            try:
                layers["content_layers"] = [int(v) for v in config.content_layer_list] or (16,)
                layers["style_layers"] = [int(v) for v in config.style_layer_list] or (4, 9, 16, 23)
            except ValueError:
                raise ConfigError("--content-layers/--style-layers: VGG layers are 1-based indices") from None
        self.net = make_loss_network(  # never downloads: training must run offline
            config.loss_network, seed=config.loss_seed, weights=config.loss_weights or None, allow_download=False,
            **layers,
        ).to(device)
        self.kind = self.net.loss_kind
        if self.kind == "reference" or not config.content_layer_list:
            self.content_layers = self.net.content_layers
        else:
            self.content_layers = config.content_layer_list
        if self.kind == "reference" or not config.style_layer_list:
            self.style_layers = self.net.style_layers
        else:
            self.style_layers = config.style_layer_list
        known = set(self.net.layers)
        for name in self.content_layers + self.style_layers:
            if self.kind == "relative" and name not in known:
                raise ConfigError(f"loss network {config.loss_network}: no layer {name!r} (has {sorted(known)})")
        self.net.content_layers = self.content_layers
        self.net.style_layers = self.style_layers
        self.content_weights = parse_floats(config.content_weights, "--content-weights")
        self.style_weights = parse_floats(config.style_weights, "--style-weights")
        if self.kind == "relative":
            for option, weights in (("--content-weights", self.content_weights),
                                    ("--style-weights", self.style_weights)):
                if len(weights) != 1:
                    raise ConfigError(f"{option}: loss network {config.loss_network} takes one weight (it balances "
                                      f"its blocks itself), got {len(weights)}")
        with torch.no_grad():
            features = self._features(preprocess(style_rgb01.to(device), "vgg"), already_vgg=True)
        if self.kind == "relative":
            self.targets = moment_targets(features, self.style_layers)
        else:
            self.targets = style_targets(features, self.style_layers, config.style_target_type)

    def _features(self, x: torch.Tensor, already_vgg: bool = False) -> dict[str, torch.Tensor]:
        if not already_vgg and self.config.preprocessing != "vgg":
            x = preprocess(deprocess(x, self.config.preprocessing), "vgg")
        return {name: f.float() for name, f in self.net(x).items()}

    def forward(self, output: torch.Tensor, content: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Content + style loss (before `--percep-loss-weight`).

        Args:
            output: `(B, 3, H, W)` model output in the model's pre-space (gradient flows).
            content: `(B, 3, H, W)` content frames in the same space (constant).

        Returns:
            (scalar loss, {"content": ..., "style": ..., ...}).
        """
        features = self._features(output)
        with torch.no_grad():
            content_features = self._features(content)
        if self.kind == "relative":
            c_loss, c_parts = offline_content_loss(
                features, content_features, self.content_layers, self.content_weights[0]
            )
            weight = self.style_weights[0]
            s_loss, s_parts = offline_style_loss(features, self.targets, self.style_layers, weight, weight)
        else:
            c_loss, c_parts = content_loss(features, content_features, self.content_layers, self.content_weights)
            s_loss, s_parts = style_loss(
                features, self.targets, self.style_layers, self.style_weights, self.config.style_target_type
            )
        parts = {k: v for k, v in {**c_parts, **s_parts}.items() if "/" not in k}
        return c_loss + s_loss, parts

    def tv(self, output: torch.Tensor) -> torch.Tensor:
        """TV regulariser value (`--tv-strength`) of the output in pre-space."""
        value, _ = tv_loss(output.float(), self.config.tv_strength)
        return value
