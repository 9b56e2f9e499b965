"""Contract tests of the recursive loop with small deterministic nets and a stub motion source."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from fav_core.errors import Cancelled, ConfigError
from fav_core.modelfile import ModelMeta, StyleModel
from fav_core.motion import Motion
from fav_core.nets import VGG_MEAN_RGB, VGG_SCALE, build_transformer
from fav_core.stylizer import StylizedFrame, Stylizer, StylizerConfig, resolve_precision
from fav_core.types import CancelToken, Frame

H, W = 12, 16


class FrameEcho(torch.nn.Module):
    """'Stylizes' by returning its content channels: output = input frame (pre-space)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :3].clone()


class PriorEcho(torch.nn.Module):
    """Returns the prior channels: output = masked warped prior + fill (pre-space)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1] == 7
        return x[:, 3:6].clone()


def style_model(net: torch.nn.Module, in_channels: int, fill: str = "vgg-mean") -> StyleModel:
    meta = ModelMeta(kind="video" if in_channels == 7 else "image", arch="c3s1-3", in_channels=in_channels,
                     style_name="test", fill=fill)
    return StyleModel(net, meta, Path(f"<test {type(net).__name__}>"))


@dataclass
class Source:
    frames: dict[int, Frame]
    reads: list[int] = field(default_factory=list)

    @property
    def indices(self) -> list[int]:
        return sorted(self.frames)

    def read(self, index: int) -> Frame:
        self.reads.append(index)
        return self.frames[index]


@dataclass
class ShiftMotion:
    """Constant flow (dx, dy) from cur to prev; reliable everywhere except the pixels in ``holes``."""

    dx: float = 1.0
    dy: float = 0.0
    holes: tuple[tuple[int, int], ...] = ()
    calls: list[tuple[int, int]] = field(default_factory=list)

    def motion(self, cur: Frame, prev: Frame) -> Motion:
        self.calls.append((cur.index, prev.index))
        h, w = cur.size
        flow = np.zeros((h, w, 2), np.float32)
        flow[..., 0], flow[..., 1] = self.dx, self.dy
        rel = np.ones((h, w), np.float32)
        for y, x in self.holes:
            rel[y, x] = 0
        return Motion(flow, rel, "stub")


def make_source(n: int = 4, seed: int = 0) -> Source:
    rng = np.random.default_rng(seed)
    return Source({i: Frame(i, rng.random((H, W, 3), dtype=np.float32)) for i in range(1, n + 1)})


def make(cfg: dict | None = None, video=None, image=None, motion=None) -> Stylizer:
    opts = {"min_filter": 1, "median_filter": 1, **(cfg or {})}
    config = StylizerConfig(model="<test>", image_model="<test>" if image is not None else "self",
                            device="cpu", **opts)
    return Stylizer(config, motion if motion is not None else ShiftMotion(), models=(video, image))


def vgg_mean_rgb01() -> np.ndarray:
    return np.array(VGG_MEAN_RGB, np.float32) / VGG_SCALE


def test_first_frame_uses_image_model() -> None:
    src = make_source(1)
    st = make(video=style_model(PriorEcho(), 7), image=style_model(FrameEcho(), 3))
    (out,) = list(st.run(src))
    np.testing.assert_allclose(out.raw, src.frames[1].rgb, atol=1e-5)
    assert out.reliable is None


def test_first_frame_self_gets_an_all_occluded_prior() -> None:
    st = make(video=style_model(PriorEcho(), 7))
    (out,) = list(st.run(make_source(1)))
    # prior channels are all fill = 0 in pre-space = the VGG mean colour
    np.testing.assert_allclose(out.raw, np.broadcast_to(vgg_mean_rgb01(), (H, W, 3)), atol=1e-5)


def test_prior_is_the_warped_previous_output() -> None:
    src = make_source(2)
    st = make(video=style_model(PriorEcho(), 7), image=style_model(FrameEcho(), 3), motion=ShiftMotion(dx=1.0))
    first, second = st.run(src)
    expected = np.zeros_like(first.raw)
    expected[:, :-1] = first.raw[:, 1:]  # frame t pixel x comes from x+1 in t-1; last column leaves the image
    np.testing.assert_allclose(second.raw, expected, atol=1e-4)


def test_unreliable_pixels_get_the_fill_and_the_min_filter_grows_them() -> None:
    src = make_source(2)
    motion = ShiftMotion(dx=0.0, holes=((5, 7),))
    st = make({"min_filter": 3}, video=style_model(PriorEcho(), 7), image=style_model(FrameEcho(), 3),
              motion=motion)
    first, second = st.run(src)
    assert second.reliable is not None
    assert second.reliable[4:7, 6:9].max() == 0 and second.reliable.sum() == H * W - 9
    np.testing.assert_allclose(second.raw[4:7, 6:9], np.broadcast_to(vgg_mean_rgb01(), (3, 3, 3)), atol=1e-5)
    keep = second.reliable > 0
    np.testing.assert_allclose(second.raw[keep], first.raw[keep], atol=1e-5)


def test_uniform_random_fill_is_noise_only_where_unreliable_and_repeatable() -> None:
    motion = ShiftMotion(dx=0.0, holes=((2, 2),))
    kw = dict(video=style_model(PriorEcho(), 7, fill="uniform-random"), image=style_model(FrameEcho(), 3))
    a = list(make({"seed": 3}, motion=motion, **kw).run(make_source(2)))[1]
    b = list(make({"seed": 3}, motion=ShiftMotion(dx=0.0, holes=((2, 2),)), **kw).run(make_source(2)))[1]
    c = list(make({"seed": 4}, motion=ShiftMotion(dx=0.0, holes=((2, 2),)), **kw).run(make_source(2)))[1]
    np.testing.assert_array_equal(a.raw, b.raw)
    assert not np.allclose(a.raw[2, 2], c.raw[2, 2])
    np.testing.assert_allclose(a.raw[0, 0], c.raw[0, 0], atol=1e-6)  # reliable pixels carry no noise


def test_backward_direction_starts_at_the_last_frame_with_flow_to_the_next() -> None:
    motion = ShiftMotion()
    st = make({"direction": "backward"}, video=style_model(PriorEcho(), 7), image=style_model(FrameEcho(), 3),
              motion=motion)
    outs = list(st.run(make_source(4)))
    assert [o.index for o in outs] == [4, 3, 2, 1]
    assert motion.calls == [(3, 4), (2, 3), (1, 2)]
    assert outs[0].reliable is None


def tiny_video_net(seed: int) -> StyleModel:
    torch.manual_seed(seed)
    net = build_transformer("c3s1-8,d8,R8,u8,c3s1-3", 7, padding="reflect-start").eval()
    meta = ModelMeta(kind="video", arch="c3s1-8,d8,R8,u8,c3s1-3", in_channels=7, style_name="t",
                     padding="reflect-start")
    return StyleModel(net, meta, Path("<tiny>"))


def test_continue_with_equals_one_run() -> None:
    video = tiny_video_net(0)
    cfg = {"min_filter": 3, "median_filter": 3}
    whole = list(make(cfg, video=video, motion=ShiftMotion(dx=0.5, dy=-1.0)).run(make_source(5)))
    st = make(cfg, video=video, motion=ShiftMotion(dx=0.5, dy=-1.0))
    head = list(st.run(make_source(5), indices=[1, 2]))
    saved = StylizedFrame(head[-1].index, head[-1].raw.copy(), head[-1].raw.copy())
    tail = list(st.run(make_source(5), indices=[3, 4, 5], prior=saved))
    assert [o.index for o in head + tail] == [1, 2, 3, 4, 5]
    for a, b in zip(whole, head + tail, strict=True):
        np.testing.assert_allclose(a.rgb, b.rgb, atol=1e-5)
        np.testing.assert_allclose(a.raw, b.raw, atol=1e-5)


def test_per_frame_ignores_the_prior() -> None:
    video = tiny_video_net(1)
    st = Stylizer(StylizerConfig(model="x", device="cpu", per_frame=True, median_filter=1), None,
                  models=(video, None))
    src = make_source(3)
    outs = list(st.run(src))
    for o in outs:
        np.testing.assert_allclose(o.raw, st.stylize_first(src.frames[o.index]).raw, atol=1e-6)


def test_median_filter_changes_the_delivered_image_not_the_prior() -> None:
    video = tiny_video_net(2)
    st = make({"median_filter": 3}, video=video)
    out = list(st.run(make_source(1)))[0]
    assert not np.allclose(out.rgb, out.raw)
    st1 = make({"median_filter": 1}, video=video)
    np.testing.assert_allclose(list(st1.run(make_source(1)))[0].raw, out.raw, atol=1e-6)


def test_progress_and_cancel() -> None:
    token = CancelToken()
    seen = []

    def on_progress(p):
        seen.append((p.done, p.total, p.frame))
        if p.done == 2:
            token.cancel()

    st = make(video=style_model(PriorEcho(), 7))
    got = []
    with pytest.raises(Cancelled):
        for o in st.run(make_source(4), on_progress=on_progress, cancel=token):
            got.append(o.index)
    assert got == [1, 2] and seen == [(1, 4, 1), (2, 4, 2)]


def test_wrong_channel_counts_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="7"):
        make(video=style_model(FrameEcho(), 3))
    with pytest.raises(ConfigError, match="expected 3"):
        make(video=style_model(PriorEcho(), 7), image=style_model(PriorEcho(), 7))


@pytest.mark.parametrize(
    "field_, value",
    [("precision", "fp64"), ("direction", "sideways"), ("fill", "black"), ("min_filter", 4),
     ("median_filter", 0), ("device", "tpu")],
)
def test_config_validation(field_: str, value: object) -> None:
    with pytest.raises(ConfigError):
        StylizerConfig(model="m", **{field_: value})


@pytest.mark.parametrize(
    "name, device, expected",
    [("auto", "cuda", "fp16"), ("auto", "cuda:1", "fp16"), ("auto", "cpu", "fp32"), ("auto", "mps", "fp32"),
     ("fp32", "cuda", "fp32"), ("bf16", "cpu", "bf16"), ("fp16", "cuda", "fp16")],
)
def test_resolve_precision(name: str, device: str, expected: str) -> None:
    assert resolve_precision(name, torch.device(device)) == expected


def test_default_precision_is_auto_and_runs_fp32_on_the_cpu() -> None:
    config = StylizerConfig(model="m", device="cpu")
    assert config.precision == "auto"
    net = build_transformer("c3s1-8,d8,R8,u8,c3s1-3", 7, padding="reflect-start").eval()
    st = Stylizer(config, ShiftMotion(), models=(style_model(net, 7), None))
    assert st.precision == "fp32"
    assert [engine.precision for engine in st._engines.values()] == ["fp32"]


def test_fp16_on_cpu_is_refused() -> None:
    with pytest.raises(ConfigError, match="CUDA"):
        Stylizer(StylizerConfig(model="m", device="cpu", precision="fp16"), ShiftMotion(),
                 models=(style_model(PriorEcho(), 7), None))
