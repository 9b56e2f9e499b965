"""Offline loss networks: one layer of fixed, seeded random filters (no weights file, nothing to download).

In the spirit of Ustyuzhaninov et al., "What does it take to generate natural textures?" (ICLR 2017): a single
convolutional layer of many random filters at several kernel sizes followed by ReLU already yields feature
statistics (Gram matrices, means, covariances) that capture colour, edges and texture well enough to train and to
compare stylizations. Measured on this project (shared/reference/offline_loss.md): a stylizer trained with the
pyramid variant visibly carries a strong procedural style.

Two variants, both reproducible from ``seed`` alone (CPU ``torch.Generator``, filters drawn in a fixed order):

- :class:`RandomPyramidNet` (``"random-multiscale"``, the training network): ``filters`` filters per kernel size
  k ∈ {3, 5, 7}, each N(0, 1) scaled to unit L2 norm, no bias, ReLU, applied to an average-pool pyramid of the
  image at scales {1, 2, 4} -> 9 blocks named ``s{scale}_k{k}`` (1,152 channels at the defaults), effective extents
  3-28 px. Content layers: the blocks at scales 2 and 4; style layers: all blocks.
- :class:`RandomMultiKernelNet` (``"random-multiscale-literal"``, an independent evaluation network): the literal
  single full-resolution layer with k ∈ {3, 5, 7, 11, 15, 23}, blocks ``k{k}``. Content layers: k ≥ 11. About
  2× slower than the pyramid; use it to check that a result is not tuned to the training network.

Input: vgg pre-space is converted to rgb01, then ``(x - ImageNet mean) / 0.25``; reflection padding keeps the
size (replicate padding when an image is smaller than the filter).

Limits: these are not perception models. They see colour statistics and local structure up to ~28 px (pyramid) or
23 px (literal), not objects or semantics; absolute loss values depend on the seed and the variant and are only
comparable between runs with the same network. Use the relative losses of ``fav_core.losses`` with them
(``loss_kind = "relative"``), not the VGG-tuned reference weights.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from fav_core.errors import ConfigError
from fav_core.lossnet.base import LossNetwork
from fav_core.nets.preprocess import deprocess

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
INPUT_SCALE = 0.25
PYRAMID_KERNELS: tuple[int, ...] = (3, 5, 7)
PYRAMID_SCALES: tuple[int, ...] = (1, 2, 4)
PYRAMID_CONTENT_SCALES: tuple[int, ...] = (2, 4)
LITERAL_KERNELS: tuple[int, ...] = (3, 5, 7, 11, 15, 23)
LITERAL_CONTENT_MIN_KERNEL = 11
DEFAULT_FILTERS = 128


def random_filters(seed: int, kernel_sizes: Sequence[int], filters: int) -> list[torch.Tensor]:
    """Seeded random filter banks, one (filters, 3, k, k) float32 tensor per kernel size, each filter unit-norm.

    The same seed, sizes and count give bit-identical filters on every machine (CPU generator, fixed order).

    Raises:
        ConfigError: a non-positive or even kernel size, or ``filters < 1``.
    """
    if filters < 1:
        raise ConfigError(f"random loss network needs at least 1 filter per kernel size, got {filters}")
    for k in kernel_sizes:
        if k < 1 or k % 2 == 0:
            raise ConfigError(f"random loss network kernel sizes must be odd and positive, got {k}")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    banks: list[torch.Tensor] = []
    for k in kernel_sizes:
        w = torch.randn((filters, 3, k, k), generator=gen, dtype=torch.float32)
        banks.append(w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1))
    return banks


def _pad(x: torch.Tensor, p: int) -> torch.Tensor:
    """Pad by ``p`` on every side: reflection when the image is large enough, else replication."""
    if p == 0:
        return x
    mode = "reflect" if p < min(x.shape[-2:]) else "replicate"
    return F.pad(x, (p, p, p, p), mode=mode)


class _RandomNet(LossNetwork):
    """Shared parts: filter buffers, the input conversion."""

    loss_kind = "relative"

    def __init__(self, seed: int, kernel_sizes: Sequence[int], filters: int) -> None:
        super().__init__()
        self.seed = int(seed)
        self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
        for k, w in zip(self.kernel_sizes, random_filters(seed, self.kernel_sizes, filters), strict=True):
            self.register_buffer(f"w{k}", w, persistent=False)
        self.register_buffer("_mean", torch.tensor(IMAGENET_MEAN_RGB).view(1, 3, 1, 1), persistent=False)
        self.freeze()

    def _normalised(self, x: torch.Tensor) -> torch.Tensor:
        return (deprocess(x, "vgg") - self._mean) / INPUT_SCALE

    def _block(self, z: torch.Tensor, k: int) -> torch.Tensor:
        w = getattr(self, f"w{k}").to(dtype=z.dtype)
        return F.relu(F.conv2d(_pad(z, k // 2), w))


class RandomPyramidNet(_RandomNet):
    """Random filters on an average-pool pyramid (the offline *training* loss network).

    Args:
        seed: filter seed.
        filters: filters per kernel size (default 128).
        kernel_sizes: odd kernel sizes (default 3, 5, 7).
        scales: pyramid pooling factors (default 1, 2, 4).
    """

    def __init__(
        self,
        seed: int = 0,
        filters: int = DEFAULT_FILTERS,
        kernel_sizes: Sequence[int] = PYRAMID_KERNELS,
        scales: Sequence[int] = PYRAMID_SCALES,
    ) -> None:
        super().__init__(seed, kernel_sizes, filters)
        if not scales or any(s < 1 for s in scales):
            raise ConfigError(f"pyramid scales must be positive integers, got {tuple(scales)}")
        self.scales = tuple(int(s) for s in scales)
        self.name = "random-multiscale"
        self.style_layers = tuple(f"s{s}_k{k}" for s in self.scales for k in self.kernel_sizes)
        coarse = [s for s in self.scales if s in PYRAMID_CONTENT_SCALES] or [max(self.scales)]
        self.content_layers = tuple(f"s{s}_k{k}" for s in coarse for k in self.kernel_sizes)

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self._normalised(x)
        out: dict[str, torch.Tensor] = {}
        for s in self.scales:
            zs = z if s == 1 else F.avg_pool2d(z, kernel_size=s, stride=s, ceil_mode=True)
            for k in self.kernel_sizes:
                out[f"s{s}_k{k}"] = self._block(zs, k)
        return out


class RandomMultiKernelNet(_RandomNet):
    """The literal single full-resolution random layer (an independent *evaluation* network).

    Args:
        seed: filter seed.
        filters: filters per kernel size (default 128).
        kernel_sizes: odd kernel sizes (default 3, 5, 7, 11, 15, 23).
    """

    def __init__(
        self,
        seed: int = 0,
        filters: int = DEFAULT_FILTERS,
        kernel_sizes: Sequence[int] = LITERAL_KERNELS,
    ) -> None:
        super().__init__(seed, kernel_sizes, filters)
        self.name = "random-multiscale-literal"
        self.style_layers = tuple(f"k{k}" for k in self.kernel_sizes)
        big = [k for k in self.kernel_sizes if k >= LITERAL_CONTENT_MIN_KERNEL] or [max(self.kernel_sizes)]
        self.content_layers = tuple(f"k{k}" for k in big)

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self._normalised(x)
        return {f"k{k}": self._block(z, k) for k in self.kernel_sizes}
