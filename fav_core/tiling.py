"""Any-resolution inference: run a :class:`~fav_core.nets.TransformerNet` in overlapping tiles.

Frames that do not fit in memory (4K/8K, or a small GPU) are cut into overlapping tiles of at most ``tile`` px
per side. Two things make the tiles agree with each other (no seams):

1. **Instance-norm statistics are shared.** Instance norm is the only non-local operation of the network: every
   IN layer normalises with the mean/variance of its *whole* input. A tile alone would get its own statistics
   and a different look. So every tile normalises with one set of per-layer, per-channel means and variances
   (:func:`frozen_in_stats`): by default the untiled pass's exact statistics, computed tile by tile layer after
   layer (``stats="exact"``, :mod:`fav_core.tilestats`); or, cheaper but approximate, those recorded
   (:func:`record_in_stats`) on the frame scaled down to fit in one tile (``stats="downscaled"``; measured with
   the trained stained-glass image model at 512x512: mean |difference| 0.023 in rgb01 at 3/4 scale, 0.064 at
   1/2). With frozen statistics the network is a local operator.
2. **Every tile has enough context.** The receptive-field radius ``R`` of the architecture
   (:func:`receptive_radius`, computed from the layers) decides how far a tile's border (the body's reflect-start
   pad, zero padding of the convolutions) reaches into its output; the output within ``margin >= R`` px of an
   inner tile border is discarded. Tile origins lie on the network's stride grid, so every tile sees exactly the
   samples the full frame would.

With the same statistics the tiled output therefore equals the untiled output of the frozen-statistics network
up to float rounding (with exact statistics: the untiled output itself); the neighbouring tiles' kept regions overlap by ``feather`` px and are blended with
raised-cosine weights (a partition of unity), which also hides any residual difference (e.g. under fp16).

Convention:
    Tiles are laid out on the frame as ``TransformerNet.forward`` pads it (same pad amounts, reflection), in
    body-input coordinates; tile starts are multiples of the net's total stride; output pixel (y, x) belongs to
    input pixel (y, x), as for the untiled net.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from fav_core.budget import GIB, LOOP_FLOATS_PER_PIXEL, device_bytes, net_bytes
from fav_core.errors import ConfigError, ShapeError
from fav_core.nets.grammar import parse_arch
from fav_core.nets.layers import ResidualBlock
from fav_core.nets.padding import pad_amounts, pad_frame
from fav_core.nets.transformer import TransformerNet

log = logging.getLogger(__name__)

#: Per IN module name: (mean, var), each (B, C) float32 — the statistics an instance-norm layer normalises with.
InstanceNormStats = dict[str, tuple[torch.Tensor, torch.Tensor]]
#: How tile statistics are obtained: from a downscaled full frame, exactly tile by tile
#: (:mod:`fav_core.tilestats`, one prefix pass per IN layer), or from one untiled pass of the full frame.
StatsMode = Literal["downscaled", "exact", "full"]
#: Default overlap of neighbouring tiles' kept regions, blended with raised-cosine weights (px).
DEFAULT_FEATHER = 16
#: Fraction of the free device memory a tile may plan to use (the estimates are rough).
MEMORY_SHARE = 0.7
#: Smallest tile side the automatic choice tries before giving up.
MIN_AUTO_TILE = 128


# ----------------------------------------------------------------------------------------- receptive field
def _walk(module: nn.Module, radius: Fraction, jump: Fraction) -> tuple[Fraction, Fraction]:
    """Receptive radius and sample spacing (both in input px) after ``module``; see :func:`receptive_radius`."""
    if isinstance(module, ResidualBlock):  # the skip is a centre crop: no extra reach
        return _walk(module.block, radius, jump)
    if isinstance(module, nn.Sequential):
        for child in module:
            radius, jump = _walk(child, radius, jump)
        return radius, jump
    if isinstance(module, nn.Conv2d):
        k, s, d = module.kernel_size[0], module.stride[0], module.dilation[0]
        return radius + Fraction(d * (k - 1), 2) * jump, jump * s
    if isinstance(module, nn.ConvTranspose2d):
        k, s, p = module.kernel_size[0], module.stride[0], module.padding[0]  # type: ignore[index]
        reach = math.ceil(Fraction(max(k - 1 - p, p) + s - 1, s))
        return radius + reach * jump, jump / s
    if isinstance(module, nn.Upsample):
        factor = module.scale_factor
        f = int(factor[0] if isinstance(factor, tuple) else factor)  # type: ignore[arg-type, index]
        return radius + jump, jump / f  # nearest: the sample is up to one coarse pixel away
    return radius, jump  # pads, norms, activations: no reach of their own


def receptive_radius(net: TransformerNet) -> int:
    """How far (in input px) an output pixel of ``net``'s body can see, with instance-norm statistics frozen.

    Walks the body's layers in order with the sample spacing ``jump`` (input px between neighbouring samples
    of the current feature map): a k×k convolution adds ``(k-1)/2 · jump``, a stride-s layer multiplies
    ``jump`` by s, a transposed convolution or nearest upsampling adds the coarse pixel it may round to.
    Padding layers add nothing (they only supply the border values).

    Returns:
        The radius, rounded up (paper arch: 59 px).
    """
    radius, _ = _walk(net.body, Fraction(0), Fraction(1))
    return math.ceil(radius)


def tile_margin(net: TransformerNet) -> int:
    """Context discarded at an inner tile border: the receptive radius rounded up to the total stride."""
    m = net.size_multiple
    return -(-receptive_radius(net) // m) * m


def min_tile(net: TransformerNet, feather: int = DEFAULT_FEATHER) -> int:
    """Smallest usable ``tile`` for ``net``: two margins, two shrinks, the feather and one stride of progress."""
    m = net.size_multiple
    need = 2 * tile_margin(net) + 2 * net.size_shrink + _round_up(feather, m) + m
    return max(_round_up(need, m), net.size_min)


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def _gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB"


# ----------------------------------------------------------------------------------------- IN statistics
def _instance_norms(net: nn.Module) -> list[tuple[str, nn.InstanceNorm2d]]:
    return [(name, mod) for name, mod in net.named_modules() if isinstance(mod, nn.InstanceNorm2d)]


@contextmanager
def record_in_stats(net: nn.Module) -> Iterator[InstanceNormStats]:
    """Record every instance-norm layer's input statistics during the forward passes inside the block.

    Yields a dict that is filled while the block runs: module name -> (mean, var), each (B, C) float32, the
    biased per-sample per-channel statistics the layer normalises with (the last pass wins). The net's outputs
    are not changed. Hooks are removed on exit.
    """
    stats: InstanceNormStats = {}
    handles = []

    def make_hook(name: str) -> Callable[[nn.Module, tuple[torch.Tensor, ...], torch.Tensor], None]:
        def hook(module: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            var, mean = torch.var_mean(args[0].detach().float(), dim=(2, 3), unbiased=False)
            stats[name] = (mean, var)

        return hook

    try:
        for name, mod in _instance_norms(net):
            handles.append(mod.register_forward_hook(make_hook(name)))
        yield stats
    finally:
        for h in handles:
            h.remove()


def _frozen_forward(
    module: nn.InstanceNorm2d, mean: torch.Tensor, var: torch.Tensor
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A forward for ``module`` that normalises with ``mean``/``var`` ((B, C) each) instead of the input's."""
    scale = torch.rsqrt(var + module.eps)

    def forward(x: torch.Tensor) -> torch.Tensor:
        if x.shape[:2] != mean.shape:
            raise ShapeError(f"frozen instance norm: input {list(x.shape)} does not match stats {list(mean.shape)}")
        y = (x.float() - mean[:, :, None, None]) * scale[:, :, None, None]
        if module.affine:
            y = y * module.weight[None, :, None, None] + module.bias[None, :, None, None]
        return y.to(x.dtype)

    return forward


