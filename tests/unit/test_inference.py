"""fav_core.inference: the polyphase rewrite equals the eager network; engine options and errors."""
from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fav_core.errors import ConfigError, ShapeError
from fav_core.inference import (
    EngineOptions,
    InferenceEngine,
    PolyphaseUpConv,
    default_cache_dir,
    fast_body,
    polyphase_weights,
)
from fav_core.nets import build_transformer
from tests.torch_threads import one_thread  # noqa: F401 - autouse fixture

SMALL_PAPER_LIKE = "c9s1-8,d16,d16,R16,R16,U2,c3s1-8,U2,c9s1-3"


@pytest.mark.parametrize("k", [1, 3, 5, 7, 9])
def test_polyphase_weights_equal_conv_of_upsampled(k: int) -> None:
    torch.manual_seed(k)
    z = torch.randn(2, 4, 5, 7, dtype=torch.float64)
    w = torch.randn(3, 4, k, k, dtype=torch.float64)
    b = torch.randn(3, dtype=torch.float64)
    ref = F.conv2d(F.interpolate(z, scale_factor=2.0, mode="nearest"), w, b, padding=(k - 1) // 2)
    w2, b2, pad = polyphase_weights(w, b)
    assert w2.shape == (12, 4, 2 * pad + 1, 2 * pad + 1)
    assert pad == ((k - 1) // 2 + 1) // 2
    out = F.pixel_shuffle(F.conv2d(z, w2, b2, padding=pad), 2)
    assert out.shape == ref.shape == (2, 3, 10, 14)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-10)


def test_polyphase_weights_of_a_one_pixel_kernel_are_the_kernel_per_phase() -> None:
    w = torch.arange(6.0).reshape(3, 2, 1, 1)
    w2, b2, pad = polyphase_weights(w, None)
    assert pad == 0
    assert torch.equal(w2[:, :, 0, 0], w[:, :, 0, 0].repeat_interleave(4, dim=0))
    assert torch.equal(b2, torch.zeros(12))


def test_polyphase_weights_refuse_even_kernels() -> None:
    with pytest.raises(ShapeError, match="odd"):
        polyphase_weights(torch.zeros(1, 1, 2, 2), None)


def test_fast_body_rewrites_upsample_norm_relu_conv_runs_only() -> None:
    net = build_transformer(SMALL_PAPER_LIKE, 7)
    body = fast_body(net.body)
    polys = [m for m in body if isinstance(m, PolyphaseUpConv)]
    assert len(polys) == 2
    assert not any(isinstance(m, nn.Upsample) for m in body)
    # the rewritten body shares the original modules (no weight copies besides the derived kernels)
    assert polys[1].conv is net.body[-1]
    # u-token (transposed conv) archs have nothing to rewrite
    fns = build_transformer("c9s1-8,d16,R16,u8,c9s1-3", 3)
    assert not any(isinstance(m, PolyphaseUpConv) for m in fast_body(fns.body))


@pytest.mark.parametrize("padding", ["reflect-start", "zero", "none", "reflect"])
@pytest.mark.parametrize("size", [(48, 64), (37, 53)])
def test_engine_matches_eager_network(padding: str, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    net = build_transformer(SMALL_PAPER_LIKE, 7, padding=padding).eval()
    x = torch.randn(1, 7, *size) * 60.0
    with torch.inference_mode():
        ref = net(x)
    engine = InferenceEngine(net, "cpu")
    assert engine.rewritten == (2 if padding != "reflect" else 0)  # reflect: explicit pads, nothing rewritten
    out = engine(x)
    assert out.shape == ref.shape and out.dtype == torch.float32
    # pre-space (±150); 1e-4 of the output range of an rgb01 image is 0.0255 pre-space units
    assert (out - ref).abs().max().item() < 1e-3
    assert (out - ref).abs().max().item() / 255.0 < 1e-5


def test_engine_with_batch_norm_and_image_net() -> None:
    torch.manual_seed(1)
    net = build_transformer("c3s1-8,d8,U2,c5s1-3", 3, norm="batch")
    with torch.no_grad():  # non-trivial running stats
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    net.eval()
    x = torch.randn(2, 3, 20, 24)
    with torch.inference_mode():
        ref = net(x)
    out = InferenceEngine(net, "cpu")(x)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-4)


def test_engine_fast_convs_off_is_the_eager_network_exactly() -> None:
    torch.manual_seed(2)
    net = build_transformer(SMALL_PAPER_LIKE, 7).eval()
    x = torch.randn(1, 7, 32, 40)
    with torch.inference_mode():
        ref = net(x)
    engine = InferenceEngine(net, "cpu", options=EngineOptions(fast_convs=False))
    assert engine.rewritten == 0
    assert torch.equal(engine(x), ref)


def test_engine_channels_last_matches() -> None:
    torch.manual_seed(3)
    net = build_transformer(SMALL_PAPER_LIKE, 7).eval()
    x = torch.randn(1, 7, 32, 40) * 60.0
    with torch.inference_mode():
        ref = net(x)
    out = InferenceEngine(net, "cpu", options=EngineOptions(channels_last=True))(x)
    assert out.is_contiguous()
    assert (out - ref).abs().max().item() < 1e-3


def test_engine_puts_the_net_in_eval_mode_and_does_not_track_grad() -> None:
    net = build_transformer(SMALL_PAPER_LIKE, 7)
    net.train()
    engine = InferenceEngine(net, "cpu")
    assert not net.training
    out = engine(torch.randn(1, 7, 16, 24))
    assert not out.requires_grad


def test_engine_bf16_runs_on_cpu_close_to_fp32() -> None:
    torch.manual_seed(4)
    net = build_transformer(SMALL_PAPER_LIKE, 7).eval()
    x = torch.randn(1, 7, 24, 32) * 60.0
    with torch.inference_mode():
        ref = net(x)
    out = InferenceEngine(net, "cpu", "bf16")(x)
    assert out.dtype == torch.float32
    assert (out - ref).abs().max().item() < 0.1 * 150.0


def test_engine_errors() -> None:
    net = build_transformer(SMALL_PAPER_LIKE, 7)
    with pytest.raises(ConfigError, match="fp16 needs a CUDA"):
        InferenceEngine(net, "cpu", "fp16")
    with pytest.raises(ConfigError, match="precision"):
        InferenceEngine(net, "cpu", "fp64")
    with pytest.raises(ShapeError, match=r"\(B, 7, H, W\)"):
        InferenceEngine(net, "cpu")(torch.zeros(1, 3, 8, 8))
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ConfigError, match="threads"):
            EngineOptions(threads=bad)  # type: ignore[arg-type]


