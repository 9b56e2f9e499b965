"""Building blocks of the transformation network with the reference's exact semantics (algorithm.md §3.2, §3.4).

Initialisation follows Torch7 (the reference was trained from it):
- convolutions: weight and bias U(±1/sqrt(k·k·in)) — the same bound as PyTorch's default;
- transposed convolutions: U(±1/sqrt(k·k·in)) as well (Torch7 uses nInputPlane; PyTorch's default would use the
  output channels, so we re-initialise);
- InstanceNorm and BatchNorm affine scale U(0, 1), shift 0.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

from fav_core.errors import ConfigError

#: Normalisation layers by name.
NORMS: tuple[str, ...] = ("instance", "batch")
#: Padding types of the reference (``-padding_type``).
PADDINGS: tuple[str, ...] = ("reflect-start", "reflect", "replicate", "zero", "none")


def make_norm(norm: str, channels: int) -> nn.Module:
    """Normalisation layer as in the reference.

    ``instance`` is Torch7 ``InstanceNormalization``: always per-sample, per-channel statistics (also at test
    time), biased variance, eps 1e-5 = ``InstanceNorm2d(affine=True, track_running_stats=False)``.
    ``batch`` is ``SpatialBatchNormalization`` (eps 1e-5, momentum 0.1, running stats in eval mode).
    Both get the Torch7 affine init: scale U(0, 1), shift 0.

    Raises:
        ConfigError: unknown ``norm``.
    """
    if norm == "instance":
        layer: nn.Module = nn.InstanceNorm2d(channels, eps=1e-5, affine=True, track_running_stats=False)
    elif norm == "batch":
        layer = nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1)
    else:
        raise ConfigError(f"unknown norm {norm!r}; expected one of {', '.join(NORMS)}")
    with torch.no_grad():
        layer.weight.uniform_(0.0, 1.0)
        layer.bias.zero_()
    return layer


def torch7_init_(conv: nn.Conv2d | nn.ConvTranspose2d) -> None:
    """Re-initialise a (transposed) convolution like Torch7: weight, bias ~ U(±1/sqrt(k_h·k_w·in_channels))."""
    k_h, k_w = conv.kernel_size
    bound = 1.0 / math.sqrt(k_h * k_w * conv.in_channels)
    with torch.no_grad():
        conv.weight.uniform_(-bound, bound)
        if conv.bias is not None:
            conv.bias.uniform_(-bound, bound)


def make_conv(in_ch: int, out_ch: int, kernel: int, stride: int, padding: int) -> nn.Conv2d:
    """Conv2d (zero padding ``padding``) with Torch7 init."""
    conv = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=padding)
    torch7_init_(conv)
    return conv


def make_full_conv(in_ch: int, out_ch: int, kernel: int, stride: int) -> nn.ConvTranspose2d:
    """Torch7 ``SpatialFullConvolution(in, out, k, k, s, s, p, p, s-1, s-1)`` with p = (k-1)/2: exactly ×stride."""
    conv = nn.ConvTranspose2d(
        in_ch, out_ch, kernel, stride=stride, padding=(kernel - 1) // 2, output_padding=stride - 1
    )
    torch7_init_(conv)
    return conv


def make_pad(padding: str, amount: int) -> nn.Module:
    """Explicit pad module for the ``reflect`` / ``replicate`` padding types."""
    if padding == "reflect":
        return nn.ReflectionPad2d(amount)
    if padding == "replicate":
        return nn.ReplicationPad2d(amount)
    raise ConfigError(f"no explicit pad module for padding type {padding!r}")


class ConvBlock(nn.Sequential):
    """Body of the residual block (``build_conv_block`` of the reference); also the ``C`` token.

    [pad] conv3×3(Z→Z) → norm → ReLU → [pad] conv3×3(Z→Z) → norm, where per padding type:
    ``zero``: convs zero-padded by 1; ``reflect``/``replicate``: 1-px reflection/replication pad before each
    conv, convs unpadded; ``reflect-start``/``none``: convs unpadded (the block shrinks H and W by 4).

    Shapes: (B, Z, H, W) -> (B, Z, H - 2·shrink, W - 2·shrink) with ``shrink`` 2 for reflect-start/none, else 0.
    """

    def __init__(self, channels: int, padding: str, norm: str) -> None:
        if padding not in PADDINGS:
            raise ConfigError(f"unknown padding {padding!r}; expected one of {', '.join(PADDINGS)}")
        conv_pad = 1 if padding == "zero" else 0
        explicit = padding in ("reflect", "replicate")
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for i in (1, 2):
            if explicit:
                layers[f"pad{i}"] = make_pad(padding, 1)
            layers[f"conv{i}"] = make_conv(channels, channels, 3, 1, conv_pad)
            layers[f"norm{i}"] = make_norm(norm, channels)
            if i == 1:
                layers["relu"] = nn.ReLU()
        super().__init__(layers)
        self.shrink: int = 2 if padding in ("reflect-start", "none") else 0


class ResidualBlock(nn.Module):
    """Residual block ``RZ``: ``block(x) + skip(x)``, no norm or ReLU after the addition.

    The skip is the identity, or for reflect-start/none (unpadded convs) a centre crop of 2 px on every side
    (Torch7 ``ShaveImage(2)``), so both branches have the same size.

    Shapes: (B, Z, H, W) -> (B, Z, H - 2·shave, W - 2·shave), shave = 2 for reflect-start/none, else 0.
    """

    def __init__(self, channels: int, padding: str, norm: str) -> None:
        super().__init__()
        self.block = ConvBlock(channels, padding, norm)
        self.shave: int = self.block.shrink

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block; see the class docstring for shapes."""
        s = self.shave
        h, w = x.shape[-2], x.shape[-1]
        return self.block(x) + x[:, :, s : h - s, s : w - s]