@contextmanager
def frozen_in_stats(net: nn.Module, stats: InstanceNormStats, *, partial: bool = False) -> Iterator[None]:
    """Inside the block every instance-norm layer of ``net`` normalises with ``stats`` instead of its input's.

    Implemented as a per-instance ``forward`` override of the IN modules, restored on exit; the net must not be
    used by another thread meanwhile. ``stats`` must name every IN layer (as :func:`record_in_stats` does)
    unless ``partial`` (layers not named keep their own statistics).

    Raises:
        ShapeError: ``stats`` misses a layer of ``net`` (and not ``partial``).
    """
    norms = [(name, mod) for name, mod in _instance_norms(net) if not partial or name in stats]
    missing = [name for name, _ in norms if name not in stats]
    if missing:
        raise ShapeError(f"instance-norm stats miss {len(missing)} layer(s) of the net, e.g. {missing[0]!r}")
    try:
        for name, mod in norms:
            mean, var = stats[name]
            mod.forward = _frozen_forward(mod, mean, var)  # type: ignore[method-assign]
        yield
    finally:
        for _, mod in norms:
            mod.__dict__.pop("forward", None)


def frame_stats(net: TransformerNet, x: torch.Tensor, side: int | None = None) -> InstanceNormStats:
    """Instance-norm statistics of ``net`` on frame ``x``, optionally scaled down first.

    Args:
        net: the network.
        x: (B, C, H, W) net input (pre-space).
        side: scale the frame (area filter) so that its longer side is at most this; None = full frame (the
            statistics of the untiled forward pass, exactly).

    Returns:
        module name -> (mean, var), each (B, C) float32.
    """
    h, w = x.shape[-2], x.shape[-1]
    if side is not None and max(h, w) > side:
        f = side / max(h, w)
        x = F.interpolate(x, size=(max(2, round(h * f)), max(2, round(w * f))), mode="area")
    with record_in_stats(net) as stats:
        net(x)
    return dict(stats)


