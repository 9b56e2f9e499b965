"""Content and style losses of stylized frames against their input frames and a style image (algorithm.md §7).

With a VGG network (``loss_kind == "reference"``) the numbers are the reference's: content layer relu3_3 and Gram
style layers relu1_2, relu2_2, relu3_3, relu4_3, weights 1.0, MSE definitions of §10.5, inputs in vgg pre-space.
With a random offline network (``loss_kind == "relative"``) the relative losses of offline_loss.md are used
(content on the coarse blocks, style = relative Gram + mean/covariance), which do not depend on feature scale.

The style image is resized so that its **longer** side is ``style_image_size`` (default 256, the reference's
evaluation value; torch ``image.scale(img, n)`` semantics), bilinear without antialiasing.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fav_core.errors import ConfigError, ShapeError, check_shape
from fav_core.losses import (
    content_loss,
    moment_targets,
    offline_content_loss,
    offline_style_loss,
    style_loss,
    style_targets,
)
from fav_core.lossnet.base import LossNetwork
from fav_core.nets.preprocess import preprocess

DEFAULT_STYLE_IMAGE_SIZE = 256


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) numpy rgb01 -> (1, 3, H, W) float32 tensor (a copy)."""
    check_shape(rgb, "H W 3", "image")
    return torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None].clone()


def resize_longer_side(rgb: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (B, 3, H, W) so that max(H, W) == size, keeping the aspect ratio (bilinear, no antialiasing).

    Raises:
        ConfigError: ``size < 1``.
    """
    if size < 1:
        raise ConfigError(f"style_image_size must be >= 1, got {size}")
    h, w = rgb.shape[-2:]
    scale = size / max(h, w)
    new = (max(1, round(h * scale)), max(1, round(w * scale)))
    if new == (h, w):
        return rgb.clone()
    return F.interpolate(rgb, size=new, mode="bilinear", align_corners=False, antialias=False)


@dataclass(frozen=True)
class PerceptualSettings:
    """Loss weights and the style target type (reference evaluation defaults)."""

    content_weight: float = 1.0
    style_weight: float = 1.0
    style_target_type: str = "gram"
    style_image_size: int = DEFAULT_STYLE_IMAGE_SIZE


class PerceptualEvaluator:
    """Computes content (and, with a style image, style) loss per stylized frame.

    Args:
        net: a loss network (:func:`fav_core.lossnet.make_loss_network`).
        style_rgb: (H, W, 3) rgb01 style image, or None for content loss only.
        settings: weights, target type, style image size.
        device: torch device for the loss network.
    """

    def __init__(
        self,
        net: LossNetwork,
        style_rgb: np.ndarray | None,
        settings: PerceptualSettings | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        self.net = net.to(device).eval()
        self.settings = settings or PerceptualSettings()
        self.device = torch.device(device)
        self._gram: dict[str, torch.Tensor] | None = None
        self._moments: Mapping[str, Any] | None = None
        if style_rgb is not None:
            style = resize_longer_side(to_tensor(style_rgb), self.settings.style_image_size)
            with torch.no_grad():
                feats = self.net(preprocess(style, "vgg").to(self.device))
            if net.loss_kind == "relative":
                self._moments = moment_targets(feats, net.style_layers)
            else:
                self._gram = style_targets(feats, net.style_layers, self.settings.style_target_type)

    @property
    def has_style(self) -> bool:
        return self._gram is not None or self._moments is not None

    def describe(self) -> dict[str, Any]:
        """The loss definition used, for the report."""
        return {
            "loss_network": self.net.name,
            "loss_kind": self.net.loss_kind,
            "content_layers": list(self.net.content_layers),
            "style_layers": list(self.net.style_layers),
            "content_weight": self.settings.content_weight,
            "style_weight": self.settings.style_weight,
            "style_target_type": self.settings.style_target_type if self.net.loss_kind == "reference" else
            "relative gram + mean/cov",
            "style_image_size": self.settings.style_image_size,
        }

    def __call__(self, stylized_rgb: np.ndarray, content_rgb: np.ndarray) -> dict[str, float | None]:
        """Losses of one frame.

        Args:
            stylized_rgb: (H, W, 3) stylized frame, rgb01.
            content_rgb: (H, W, 3) the input frame it was made from.

        Returns:
            {"content_loss": float, "style_loss": float or None (no style image)}.

        Raises:
            ShapeError: the two frames differ in size.
        """
        if stylized_rgb.shape != content_rgb.shape:
            raise ShapeError(f"stylized frame is {stylized_rgb.shape}, input frame is {content_rgb.shape}")
        s = self.settings
        x = torch.cat([to_tensor(stylized_rgb), to_tensor(content_rgb)]).to(self.device)
        with torch.no_grad():
            feats = self.net(preprocess(x, "vgg"))
            out = {k: v[:1] for k, v in feats.items()}
            content = {k: v[1:] for k, v in feats.items()}
            if self.net.loss_kind == "relative":
                c, _ = offline_content_loss(out, content, self.net.content_layers, s.content_weight)
                st = offline_style_loss(out, self._moments, self.net.style_layers, s.style_weight, s.style_weight
                                        )[0] if self._moments is not None else None
            else:
                c, _ = content_loss(out, content, self.net.content_layers, s.content_weight)
                st = style_loss(out, self._gram, self.net.style_layers, s.style_weight, s.style_target_type
                                )[0] if self._gram is not None else None
        return {"content_loss": float(c), "style_loss": None if st is None else float(st)}
