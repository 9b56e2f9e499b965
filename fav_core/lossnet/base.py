"""The interface every loss network implements: pre-space images in, named feature maps out."""
from __future__ import annotations

import torch
from torch import nn

from fav_core.errors import check_shape

#: How losses on a network are meant to be computed: ``"reference"`` = algorithm.md §10.5 (content MSE, Gram MSE
#: summed over layers), ``"relative"`` = offline_loss.md (relative Gram + mean/covariance, coarse relative content).
LOSS_KINDS: tuple[str, ...] = ("reference", "relative")


class LossNetwork(nn.Module):
    """A fixed (never trained) feature network used for perceptual losses and evaluation.

    Subclasses set the attributes below and implement :meth:`features`. Parameters are frozen
    (``requires_grad=False``) and the module is in eval mode; gradients still flow to the *input*.

    Attributes:
        name: the name :func:`fav_core.lossnet.make_loss_network` knows it by.
        content_layers: names of the feature maps used for the content loss.
        style_layers: names of the feature maps used for the style loss.
        loss_kind: ``"reference"`` or ``"relative"`` (see ``LOSS_KINDS``).
    """

    name: str = ""
    content_layers: tuple[str, ...] = ()
    style_layers: tuple[str, ...] = ()
    loss_kind: str = "reference"

    def freeze(self) -> None:
        """Make every parameter constant and switch to eval mode."""
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    @property
    def layers(self) -> tuple[str, ...]:
        """Content layers then style layers, without duplicates, in that order."""
        return tuple(dict.fromkeys(self.content_layers + self.style_layers))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named feature maps of a batch.

        Args:
            x: (B, 3, H, W) float, **vgg pre-space** (BGR, ×255, minus the VGG mean; see
                ``fav_core.nets.preprocess``). Each network converts to its own input space internally.

        Returns:
            dict name -> (B, C_l, H_l, W_l) for every name in :attr:`layers`.
        """
        check_shape(x, "B 3 H W", f"{self.name} input")
        return self.features(x)

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError
