"""The transformation (stylization) network built from an arch string (algorithm.md §3).

Layer list, per token (``i`` = the token's 1-based position, used in the submodule names):

- ``cXsY-Z`` -> ``conv{i}``; with padding ``reflect``/``replicate`` an explicit ``pad{i}`` of (X-1)/2 comes
  first and the conv is unpadded, otherwise the conv zero-pads (X-1)/2 itself.
- ``fXsY-Z`` -> ``fullconv{i}``, ``dZ`` -> ``down{i}``, ``uZ`` -> ``up{i}``, ``UX`` -> ``upsample{i}``
  (padding type ignored, as in the reference).
- ``RZ`` -> ``res{i}`` (:class:`ResidualBlock`), ``CZ`` -> ``block{i}`` (:class:`ConvBlock`).
- After every token but the last: ``norm{i}`` then ``relu{i}``, including ``U`` tokens; ``R`` gets nothing,
  ``C`` gets only ``relu{i}``.
- Output: ``tanh(x) * tanh_constant`` (pre-space). The reference's TotalVariation layer is an identity in the
  forward pass; TV is a training concern and lives in the training loss.

Padding types (``-padding_type`` of the reference):

- ``reflect-start`` (default): convs of ``c`` tokens zero-padded, residual convs unpadded with 2-px shaved
  skips, and a ``ReflectionPad2d(p)`` as module ``pad0`` with p = (in - out) / 2 from the layer arithmetic
  (the reference inserts it lazily at the first training forward; same result: 40 px for 5 residual blocks at
  1/4 resolution).
- ``reflect`` / ``replicate``: explicit 1-px / (X-1)/2-px pads before every ``c`` and residual conv.
- ``zero``: every conv zero-padded, identity skips.
- ``none``: reproduces the reference **bug**: ``c`` convs are *still* zero-padded (the reference tests an
  undefined variable), residual convs are unpadded with shaved skips, and there is no ``pad0``. The body
  therefore loses a border (40 px per side for the paper arch); ``forward`` reflection-pads the input by that
  border at run time to keep its any-size contract. For frames the reflect-start net takes without run-time
  padding (paper arch: H, W multiples of 4 and >= 44) ``none`` then gives exactly the numbers of
  ``reflect-start`` with the same weights. (The reference cannot train a ``none`` net: its losses get
  mismatched sizes.)
"""
from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

from fav_core.errors import ConfigError, ShapeError
from fav_core.nets.grammar import Token, parse_arch
from fav_core.nets.layers import (
    NORMS,
    PADDINGS,
    ConvBlock,
    ResidualBlock,
    make_conv,
    make_full_conv,
    make_norm,
    make_pad,
)
from fav_core.nets.padding import pad_amounts, pad_frame
from fav_core.nets.sizes import SizePlan, plan_sizes

#: Output channels of every transformation network (pre-space BGR for vgg preprocessing).
OUT_CHANNELS = 3


def _token_layers(token: Token, prev: int, padding: str, norm: str, is_last: bool) -> tuple[list[tuple[str, nn.Module]], int]:
    """Modules for one token and its output channel count."""
    i, k = token.index, token.kind
    out = prev if token.channels is None else token.channels
    layers: list[tuple[str, nn.Module]] = []
    if k == "c":
        p = (token.kernel - 1) // 2
        if padding in ("reflect", "replicate"):
            if p > 0:
                layers.append((f"pad{i}", make_pad(padding, p)))
            p = 0
        layers.append((f"conv{i}", make_conv(prev, out, token.kernel, token.stride, p)))
    elif k == "f":
        layers.append((f"fullconv{i}", make_full_conv(prev, out, token.kernel, token.stride)))
    elif k == "d":
        layers.append((f"down{i}", make_conv(prev, out, 3, 2, 1)))
    elif k == "u":
        layers.append((f"up{i}", make_full_conv(prev, out, 3, 2)))
    elif k == "U":
        layers.append((f"upsample{i}", nn.Upsample(scale_factor=float(token.factor), mode="nearest")))
    else:  # R, C: the block maps Z -> Z channels
        if prev != out:
            block = "a residual block" if k == "R" else "a conv block"
            raise ConfigError(
                f"arch token {token.text!r} (#{i}): {block} keeps its channel count, "
                f"but its input has {prev} channels"
            )
        module = ResidualBlock(out, padding, norm) if k == "R" else ConvBlock(out, padding, norm)
        layers.append((f"res{i}" if k == "R" else f"block{i}", module))
    if not is_last and k not in ("R", "C"):
        layers.append((f"norm{i}", make_norm(norm, out)))
    if not is_last and k != "R":
        layers.append((f"relu{i}", nn.ReLU()))
    return layers, out


def _build_body(tokens: list[Token], in_channels: int, padding: str, norm: str) -> nn.Sequential:
    """Every layer between the input and the tanh, reflect-start pad not included."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    prev = in_channels
    for token in tokens:
        new, prev = _token_layers(token, prev, padding, norm, is_last=token is tokens[-1])
        layers.update(new)
    if prev != OUT_CHANNELS:
        raise ConfigError(f"arch ends with {prev} channels; the network must output {OUT_CHANNELS}")
    return nn.Sequential(layers)


class TransformerNet(nn.Module):
    """Feed-forward stylization network (image net: 3 inputs, video net: 7 inputs).

    Args:
        arch: architecture string (see :mod:`fav_core.nets.grammar`).
        in_channels: 3 (image net: BGR pre-space) or 7 for the video net (content 3, masked prior 3, mask 1);
            any positive count is accepted.
        norm: ``"instance"`` (default) or ``"batch"``.
        padding: ``"reflect-start"`` (default), ``"reflect"``, ``"replicate"``, ``"zero"`` or ``"none"``.
        tanh_constant: output scale after tanh (150 in the reference), > 0.

    Attributes:
        arch, in_channels, norm, padding, tanh_constant: the build settings.
        body: ``nn.Sequential`` of every layer before the tanh (names as in the module docstring).
        size_multiple, size_min, size_shrink: the body's size plan (see :class:`SizePlan`).

    Raises:
        ConfigError: bad arch string, unknown option, channel mismatch, or an arch that does not keep the
            frame size.
    """

    __jit_unused_properties__ = ["size_plan"]  # noqa: RUF012  (keeps the module scriptable)

    def __init__(
        self,
        arch: str,
        in_channels: int,
        *,
        norm: str = "instance",
        padding: str = "reflect-start",
        tanh_constant: float = 150.0,
    ) -> None:
        super().__init__()
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ConfigError(f"in_channels must be a positive integer, got {in_channels!r}")
        if norm not in NORMS:
            raise ConfigError(f"unknown norm {norm!r}; expected one of {', '.join(NORMS)}")
        if padding not in PADDINGS:
            raise ConfigError(f"unknown padding {padding!r}; expected one of {', '.join(PADDINGS)}")
        if not isinstance(tanh_constant, int | float) or not math.isfinite(tanh_constant) or tanh_constant <= 0:
            raise ConfigError(f"tanh_constant must be a finite number > 0, got {tanh_constant!r}")
        tokens = parse_arch(arch)
        body = _build_body(tokens, in_channels, padding, norm)
        plan = plan_sizes(body, arch)
        if padding == "reflect-start" and plan.shrink > 0:
            # The reference's lazily inserted SpatialReflectionPadding(p, p, p, p), p = (in - out) / 2.
            body = nn.Sequential(OrderedDict([("pad0", nn.ReflectionPad2d(plan.shrink)), *body.named_children()]))
            plan = plan_sizes(body, arch)
            if plan.shrink != 0:
                raise ConfigError(f"arch {arch!r}: the reflect-start pad does not restore the frame size")
        self.arch: str = arch
        self.in_channels: int = in_channels
        self.norm: str = norm
        self.padding: str = padding
        self.tanh_constant: float = float(tanh_constant)
        self.body = body
        self.size_multiple: int = plan.multiple
        self.size_min: int = plan.min_size
        self.size_shrink: int = plan.shrink

    @property
    def size_plan(self) -> SizePlan:
        """Which input sizes the body takes without run-time padding."""
        return SizePlan(self.size_multiple, self.size_min, self.size_shrink)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Stylize a batch.

        Args:
            x: (B, in_channels, H, W) pre-space input, any H, W >= 1.

        Returns:
            (B, 3, H, W) pre-space output in ±tanh_constant.

        Convention:
            The frame is padded (reflection; replication when it is too small to reflect) to the nearest size
            the body takes — a multiple of the total stride, at least ``size_min``, plus ``size_shrink`` on
            each side — and the result is cropped back, so output pixel (y, x) belongs to input pixel (y, x).
            For H, W that already are such sizes nothing is padded: exactly the reference computation.
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ShapeError(f"network input: expected (B, {self.in_channels}, H, W), got {list(x.shape)}")
        h, w = x.shape[-2], x.shape[-1]
        top, bottom = pad_amounts(h, self.size_multiple, self.size_min, self.size_shrink)
        left, right = pad_amounts(w, self.size_multiple, self.size_min, self.size_shrink)
        y = self.body(pad_frame(x, top, bottom, left, right))
        y0, x0 = top - self.size_shrink, left - self.size_shrink
        if y0 != 0 or x0 != 0 or y.shape[-2] != h or y.shape[-1] != w:
            y = y[:, :, y0 : y0 + h, x0 : x0 + w]
        return torch.tanh(y) * self.tanh_constant

    def extra_repr(self) -> str:
        """Short summary shown by ``print(net)``."""
        return (
            f"arch={self.arch!r}, in_channels={self.in_channels}, norm={self.norm!r}, "
            f"padding={self.padding!r}, tanh_constant={self.tanh_constant}"
        )


def build_transformer(
    arch: str,
    in_channels: int,
    *,
    norm: str = "instance",
    padding: str = "reflect-start",
    tanh_constant: float = 150.0,
) -> TransformerNet:
    """Build a :class:`TransformerNet` (freshly initialised, Torch7-style init); see its docstring."""
    return TransformerNet(arch, in_channels, norm=norm, padding=padding, tanh_constant=tanh_constant)
