"""Exact full-frame instance-norm statistics computed tile by tile (no full-frame pass needed).

Instance norm layer ℓ normalises with the mean/variance of its input over the whole frame, and that input
depends on the statistics of the layers before it. So the layers are done in order: for layer ℓ every tile
runs the body up to ℓ (layers < ℓ frozen to their already exact statistics, the pass stopped at ℓ), and each
tile adds the per-channel sum and sum of squares of the samples it *owns*. Ownership partitions the full
frame's feature map: a sample belongs to the tile whose ownership interval holds its position in the padded
frame (cut points halfway between neighbouring tiles' kept regions, so every owned sample lies at least the
receptive radius away from an inner tile border and is computed exactly). The result equals the statistics of
the untiled forward pass up to float rounding, at the cost of one prefix pass per IN layer (about L/2 tiled
passes for L layers).

Convention:
    Positions are in body-input (padded frame) px. A feature map's sample ``i`` sits at ``pos0 + i·jump``
    (see :func:`layer_geometry`); a tile starting at ``a`` (a multiple of the total stride) has the same
    geometry shifted by ``a``, so its sample ``i_t`` is the full map's ``i_t + a / jump``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import torch
from torch import nn

from fav_core.errors import ShapeError
from fav_core.nets.layers import ResidualBlock
from fav_core.nets.transformer import TransformerNet
from fav_core.tiling import AxisTile, InstanceNormStats, frozen_in_stats

Geometry = dict[int, tuple[Fraction, Fraction]]


class _Stop(Exception):
    """Raised by the capture hook to end a prefix pass at the wanted layer (never escapes this module)."""


def _geo(module: nn.Module, pos0: Fraction, jump: Fraction, out: Geometry) -> tuple[Fraction, Fraction]:
    if isinstance(module, nn.InstanceNorm2d):
        out[id(module)] = (pos0, jump)
        return pos0, jump
    if isinstance(module, ResidualBlock):
        return _geo(module.block, pos0, jump, out)
    if isinstance(module, nn.Sequential):
        for child in module:
            pos0, jump = _geo(child, pos0, jump, out)
        return pos0, jump
    if isinstance(module, nn.ReflectionPad2d | nn.ReplicationPad2d | nn.ZeroPad2d):
        return pos0 - module.padding[0] * jump, jump  # type: ignore[index]
    if isinstance(module, nn.Conv2d):
        k, s, p = module.kernel_size[0], module.stride[0], module.padding[0]  # type: ignore[index]
        return pos0 + (Fraction(k - 1, 2) - p) * jump, jump * s
    if isinstance(module, nn.ConvTranspose2d):
        k, s, p = module.kernel_size[0], module.stride[0], module.padding[0]  # type: ignore[index]
        return pos0 + (p - Fraction(k - 1, 2)) / s * jump, jump / s
    if isinstance(module, nn.Upsample):
        factor = module.scale_factor
        f = int(factor[0] if isinstance(factor, tuple) else factor)  # type: ignore[arg-type, index]
        return pos0 - Fraction(f - 1, 2 * f) * jump, jump / f
    return pos0, jump


def layer_geometry(net: TransformerNet) -> Geometry:
    """Per instance-norm module (by ``id``): (pos0, jump) of its input map in body-input px."""
    out: Geometry = {}
    _geo(net.body, Fraction(0), Fraction(1), out)
    return out


def _owned(tiles: Sequence[AxisTile], k: int, pos0: Fraction, jump: Fraction, full_len: int) -> tuple[int, int, int]:
    """(first, stop, shift): the full-map index range tile ``k`` owns along one axis, and its index shift."""
    tile = tiles[k]
    lo = -math.inf if k == 0 else Fraction(tiles[k - 1].start + tile.start + (tile.stop - tile.start), 2)
    hi = math.inf if k == len(tiles) - 1 else Fraction(tile.start + tiles[k + 1].start + (tile.stop - tile.start), 2)
    first = 0 if lo == -math.inf else max(0, math.ceil((lo - pos0) / jump))
    stop = full_len if hi == math.inf else min(full_len, math.ceil((hi - pos0) / jump))
    shift = Fraction(tile.start) / jump
    if shift.denominator != 1:
        raise ShapeError(f"tile start {tile.start} is not on the feature grid (jump {jump}) of an IN layer")
    return first, stop, int(shift)


def exact_stats(net: TransformerNet, xp: torch.Tensor, rows: Sequence[AxisTile], cols: Sequence[AxisTile]) -> InstanceNormStats:
    """The untiled forward pass's instance-norm statistics of the padded frame ``xp``, computed in tiles.

    Args:
        net: the network.
        xp: (B, C, Hp, Wp) body input (the frame padded as ``net.forward`` pads it).
        rows, cols: the tile layout (:func:`fav_core.tiling.axis_tiles` on Hp and Wp).

    Returns:
        module name -> (mean, var), each (B, C) float32.

    Raises:
        ShapeError: the tiles do not cover a layer's feature map exactly once (a layout bug).
    """
    norms = [(name, mod) for name, mod in net.named_modules() if isinstance(mod, nn.InstanceNorm2d)]
    geometry = layer_geometry(net)
    stats: InstanceNormStats = {}
    for name, mod in norms:
        pos0, jump = geometry[id(mod)]
        total = sq = None
        count = 0
        captured: list[torch.Tensor] = []

        def capture(module: nn.Module, args: tuple[torch.Tensor, ...], sink: list[torch.Tensor] = captured) -> None:
            sink.append(args[0])
            raise _Stop

        handle = mod.register_forward_pre_hook(capture)
        try:
            with frozen_in_stats(net, stats, partial=True):
                for r_k, r in enumerate(rows):
                    for c_k, c in enumerate(cols):
                        captured.clear()
                        try:
                            net.body(xp[:, :, r.start : r.stop, c.start : c.stop])
                        except _Stop:
                            pass
                        fmap = captured[0].double()
                        full_h = fmap.shape[-2] + int((xp.shape[-2] - (r.stop - r.start)) / jump)
                        full_w = fmap.shape[-1] + int((xp.shape[-1] - (c.stop - c.start)) / jump)
                        y0, y1, sy = _owned(rows, r_k, pos0, jump, full_h)
                        x0, x1, sx = _owned(cols, c_k, pos0, jump, full_w)
                        part = fmap[:, :, y0 - sy : y1 - sy, x0 - sx : x1 - sx]
                        total = part.sum((2, 3)) + (0 if total is None else total)
                        sq = (part * part).sum((2, 3)) + (0 if sq is None else sq)
                        count += part.shape[-2] * part.shape[-1]
        finally:
            handle.remove()
        if count != full_h * full_w or total is None or sq is None:
            raise ShapeError(f"tiles own {count} samples of IN layer {name!r}, expected {full_h * full_w}")
        mean = total / count
        stats[name] = (mean.float(), (sq / count - mean * mean).clamp_min(0.0).float())
    return stats
