"""Transformation network: reference layer semantics (algorithm.md §3), sizes, padding, export."""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fav_core.errors import ConfigError, ShapeError
from fav_core.nets import FNS_DEFAULT_ARCH, PAPER_VIDEO_ARCH, TransformerNet, build_transformer
from fav_core.nets.layers import ConvBlock, ResidualBlock
from fav_core.nets.padding import pad_amounts, pad_frame
from fav_core.nets.sizes import SizePlan, output_size


def conv_params(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout


def norm_params(c: int) -> int:
    return 2 * c


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.fixture(scope="module")
def paper_net() -> TransformerNet:
    torch.manual_seed(0)
    return build_transformer(PAPER_VIDEO_ARCH, 7).eval()


@pytest.fixture(scope="module")
def small_net() -> TransformerNet:
    """Every layer kind of the paper net (pad0, c, d, R, U) at a fraction of its cost."""
    torch.manual_seed(1)
    return build_transformer("c3s1-8,d8,R8,U2,c3s1-3", 7).eval()


def reference_paper_forward(net: TransformerNet, x: torch.Tensor) -> torch.Tensor:
    """The unrolled reflect-start paper net of algorithm.md §3.3, written with functional ops."""
    p = dict(net.named_parameters())

    def conv(y: torch.Tensor, name: str, stride: int = 1, pad: int = 0) -> torch.Tensor:
        return F.conv2d(y, p[f"body.{name}.weight"], p[f"body.{name}.bias"], stride=stride, padding=pad)

    def norm_relu(y: torch.Tensor, name: str, relu: bool = True) -> torch.Tensor:
        y = F.instance_norm(y, weight=p[f"body.{name}.weight"], bias=p[f"body.{name}.bias"], eps=1e-5)
        return F.relu(y) if relu else y

    y = F.pad(x, [40, 40, 40, 40], mode="reflect")
    y = norm_relu(conv(y, "conv1", pad=4), "norm1")
    y = norm_relu(conv(y, "down2", stride=2, pad=1), "norm2")
    y = norm_relu(conv(y, "down3", stride=2, pad=1), "norm3")
    for r in range(4, 9):
        z = norm_relu(conv(y, f"res{r}.block.conv1"), f"res{r}.block.norm1")
        z = norm_relu(conv(z, f"res{r}.block.conv2"), f"res{r}.block.norm2", relu=False)
        y = z + y[:, :, 2:-2, 2:-2]
    y = norm_relu(F.interpolate(y, scale_factor=2, mode="nearest"), "norm9")
    y = norm_relu(conv(y, "conv10", pad=1), "norm10")
    y = norm_relu(F.interpolate(y, scale_factor=2, mode="nearest"), "norm11")
    y = conv(y, "conv12", pad=4)
    return torch.tanh(y) * 150.0


class TestArchitecture:
    def test_paper_video_param_count_exact(self, paper_net: TransformerNet) -> None:
        expected = (
            conv_params(7, 32, 9) + norm_params(32)
            + conv_params(32, 64, 3) + norm_params(64)
            + conv_params(64, 128, 3) + norm_params(128)
            + 5 * (2 * conv_params(128, 128, 3) + 2 * norm_params(128))
            + norm_params(128)  # U2 -> IN(128)
            + conv_params(128, 64, 3) + norm_params(64)
            + norm_params(64)  # U2 -> IN(64)
            + conv_params(64, 3, 9)
        )
        assert expected == 1_679_235  # ≈ 1.68 M (algorithm.md §3.3)
        assert n_params(paper_net) == expected

    def test_fns_default_param_count_exact(self) -> None:
        net = build_transformer(FNS_DEFAULT_ARCH, 3)
        expected = (
            conv_params(3, 32, 9) + norm_params(32)
            + conv_params(32, 64, 3) + norm_params(64)
            + conv_params(64, 128, 3) + norm_params(128)
            + 5 * (2 * conv_params(128, 128, 3) + 2 * norm_params(128))
            + conv_params(128, 64, 3) + norm_params(64)  # u64: transposed conv 128 -> 64
            + conv_params(64, 32, 3) + norm_params(32)  # u32
            + conv_params(32, 3, 9)
        )
        assert n_params(net) == expected
        up = net.body.up9
        assert isinstance(up, nn.ConvTranspose2d)
        assert (up.kernel_size, up.stride, up.padding, up.output_padding) == ((3, 3), (2, 2), (1, 1), (1, 1))

    def test_paper_layer_names(self, paper_net: TransformerNet) -> None:
        assert list(paper_net.body._modules) == [
            "pad0", "conv1", "norm1", "relu1", "down2", "norm2", "relu2", "down3", "norm3", "relu3",
            "res4", "res5", "res6", "res7", "res8",
            "upsample9", "norm9", "relu9", "conv10", "norm10", "relu10", "upsample11", "norm11", "relu11",
            "conv12",
        ]  # fmt: skip
        assert paper_net.body.pad0.padding == (40, 40, 40, 40)
        assert paper_net.body.conv1.padding == (4, 4)  # reflect-start: c convs zero-padded
        assert paper_net.body.res4.block.conv1.padding == (0, 0)  # residual convs valid
        assert paper_net.body.res4.shave == 2

    def test_attributes(self, paper_net: TransformerNet) -> None:
        assert paper_net.arch == PAPER_VIDEO_ARCH
        assert paper_net.in_channels == 7
        assert (paper_net.norm, paper_net.padding, paper_net.tanh_constant) == ("instance", "reflect-start", 150.0)

    def test_norm_relu_placement(self) -> None:
        net = build_transformer("c3s1-8,U2,R8,C8,d8,c3s1-3", 3, padding="zero")
        assert list(net.body._modules) == [
            "conv1", "norm1", "relu1",
            "upsample2", "norm2", "relu2",  # U gets IN + ReLU
            "res3",  # R gets nothing
            "block4", "relu4",  # C gets ReLU only
            "down5", "norm5", "relu5",
            "conv6",  # last token gets nothing
        ]  # fmt: skip
        assert isinstance(net.body.block4, ConvBlock)
        assert isinstance(net.body.res3, ResidualBlock)

    def test_instance_norm_settings_and_init(self, paper_net: TransformerNet) -> None:
        norms = [m for m in paper_net.modules() if isinstance(m, nn.InstanceNorm2d)]
        assert len(norms) == 3 + 10 + 3
        for m in norms:
            assert m.affine and not m.track_running_stats and m.eps == 1e-5
            assert bool((m.weight >= 0).all() and (m.weight < 1).all())  # U(0, 1)
            assert bool((m.bias == 0).all())
        assert float(torch.cat([m.weight.detach() for m in norms]).std()) > 0.1  # really random, not a constant

    def test_batch_norm(self) -> None:
        net = build_transformer("c3s1-8,R8,c3s1-3", 3, norm="batch", padding="zero")
        bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
        assert len(bns) == 3
        assert all(bool((m.weight >= 0).all() and (m.weight < 1).all()) for m in bns)
        assert not any(isinstance(m, nn.InstanceNorm2d) for m in net.modules())

    def test_torch7_init_bounds(self) -> None:
        net = build_transformer("c3s1-16,d16,u8,c3s1-3", 3, padding="zero")
        up = net.body.up3  # Torch7 SpatialFullConvolution: bound 1/sqrt(k·k·nInputPlane)
        bound = 1.0 / (9 * 16) ** 0.5
        assert float(up.weight.abs().max()) <= bound
        assert float(up.weight.abs().max()) > 0.8 * bound
        conv = net.body.conv1
        assert float(conv.weight.abs().max()) <= 1.0 / (9 * 3) ** 0.5

    def test_multi_digit_kernel(self) -> None:
        net = build_transformer("c11s1-3", 3, padding="zero")
        assert net.body.conv1.kernel_size == (11, 11)
        assert net.body.conv1.padding == (5, 5)
        assert net(torch.randn(1, 3, 6, 5)).shape == (1, 3, 6, 5)

    def test_full_conv_token(self) -> None:
        net = build_transformer("d8,f5s2-3", 3, padding="zero")
        fc = net.body.fullconv2
        assert (fc.kernel_size, fc.stride, fc.padding, fc.output_padding) == ((5, 5), (2, 2), (2, 2), (1, 1))
        assert net(torch.randn(1, 3, 8, 10)).shape == (1, 3, 8, 10)

    @pytest.mark.parametrize(
        ("arch", "message"),
        [
            ("c3s1-8,R16,c3s1-3", r"arch token 'R16' \(#2\): a residual block keeps its channel count, but its input has 8"),
            ("c3s1-8,C4,c3s1-3", r"arch token 'C4' \(#2\): a conv block keeps"),
            ("c3s1-8,c3s1-4", "arch ends with 4 channels; the network must output 3"),
            ("d8,c3s1-3", "does not keep the frame size"),
            ("c3s1-8,U2,c3s1-3", "does not keep the frame size"),
            ("c9x1-3", r"arch token 'c9x1-3' \(#1\): expected cXsY-Z"),
        ],
    )
    def test_exception_arch(self, arch: str, message: str) -> None:
        with pytest.raises(ConfigError, match=message):
            build_transformer(arch, 3)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"norm": "layer"}, "unknown norm 'layer'"),
            ({"padding": "circular"}, "unknown padding 'circular'"),
            ({"tanh_constant": 0.0}, "tanh_constant must be a finite number > 0"),
            ({"tanh_constant": float("inf")}, "tanh_constant must be a finite number > 0"),
        ],
    )
    def test_exception_options(self, kwargs: dict, message: str) -> None:
        with pytest.raises(ConfigError, match=message):
            build_transformer("c3s1-3", 3, **kwargs)

    @pytest.mark.parametrize("in_channels", [0, -1, True, 3.0])
    def test_exception_in_channels(self, in_channels: object) -> None:
        with pytest.raises(ConfigError, match="in_channels must be a positive integer"):
            build_transformer("c3s1-3", in_channels)  # type: ignore[arg-type]


class TestPaddingTypes:
    def test_zero(self) -> None:
        net = build_transformer("c3s1-3", 3, padding="zero")
        x = torch.randn(2, 3, 5, 6)
        w, b = net.body.conv1.weight, net.body.conv1.bias
        torch.testing.assert_close(net(x), torch.tanh(F.conv2d(x, w, b, padding=1)) * 150.0)

    @pytest.mark.parametrize("padding", ["reflect", "replicate"])
    def test_explicit_pad(self, padding: str) -> None:
        net = build_transformer("c3s1-3", 3, padding=padding, tanh_constant=10.0)
        assert list(net.body._modules) == ["pad1", "conv1"]
        assert net.body.conv1.padding == (0, 0)
        x = torch.randn(1, 3, 5, 6)
        w, b = net.body.conv1.weight, net.body.conv1.bias
        expected = torch.tanh(F.conv2d(F.pad(x, [1, 1, 1, 1], mode=padding), w, b)) * 10.0
        torch.testing.assert_close(net(x), expected)

    def test_none_keeps_reference_bug(self) -> None:
        net = build_transformer("c3s1-8,R8,c3s1-3", 3, padding="none")
        assert net.body.conv1.padding == (1, 1)  # still zero-padded (reference bug)
        assert net.body.res2.block.conv1.padding == (0, 0)
        assert net.body.res2.shave == 2
        assert "pad0" not in net.body._modules
        assert net.size_plan == SizePlan(multiple=1, min_size=6, shrink=2)  # IN needs >= 2 px

    def test_reflect_start_pad_is_computed(self) -> None:
        net = build_transformer("c3s1-8,R8,R8,c3s1-3", 3)  # 2 residual blocks at full resolution: p = 4
        assert net.body.pad0.padding == (4, 4, 4, 4)
        net = build_transformer("c3s1-8,R8,c3s1-3", 3, padding="zero")
        assert "pad0" not in net.body._modules

    def test_no_pad_without_shrinking_layers(self) -> None:
        net = build_transformer("c9s1-32,d64,u32,c9s1-3", 3)
        assert "pad0" not in net.body._modules
        assert net.size_plan == SizePlan(multiple=2, min_size=4, shrink=0)

    @pytest.mark.parametrize(
        ("padding", "plan"),
        [
            ("reflect-start", SizePlan(4, 44, 0)),
            ("none", SizePlan(4, 88, 40)),
            ("zero", SizePlan(4, 8, 0)),
            ("reflect", SizePlan(4, 8, 0)),
            ("replicate", SizePlan(4, 8, 0)),
        ],
    )
    def test_size_plans(self, padding: str, plan: SizePlan) -> None:
        assert build_transformer(PAPER_VIDEO_ARCH, 7, padding=padding).size_plan == plan

    def test_none_equals_reflect_start_on_reference_sizes(self) -> None:
        arch = "c3s1-8,d8,R8,R8,U2,c3s1-3"  # two valid residual blocks at 1/2: 8 px lost per side
        start = build_transformer(arch, 7).eval()
        none = build_transformer(arch, 7, padding="none").eval()
        none.load_state_dict(start.state_dict())
        assert start.body.pad0.padding == (8, 8, 8, 8)
        assert (none.size_plan, start.size_plan) == (SizePlan(2, 20, 8), SizePlan(2, 10, 0))
        x = torch.randn(1, 7, 12, 16)
        with torch.no_grad():
            torch.testing.assert_close(none(x), start(x), rtol=0, atol=1e-4)


