"""Spatial size arithmetic of a built network, read from its modules (one source of truth: the layers).

Used at build time to find (a) the reflect-start pad, p = (in - out) / 2, and (b) which input sizes the net
takes without losing alignment, so that ``TransformerNet.forward`` can pad any frame to such a size.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from fav_core.errors import ConfigError
from fav_core.nets.layers import ResidualBlock

_PASS_THROUGH = (nn.ReLU, nn.BatchNorm2d, nn.Tanh, nn.Identity)


def _sym(value: int | tuple[int, ...]) -> int:
    """The amount of a square/symmetric kernel, stride or padding setting."""
    if isinstance(value, int):
        return value
    if len(set(value)) != 1:
        raise ConfigError(f"size arithmetic needs symmetric settings, got {value}")
    return int(value[0])


def output_size(module: nn.Module, n: int) -> int | None:
    """Size of one spatial dimension after ``module`` for input size ``n``.

    Args:
        module: a network or layer made of the modules used by :mod:`fav_core.nets`.
        n: input size (H or W) in pixels.

    Returns:
        The output size, or None when the module cannot take this size (a layer would get fewer than one
        pixel, a reflection pad is not smaller than its input, an instance norm would see a single pixel).

    Raises:
        ConfigError: a module whose size arithmetic is unknown.
    """
    if n < 1:
        return None
    if isinstance(module, ResidualBlock):
        out = output_size(module.block, n)
        return out if out is not None and out == n - 2 * module.shave else None
    if isinstance(module, nn.Sequential):
        size: int | None = n
        for child in module:
            size = output_size(child, size) if size is not None else None
        return size
    if isinstance(module, nn.Conv2d):
        k, s, p = _sym(module.kernel_size), _sym(module.stride), _sym(module.padding)  # type: ignore[arg-type]
        span = n + 2 * p - k
        return None if span < 0 else span // s + 1
    if isinstance(module, nn.ConvTranspose2d):
        k, s, p = _sym(module.kernel_size), _sym(module.stride), _sym(module.padding)  # type: ignore[arg-type]
        op = _sym(module.output_padding)  # type: ignore[arg-type]
        out = (n - 1) * s - 2 * p + k + op
        return out if out >= 1 else None
    if isinstance(module, nn.ReflectionPad2d):
        p = _sym(module.padding)
        return n + 2 * p if p < n else None
    if isinstance(module, nn.ReplicationPad2d | nn.ZeroPad2d):
        return n + 2 * _sym(module.padding)
    if isinstance(module, nn.Upsample):
        factor = module.scale_factor
        if not isinstance(factor, int | float) or float(factor) != int(factor):
            raise ConfigError(f"size arithmetic needs an integer upsampling factor, got {factor}")
        return n * int(factor)
    if isinstance(module, nn.InstanceNorm2d):
        return n if n >= 2 else None  # torch refuses instance norm over a single pixel
    if isinstance(module, _PASS_THROUGH):
        return n
    raise ConfigError(f"no size arithmetic for layer type {type(module).__name__}")


def total_stride(module: nn.Module) -> int:
    """Product of the strides of every convolution in ``module`` (its overall downsampling factor)."""
    stride = 1
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            stride *= _sym(m.stride)  # type: ignore[arg-type]
    return stride


@dataclass(frozen=True)
class SizePlan:
    """Which input sizes a network body takes and what it returns for them.

    For every ``n`` that is a multiple of ``multiple`` and at least ``min_size``, the body maps size ``n`` to
    ``n - 2 * shrink`` (the output is the centre of the input; ``shrink`` = border lost on each side).
    """

    multiple: int
    min_size: int
    shrink: int


def plan_sizes(body: nn.Module, arch: str, probe: int = 1024) -> SizePlan:
    """Derive the :class:`SizePlan` of ``body`` from its layers.

    Args:
        body: the network body (every layer between input and tanh).
        arch: the arch string, for error messages.
        probe: sizes up to about this value are checked one by one.

    Raises:
        ConfigError: the body does not keep the frame size up to a constant border (e.g. it downsamples more
            than it upsamples), or loses an odd number of pixels.
    """
    m = total_stride(body)
    n_big = -(-max(probe, 4 * m) // m) * m
    out_big = output_size(body, n_big)
    out_next = output_size(body, n_big + m)
    if out_big is None or out_next is None or n_big - out_big != n_big + m - out_next:
        raise ConfigError(
            f"arch {arch!r} does not keep the frame size (input {n_big} px gives {out_big} px, "
            f"{n_big + m} px gives {out_next} px); downsampling and upsampling must cancel"
        )
    lost = n_big - out_big
    if lost < 0 or lost % 2:
        raise ConfigError(f"arch {arch!r} changes the frame size by {-lost} px; expected an even loss >= 0")
    shrink = lost // 2
    min_size = n_big
    for n in range(n_big - m, 0, -m):  # walk down while every size still works
        if output_size(body, n) != n - 2 * shrink or n - 2 * shrink < 1:
            break
        min_size = n
    return SizePlan(multiple=m, min_size=min_size, shrink=shrink)