def test_threads_option_sets_torch_threads() -> None:
    InferenceEngine(build_transformer(SMALL_PAPER_LIKE, 7), "cpu", options=EngineOptions(threads=2))
    assert torch.get_num_threads() == 2  # the fixture restores the count afterwards


def test_default_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "fav" / "compile"  # type: ignore[operator]
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir().parts[-3:] == (".cache", "fav", "compile")


def test_single_pixel_low_res_falls_back_to_the_plain_path() -> None:
    torch.manual_seed(5)
    up = nn.Upsample(scale_factor=2.0, mode="nearest")
    norm = nn.InstanceNorm2d(4, affine=True)
    conv = nn.Conv2d(4, 3, 3, padding=1)
    block = PolyphaseUpConv([norm, nn.ReLU()], conv, up).eval()
    z = torch.randn(1, 4, 1, 1)
    with torch.inference_mode():
        torch.testing.assert_close(block(z), conv(nn.ReLU()(norm(up(z)))))


def test_compile_failure_falls_back_to_the_uncompiled_module(caplog: pytest.LogCaptureFixture,
                                                             tmp_path: object) -> None:
    torch.manual_seed(6)
    net = build_transformer(SMALL_PAPER_LIKE, 7).eval()
    engine = InferenceEngine(net, "cpu", options=EngineOptions(compile=True, cache_dir=str(tmp_path)))
    calls = []

    def broken(x: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found")

    engine._run = broken  # noqa: SLF001 - simulate a machine without a compiler
    x = torch.randn(1, 7, 16, 24)
    ref = InferenceEngine(net, "cpu")(x)
    with caplog.at_level("WARNING", logger="fav_core.inference"):
        torch.testing.assert_close(engine(x), ref, rtol=0, atol=0)
        torch.testing.assert_close(engine(x), ref, rtol=0, atol=0)
    assert calls == [1]  # not retried after the first failure
    assert "torch.compile failed (RuntimeError: InvalidCxxCompiler" in caplog.text


def test_compile_cache_folder_replaces_torchs_tmp_default(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from fav_core.inference import _compiled, _torch_default_cache_dir

    net = build_transformer(SMALL_PAPER_LIKE, 7).eval()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", _torch_default_cache_dir())  # what torch itself writes there
    _compiled(net, None)
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "fav" / "compile")  # type: ignore[operator]
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))  # type: ignore[operator]
    _compiled(net, None)
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "mine")  # type: ignore[operator]  # user's wins
    _compiled(net, str(tmp_path / "explicit"))  # type: ignore[operator]
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "explicit")  # type: ignore[operator]