class TestForward:
    def test_matches_unrolled_reference(self, paper_net: TransformerNet) -> None:
        x = torch.randn(1, 7, 48, 52) * 50
        with torch.no_grad():
            torch.testing.assert_close(paper_net(x), reference_paper_forward(paper_net, x), rtol=0, atol=1e-4)

    def test_any_size(self, paper_net: TransformerNet) -> None:
        x = torch.randn(1, 7, 1, 5) * 50
        with torch.no_grad():
            y = paper_net(x)
        assert y.shape == (1, 3, 1, 5)
        assert bool(torch.isfinite(y).all()) and float(y.abs().max()) <= 150.0

    def test_small_frame_is_padded_then_cropped(self, paper_net: TransformerNet) -> None:
        x = torch.randn(1, 7, 16, 24)
        padded = F.pad(x, [10, 10, 14, 14], mode="reflect")  # to the 44x44 minimum, centred
        with torch.no_grad():
            expected = paper_net(padded)[:, :, 14:30, 10:34]
            torch.testing.assert_close(paper_net(x), expected, rtol=0, atol=1e-5)

    @pytest.mark.parametrize("hw", [(1, 1), (2, 3), (16, 24), (44, 45)])
    def test_any_size_small_net(self, small_net: TransformerNet, hw: tuple[int, int]) -> None:
        x = torch.randn(2, 7, *hw) * 50
        with torch.no_grad():
            assert small_net(x).shape == (2, 3, *hw)

    def test_instance_norm_is_per_sample(self, small_net: TransformerNet) -> None:
        x = torch.randn(2, 7, 20, 20)
        with torch.no_grad():
            torch.testing.assert_close(small_net(x)[1:], small_net(x[1:]), rtol=0, atol=1e-3)

    def test_does_not_modify_input(self, paper_net: TransformerNet) -> None:
        x = torch.randn(1, 7, 9, 10)
        before = x.clone()
        with torch.no_grad():
            paper_net(x)
        assert torch.equal(x, before)

    def test_gradients_flow(self) -> None:
        net = build_transformer("c3s1-8,d8,R8,U2,c3s1-3", 3)
        x = torch.randn(1, 3, 10, 11, requires_grad=True)
        net(x).sum().backward()
        assert x.grad is not None and float(x.grad.abs().sum()) > 0
        assert all(p.grad is not None for p in net.parameters())

    @pytest.mark.parametrize("shape", [(1, 3, 8, 8), (7, 8, 8), (1, 7, 8)])
    def test_exception_shape(self, paper_net: TransformerNet, shape: tuple[int, ...]) -> None:
        with pytest.raises(ShapeError, match=r"network input: expected \(B, 7, H, W\)"):
            paper_net(torch.randn(*shape))

    def test_trace(self, small_net: TransformerNet) -> None:
        x = torch.randn(1, 7, 9, 14)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            traced = torch.jit.trace(small_net, x)
        x2 = torch.randn(1, 7, 9, 14)
        with torch.no_grad():
            torch.testing.assert_close(traced(x2), small_net(x2), rtol=0, atol=1e-5)

    def test_script(self, small_net: TransformerNet) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            scripted = torch.jit.script(small_net)
        for hw in [(1, 1), (9, 14), (16, 16)]:
            x = torch.randn(1, 7, *hw)
            with torch.no_grad():
                torch.testing.assert_close(scripted(x), small_net(x), rtol=0, atol=1e-5)


