"""Tiled inference (fav_core.tiling): receptive field, shared IN statistics, tile layout, seams, fallback."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fav_core.errors import ConfigError, ShapeError
from fav_core.modelfile import ModelMeta, StyleModel
from fav_core.nets import PAPER_VIDEO_ARCH, build_transformer, deprocess, preprocess
from fav_core.nets.transformer import TransformerNet
from fav_core.stylizer import Stylizer, StylizerConfig
from fav_core.tiling import (
    auto_tile,
    axis_tiles,
    forward_any_size,
    frame_stats,
    frozen_in_stats,
    min_tile,
    receptive_radius,
    record_in_stats,
    tile_margin,
    tiled_forward,
)
from fav_core.types import Frame

#: Every layer kind of the paper net (reflect-start pad, c, d, R, U) at a fraction of its cost.
SMALL_ARCH = "c5s1-8,d16,d16,R16,U2,c3s1-8,U2,c5s1-3"
#: Measured max |tiled - untiled| with full-frame statistics, pre-space (outputs in ±150): ~4e-4 (float32
#: summation order); the bound leaves a margin: 2e-3 pre-space = 8e-6 in rgb01.
FULL_STATS_TOL = 2e-3


@pytest.fixture(scope="module")
def net() -> TransformerNet:
    torch.manual_seed(3)
    return build_transformer(SMALL_ARCH, 7).eval()


def smooth_frame(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """(1, 7, h, w) smooth pre-space-like input (bicubic-upsampled noise)."""
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.randn(1, 7, 6, 8, generator=g), size=(h, w), mode="bicubic", align_corners=False) * 50


def test_receptive_radius_from_the_layers(net: TransformerNet) -> None:
    # paper arch: c9 4 + d 1 + d 2 + 10 res convs at spacing 4 = 40 + U2 4 + c3 at 2 = 2 + U2 2 + c9 4 = 59
    assert receptive_radius(build_transformer(PAPER_VIDEO_ARCH, 7)) == 59
    assert tile_margin(build_transformer(PAPER_VIDEO_ARCH, 7)) == 60
    # small arch: c5 2 + d 1 + d 2 + 2 res convs at 4 = 8 + U2 4 + c3 2 + U2 2 + c5 2 = 23
    assert receptive_radius(net) == 23
    assert tile_margin(net) == 24
    assert min_tile(net) == 2 * 24 + 16 + 4


def test_frozen_statistics_make_the_net_local_within_the_radius(net: TransformerNet) -> None:
    x = smooth_frame(128, 128)
    stats = frame_stats(net, x)
    x2 = x.clone()
    x2[:, :, 64, 64] += 500.0
    with torch.inference_mode(), frozen_in_stats(net, stats):
        d = (net(x2) - net(x)).abs().amax(1)[0]
    ys, xs = torch.nonzero(d > 0, as_tuple=True)
    reach = int(torch.maximum((ys - 64).abs(), (xs - 64).abs()).max())
    assert reach <= receptive_radius(net)
    assert reach >= receptive_radius(net) - 8  # the bound is tight up to the stride rounding


def test_recorded_stats_reproduce_the_untiled_net(net: TransformerNet) -> None:
    x = smooth_frame(40, 52)
    with torch.inference_mode():
        with record_in_stats(net) as stats:
            y = net(x)
        n_in = sum(isinstance(m, torch.nn.InstanceNorm2d) for m in net.modules())
        assert len(stats) == n_in == 8  # 3 c/d + 2 residual + 3 after U, c
        assert all(mean.shape == var.shape == (1, net.get_submodule(k).num_features) for k, (mean, var) in stats.items())
        with frozen_in_stats(net, stats):
            y2 = net(x)
        y3 = net(x)  # overrides removed again
    assert torch.allclose(y, y2, atol=1e-3)
    assert torch.equal(y, y3)
    with pytest.raises(ShapeError, match="miss"):
        with frozen_in_stats(net, {}):
            pass


def test_axis_tiles_partition_of_unity_on_the_stride_grid() -> None:
    tiles = axis_tiles(n=400, tile=160, margin=36, shrink=0, multiple=4, feather=16)
    assert tiles[0].start == 0 and tiles[-1].stop == 400
    assert all(t.start % 4 == 0 and t.stop - t.start == 160 for t in tiles)
    total = torch.zeros(400)
    for t in tiles:
        assert float(t.weight.min()) >= 0.0 and float(t.weight.max()) <= 1.0
        assert float(t.weight[:36].sum()) == 0.0 or t.start == 0  # inner margins are discarded
        assert float(t.weight[-36:].sum()) == 0.0 or t.stop == 400
        total[t.start : t.stop] += t.weight
    assert torch.allclose(total, torch.ones(400), atol=1e-6)
    assert axis_tiles(100, 160, 36, 0, 4, 16)[0].weight.tolist() == [1.0] * 100
    with pytest.raises(ConfigError, match="too small"):
        axis_tiles(400, 80, 36, 0, 4, 16)


def test_tiled_equals_untiled_with_full_frame_stats(net: TransformerNet) -> None:
    x = smooth_frame(96, 140)
    with torch.inference_mode():
        full = net(x)
        tiled = tiled_forward(net, x, 80, stats="full")
    assert tiled.shape == full.shape
    assert float((tiled - full).abs().max()) < FULL_STATS_TOL


def test_exact_stats_from_tiles_equal_the_full_frame_stats(net: TransformerNet) -> None:
    from fav_core.nets.padding import pad_amounts, pad_frame
    from fav_core.tilestats import exact_stats

    x = smooth_frame(96, 140)
    with torch.inference_mode():
        full = net(x)
        reference = frame_stats(net, x)
        top, bottom = pad_amounts(96, 4, net.size_min, 0)
        left, right = pad_amounts(140, 4, net.size_min, 0)
        xp = pad_frame(x, top, bottom, left, right)
        rows = axis_tiles(xp.shape[-2], 80, tile_margin(net), 0, 4, 16)
        cols = axis_tiles(xp.shape[-1], 80, tile_margin(net), 0, 4, 16)
        stats = exact_stats(net, xp, rows, cols)
        tiled = tiled_forward(net, x, 80, stats="exact")
    assert sorted(stats) == sorted(reference)
    for name, (mean, var) in reference.items():
        assert torch.allclose(stats[name][0], mean, rtol=1e-4, atol=1e-4), name
        assert torch.allclose(stats[name][1], var, rtol=1e-4, atol=1e-4), name
    assert float((tiled - full).abs().max()) < FULL_STATS_TOL


def test_downscaled_stats_are_seam_free_and_close(net: TransformerNet) -> None:
    x = smooth_frame(96, 140)
    with torch.inference_mode():
        full = net(x)
        stats = frame_stats(net, x, 80)
        tiled = tiled_forward(net, x, 80, stats=stats)
        with frozen_in_stats(net, stats):
            frozen_untiled = net(x)
    # the tiles agree with the untiled net run with the same (downscaled) statistics: no seams at all
    assert float((tiled - frozen_untiled).abs().max()) < FULL_STATS_TOL
    # the statistics differ from the full frame's: a global, smooth change (measured ~0.15 of the mean |output|
    # for this random net on a smooth frame); the test only bounds it
    rel = float((tiled - full).abs().mean() / full.abs().mean())
    assert 0.0 < rel < 0.6
    # seams: the horizontal gradient across tile borders is no larger than elsewhere
    cols = axis_tiles(140, 80, tile_margin(net), 0, 4, 16)
    borders = sorted({c.start + tile_margin(net) - 1 for c in cols[1:]} | {c.stop - tile_margin(net) - 1 for c in cols[:-1]})
    grad = (tiled[..., 1:] - tiled[..., :-1]).abs().mean(dim=(0, 1, 2))  # per column
    borders = [b - 1 for b in borders if 0 <= b - 1 < grad.numel()]  # pad_amounts puts 1 px left of the frame
    assert float(grad[borders].max()) <= float(grad.max())
    assert float(grad[borders].mean()) <= 1.5 * float(grad.median())


def test_small_frames_and_small_tiles(net: TransformerNet) -> None:
    x = smooth_frame(40, 52)
    with torch.inference_mode():
        assert torch.equal(tiled_forward(net, x, 64), net(x))  # fits in one tile: plain forward
        with pytest.raises(ConfigError, match="too small"):
            tiled_forward(net, smooth_frame(200, 200), 60)
    with pytest.raises(ShapeError):
        tiled_forward(net, torch.zeros(1, 3, 8, 8), 64)


def test_auto_tile_from_the_budget(net: TransformerNet) -> None:
    assert auto_tile(net, (64, 64), "cpu", free=1 << 40) is None
    t = auto_tile(net, (1024, 1024), "cpu", free=64 * 1024 * 1024)
    assert t is not None and t % 4 == 0 and 128 <= t < 1024
    with pytest.raises(ConfigError, match="do not fit"):
        auto_tile(net, (1024, 1024), "cpu", free=1024)


def test_out_of_memory_falls_back_to_tiles(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(4)
    net = build_transformer("c3s1-8,d8,R8,U2,c3s1-3", 7).eval()  # radius 9: few tiles
    x = smooth_frame(160, 160)
    real = TransformerNet.forward

    def forward(self: TransformerNet, inp: torch.Tensor) -> torch.Tensor:
        if inp.shape[-1] * inp.shape[-2] > 100 * 100:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, inp)

    monkeypatch.setattr(TransformerNet, "forward", forward)
    cache: dict[tuple[int, int, int], int | None] = {}
    with torch.inference_mode():
        y = forward_any_size(net, x, None, "cpu", cache=cache)
        assert cache[(id(net), 160, 160)] == 80
        monkeypatch.setattr(TransformerNet, "forward", real)
        ref = net(x)  # the fallback uses exact statistics: the untiled result
    assert float((y - ref).abs().max()) < FULL_STATS_TOL


def test_stylizer_tile_option(net: TransformerNet) -> None:
    with pytest.raises(ConfigError, match="tile"):
        StylizerConfig(model="m", tile=8)
    with pytest.raises(ConfigError, match="tile"):
        StylizerConfig(model="m", tile=True)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="tile-stats"):
        StylizerConfig(model="m", tile_stats="mean")
    meta = ModelMeta(kind="video", arch=SMALL_ARCH, in_channels=7, style_name="t")
    model = StyleModel(net, meta, Path("<tiling test>"))
    rgb = smooth_frame(96, 140)[0, :3].permute(1, 2, 0).numpy() / 200.0 + 0.5
    frame = Frame(1, np.ascontiguousarray(rgb, dtype=np.float32))
    plain = Stylizer(StylizerConfig(model="m", device="cpu", median_filter=1, per_frame=True), None, (model, None))
    exact = Stylizer(StylizerConfig(model="m", device="cpu", median_filter=1, tile=80, per_frame=True), None,
                     (model, None))
    tiled = Stylizer(StylizerConfig(model="m", device="cpu", median_filter=1, tile=80, per_frame=True,
                                    tile_stats="downscaled"), None, (model, None))
    a, b = plain.stylize_first(frame).raw, tiled.stylize_first(frame).raw
    assert float(np.abs(exact.stylize_first(frame).raw - a).max()) < 1e-5  # default: exact statistics
    # the stylizer's tiled path is tiled_forward on the first-frame input (video net, empty prior)
    x = torch.from_numpy(frame.rgb.transpose(2, 0, 1).copy())[None]
    net_in = torch.cat([preprocess(x, "vgg"), torch.zeros(1, 3, 96, 140), torch.zeros(1, 1, 96, 140)], dim=1)
    with torch.inference_mode():
        expect = deprocess(tiled_forward(net, net_in, 80, stats="downscaled"), "vgg")[0].permute(1, 2, 0).numpy()
    assert a.shape == b.shape == (96, 140, 3)
    assert float(np.abs(b - expect).max()) < 1e-5
    assert float(np.abs(a - b).max()) > 1e-4  # tiled (downscaled stats) is not the untiled result


def test_cli_tile_option_and_budget_check(net: TransformerNet, monkeypatch: pytest.MonkeyPatch) -> None:
    import fav_core.budget as budget
    from fav_core.budget import LOOP_FLOATS_PER_PIXEL, net_bytes
    from fav_core.cli.main import build_parser
    from fav_core.cli.stylize import config_from_args
    from fav_core.nets import parse_arch

    args = build_parser().parse_args(["stylize", "in", "-o", "out", "--model", "m", "--tile", "96"])
    assert config_from_args(args).tile == 96 and config_from_args(args).tile_stats == "exact"
    model = StyleModel(net, ModelMeta(kind="video", arch=SMALL_ARCH, in_channels=7, style_name="t"), Path("<t>"))
    stylizer = Stylizer(StylizerConfig(model="m", device="cpu", per_frame=True), None, (model, None))

    class Big:
        size = (1024, 1024)
        path = "big_%04d.png"

    loop = 1024 * 1024 * LOOP_FLOATS_PER_PIXEL * 4
    full = net_bytes(parse_arch(SMALL_ARCH), 7, (1024, 1024))
    monkeypatch.setattr(budget, "available_bytes", lambda: loop + full // 2)  # untiled does not fit, tiles do
    stylizer.check(Big(), [1])
    small = Stylizer(StylizerConfig(model="m", device="cpu", per_frame=True, tile=64), None, (model, None))
    with pytest.raises(ConfigError, match="big_%04d.png: tile 64 px is too small"):
        small.check(Big(), [1])
    monkeypatch.setattr(budget, "available_bytes", lambda: loop + 1024)  # not even the loop buffers + a tile
    with pytest.raises(ConfigError, match="big_%04d.png: frames are 1024x1024"):
        stylizer.check(Big(), [1])


@pytest.mark.parametrize("padding", ["reflect-start", "reflect", "replicate", "zero", "none"])
@pytest.mark.parametrize("arch", ["c5s1-8,d16,R16,u16,c5s1-3", "c3s1-8,f3s2-16,R16,d16,c3s1-3"])
def test_exact_tiles_match_untiled_for_every_padding(arch: str, padding: str) -> None:
    torch.manual_seed(0)
    net = build_transformer(arch, 7, padding=padding).eval()
    x = smooth_frame(90, 130)
    with torch.inference_mode():
        assert float((tiled_forward(net, x, 80, stats="exact") - net(x)).abs().max()) < FULL_STATS_TOL