# ----------------------------------------------------------------------------------------- tile layout
@dataclass(frozen=True)
class AxisTile:
    """One tile along one axis, in padded-frame (body input) coordinates.

    Attributes:
        start, stop: the body-input range ``[start, stop)`` fed to the net.
        weight: (stop - start - 2·shrink,) float32 blending weight of each body-output sample.
    """

    start: int
    stop: int
    weight: torch.Tensor


def _rise(n: int, lo: int, hi: int) -> torch.Tensor:
    """Raised-cosine ramp over samples [lo, hi): 0 before, 1 from ``hi`` on."""
    u = torch.arange(n, dtype=torch.float64)
    t = ((u - lo + 0.5) / max(hi - lo, 1)).clamp(0.0, 1.0)
    return 0.5 - 0.5 * torch.cos(math.pi * t)


def axis_tiles(n: int, tile: int, margin: int, shrink: int, multiple: int, feather: int) -> list[AxisTile]:
    """Cut a padded axis of ``n`` body-input px into tiles of ``tile`` px whose kept regions overlap.

    Tile starts are multiples of ``multiple``; the kept (valid) output of a tile is its output minus ``margin``
    px at every inner border; the kept regions of neighbours overlap by at least ``feather`` px and are blended
    with raised-cosine weights normalised to sum to 1 at every sample.

    Args:
        n: padded axis length (a multiple of ``multiple``).
        tile: tile length (a multiple of ``multiple``, at most ``n``).
        margin: discarded context at inner borders (px).
        shrink: px the body loses on each side (0 for reflect-start).
        multiple: total stride of the net.
        feather: minimum overlap of kept regions.

    Raises:
        ConfigError: ``tile`` too small for the margin and feather.
    """
    out_n = n - 2 * shrink
    if tile >= n:
        return [AxisTile(0, n, torch.ones(out_n, dtype=torch.float32))]
    step_max = (tile - 2 * margin - 2 * shrink - feather) // multiple * multiple
    if step_max < multiple:
        raise ConfigError(f"tile {tile} px is too small for a {margin} px margin and {feather} px feather")
    span = n - tile
    count = 1 + -(-span // step_max)
    starts = [(k * span // (count - 1)) // multiple * multiple for k in range(count)]
    starts[-1] = span
    valid = []  # kept output range of each tile, in body-output coordinates [0, out_n)
    for k, a in enumerate(starts):
        lo = 0 if k == 0 else a + margin
        hi = out_n if k == count - 1 else a + tile - 2 * shrink - margin
        valid.append((lo, hi))
    raw = []
    for k, (lo, hi) in enumerate(valid):
        w = torch.zeros(out_n, dtype=torch.float64)
        w[lo:hi] = 1.0
        if k > 0:
            w = w * _rise(out_n, lo, valid[k - 1][1])
        if k < count - 1:
            w = w * (1.0 - _rise(out_n, valid[k + 1][0], hi))
        raw.append(w)
    total = torch.stack(raw).sum(0)
    if bool((total <= 0).any()):
        raise ConfigError(f"tile layout leaves gaps (n={n}, tile={tile}, margin={margin})")  # cannot happen
    return [
        AxisTile(a, a + tile, (w / total)[a : a + tile - 2 * shrink].float())
        for a, w in zip(starts, raw, strict=True)
    ]


# ----------------------------------------------------------------------------------------- tiled forward
def tiled_forward(
    net: TransformerNet,
    x: torch.Tensor,
    tile: int,
    *,
    stats: StatsMode | InstanceNormStats = "exact",
    feather: int = DEFAULT_FEATHER,
) -> torch.Tensor:
    """``net(x)`` computed in overlapping tiles of at most ``tile`` px per side, with shared IN statistics.

    Args:
        net: a TransformerNet (any norm; with batch norm no statistics are needed).
        x: (B, in_channels, H, W) pre-space input, any H, W.
        tile: maximum side of the net input per tile (px); rounded down to the net's stride.
        stats: ``"downscaled"`` (statistics of the frame scaled down to fit in one tile: cheap, approximate),
            ``"exact"`` (the untiled statistics computed tile by tile: matches the untiled net, costs about
            L/2 extra tiled passes for L IN layers), ``"full"`` (one untiled pass; tests) or precomputed stats.
        feather: minimum overlap of neighbouring tiles' kept regions, blended with raised-cosine weights.

    Returns:
        (B, 3, H, W) pre-space output. Frames that fit in one tile get the plain ``net(x)``.

    Raises:
        ShapeError: wrong input shape.
        ConfigError: ``tile`` smaller than :func:`min_tile`.

    Convention:
        The frame is padded as ``net.forward`` pads it; tiles start on the stride grid; output pixel (y, x)
        belongs to input pixel (y, x).
    """
    if x.dim() != 4 or x.shape[1] != net.in_channels:
        raise ShapeError(f"network input: expected (B, {net.in_channels}, H, W), got {list(x.shape)}")
    m, s = net.size_multiple, net.size_shrink
    h, w = x.shape[-2], x.shape[-1]
    top, bottom = pad_amounts(h, m, net.size_min, s)
    left, right = pad_amounts(w, m, net.size_min, s)
    hp, wp = h + top + bottom, w + left + right
    t = tile // m * m
    if t >= hp and t >= wp:
        return net(x)
    smallest = min_tile(net, feather)
    if t < smallest:
        raise ConfigError(f"tile {tile} px is too small for arch {net.arch!r} (at least {smallest} px)")
    margin = tile_margin(net)
    xp = pad_frame(x, top, bottom, left, right)
    rows = axis_tiles(hp, min(t, hp), margin, s, m, feather)
    cols = axis_tiles(wp, min(t, wp), margin, s, m, feather)
    if isinstance(stats, str):
        if stats not in ("downscaled", "exact", "full"):
            raise ConfigError(f"stats must be 'downscaled', 'exact', 'full' or recorded stats, got {stats!r}")
        if stats == "exact":
            from fav_core.tilestats import exact_stats

            use = exact_stats(net, xp, rows, cols)
        else:
            use = frame_stats(net, x, None if stats == "full" else t - 2 * s)
    else:
        use = stats
    out = torch.zeros(x.shape[0], 3, h, w, dtype=torch.float32, device=x.device)
    oy, ox = top - s, left - s  # body-output index of frame pixel 0
    log.debug("tiled forward: %dx%d frame in %dx%d tiles of %d px (margin %d)", w, h, len(cols), len(rows), t, margin)
    with frozen_in_stats(net, use):
        for r in rows:
            for c in cols:
                y = torch.tanh(net.body(xp[:, :, r.start : r.stop, c.start : c.stop])) * net.tanh_constant
                # body-output range of this tile ∩ frame, in frame coordinates
                fy0, fy1 = max(r.start - oy, 0), min(r.stop - 2 * s - oy, h)
                fx0, fx1 = max(c.start - ox, 0), min(c.stop - 2 * s - ox, w)
                if fy0 >= fy1 or fx0 >= fx1:
                    continue
                ty, tx = fy0 + oy - r.start, fx0 + ox - c.start
                wgt = (r.weight[ty : ty + fy1 - fy0, None] * c.weight[None, tx : tx + fx1 - fx0]).to(x.device)
                out[:, :, fy0:fy1, fx0:fx1] += y[:, :, ty : ty + fy1 - fy0, tx : tx + fx1 - fx0].float() * wgt
    return out.to(x.dtype) if x.dtype != torch.float32 else out


# ----------------------------------------------------------------------------------------- memory policy
def tile_bytes(net: TransformerNet, tile: int, bytes_per_value: int = 4) -> int:
    """Estimated activation memory of one tile of ``tile`` × ``tile`` px (:func:`fav_core.budget.net_bytes`)."""
    return net_bytes(parse_arch(net.arch), net.in_channels, (tile, tile), bytes_per_value)


def auto_tile(
    net: TransformerNet, size: tuple[int, int], device: str, bytes_per_value: int = 4, free: int | None = None
) -> int | None:
    """Tile side to use for frames of ``size`` = (H, W) on ``device``: None when the whole frame fits.

    The whole frame fits when the budget estimate of one forward pass is at most :data:`MEMORY_SHARE` of the
    free memory; otherwise the largest power-of-two-ish tile (halving from the frame's longer side) that fits.

    Raises:
        ConfigError: not even a :data:`MIN_AUTO_TILE` (or :func:`min_tile`) tile fits.
    """
    avail = device_bytes(device) if free is None else free
    need = net_bytes(parse_arch(net.arch), net.in_channels, size, bytes_per_value)
    if need <= MEMORY_SHARE * avail:
        return None
    smallest = max(min_tile(net), MIN_AUTO_TILE)
    t = _round_up(max(size), net.size_multiple)
    while t > smallest:
        t = max(smallest, _round_up(t // 2, net.size_multiple))
        if tile_bytes(net, t, bytes_per_value) <= MEMORY_SHARE * avail:
            return t
    raise ConfigError(
        f"frames of {size[1]}x{size[0]} do not fit on {device} even in {smallest} px tiles "
        f"({_gib(tile_bytes(net, smallest, bytes_per_value))} needed, {_gib(avail)} free)"
    )


def check_stylize_tiled(
    what: str, size: tuple[int, int], net: TransformerNet, device: str, bytes_per_value: int = 4,
    tile: int | None = None,
) -> None:
    """Like :func:`fav_core.budget.check_stylize`, but counting the network at tile size when tiling can help.

    The loop's full-frame buffers (CPU) are still counted at full size; only the network's activations shrink.

    Raises:
        ConfigError: the frames do not fit even when tiled.
    """
    h, w = size
    if tile is not None and tile < max(size) and tile // net.size_multiple * net.size_multiple < min_tile(net):
        raise ConfigError(f"{what}: tile {tile} px is too small for arch {net.arch!r} (at least {min_tile(net)} px)")
    loop = 0 if device.startswith("cuda") else h * w * LOOP_FLOATS_PER_PIXEL * 4
    avail = device_bytes(device)
    full = net_bytes(parse_arch(net.arch), net.in_channels, size, bytes_per_value)
    try:
        t = tile if tile is not None else auto_tile(net, size, device, bytes_per_value, free=max(0, avail - loop))
    except ConfigError:  # not even the smallest tile fits: report the untiled need
        t = None
    net_need = full if t is None or t >= max(size) else min(full, tile_bytes(net, t, bytes_per_value))
    if net_need + loop > avail:
        raise ConfigError(
            f"{what}: frames are {w}x{h}; stylizing one needs about {_gib(net_need + loop)} on {device}, only "
            f"{_gib(avail)} is free (scale the frames down or use --tile)"
        )


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a (CUDA) out-of-memory error of torch."""
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def forward_any_size(
    net: TransformerNet,
    x: torch.Tensor,
    tile: int | None,
    device: str,
    bytes_per_value: int = 4,
    cache: dict[tuple[int, int, int], int | None] | None = None,
    stats: StatsMode = "exact",
) -> torch.Tensor:
    """``net(x)``, tiled when asked (``tile``), when the budget says the frame does not fit, or after an OOM.

    Args:
        net: the network.
        x: (B, in_channels, H, W) pre-space input.
        tile: max tile side, or None for automatic (budget estimate, then CUDA OOM fallback).
        device: device name for the budget (``"cpu"``, ``"cuda:0"``).
        bytes_per_value: 4 for fp32, 2 under autocast.
        cache: remembers the automatic decision per (net, H, W), so every frame of a shot is processed alike
            (with ``stats="downscaled"`` a tiled frame looks slightly different from an untiled one).
        stats: how tiles get their instance-norm statistics (:func:`tiled_forward`); default ``"exact"``, so
            a frame that falls back to tiles looks exactly like an untiled one.

    Returns:
        (B, 3, H, W) pre-space output.
    """
    if tile is not None:
        return tiled_forward(net, x, tile, stats=stats)
    size = (int(x.shape[-2]), int(x.shape[-1]))
    key = (id(net), *size)
    if cache is not None and key in cache:
        chosen = cache[key]
    else:
        chosen = auto_tile(net, size, device, bytes_per_value)
    if chosen is None:
        try:
            y = net(x)
        except RuntimeError as exc:  # torch's OutOfMemoryError is a RuntimeError
            if not is_out_of_memory(exc):
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            chosen = max(min_tile(net), _round_up(max(size) // 2, net.size_multiple))
            log.warning("out of memory on a %dx%d frame; retrying in %d px tiles", size[1], size[0], chosen)
        else:
            if cache is not None:
                cache[key] = None
            return y
    while True:
        try:
            y = tiled_forward(net, x, chosen, stats=stats)
        except RuntimeError as exc:  # torch's OutOfMemoryError is a RuntimeError
            smallest = max(min_tile(net), MIN_AUTO_TILE)
            if not is_out_of_memory(exc) or chosen <= smallest:
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            chosen = max(smallest, _round_up(chosen // 2, net.size_multiple))
            log.warning("out of memory in tiles; retrying in %d px tiles", chosen)
            continue
        if cache is not None:
            cache[key] = chosen
        return y