class TestPaddingHelpers:
    @pytest.mark.parametrize(
        ("args", "expected"),
        [
            ((16, 4, 44, 0), (14, 14)),
            ((17, 4, 44, 0), (13, 14)),
            ((1, 4, 44, 0), (21, 22)),
            ((48, 4, 44, 0), (0, 0)),
            ((50, 4, 44, 0), (1, 1)),
            ((51, 4, 44, 0), (0, 1)),
            ((48, 4, 88, 40), (40, 40)),
            ((10, 4, 88, 40), (41, 41)),
            ((7, 1, 1, 0), (0, 0)),
        ],
    )
    def test_pad_amounts(self, args: tuple[int, int, int, int], expected: tuple[int, int]) -> None:
        assert pad_amounts(*args) == expected

    def test_pad_frame_reflect(self) -> None:
        x = torch.arange(12.0).view(1, 1, 3, 4)
        torch.testing.assert_close(pad_frame(x, 1, 2, 3, 0), F.pad(x, [3, 0, 1, 2], mode="reflect"))

    def test_pad_frame_replicate_when_too_small(self) -> None:
        x = torch.tensor([[[[5.0]]]])
        y = pad_frame(x, 2, 3, 1, 1)
        assert y.shape == (1, 1, 6, 3) and bool((y == 5.0).all())
        x = torch.arange(6.0).view(1, 1, 2, 3)  # a pad of 2 rows cannot reflect a 2-row frame
        torch.testing.assert_close(pad_frame(x, 2, 0, 0, 0), F.pad(x, [0, 0, 2, 0], mode="replicate"))

    def test_pad_frame_noop_returns_input(self) -> None:
        x = torch.randn(1, 2, 3, 3)
        assert pad_frame(x, 0, 0, 0, 0) is x

    def test_output_size_residual(self) -> None:
        block = ResidualBlock(4, "reflect-start", "instance")
        assert output_size(block, 10) == 6
        assert output_size(block, 4) is None  # the valid convs would leave nothing
        assert output_size(ResidualBlock(4, "reflect", "instance"), 3) == 3
