"""Loss networks: VGG-16 layer indexing and weight loading (tiny weight files), seeded random networks."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from fav_core.errors import ConfigError, ModelLoadError, ShapeError
from fav_core.lossnet import (
    LOSS_NETWORK_NAMES,
    RandomMultiKernelNet,
    RandomPyramidNet,
    VGG16Loss,
    layer_name,
    make_loss_network,
    vgg16_torchvision,
)
from fav_core.lossnet import vgg as vgg_module
from fav_core.lossnet.random_multiscale import random_filters
from fav_core.nets.preprocess import preprocess


def _tiny_vgg_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """torchvision-named weights for VGG-16 up to relu1_2 (reference layer 4), plus an ignored classifier key."""
    g = torch.Generator().manual_seed(seed)
    return {
        "features.0.weight": torch.randn(64, 3, 3, 3, generator=g) * 0.1,
        "features.0.bias": torch.randn(64, generator=g) * 0.1,
        "features.2.weight": torch.randn(64, 64, 3, 3, generator=g) * 0.05,
        "features.2.bias": torch.randn(64, generator=g) * 0.1,
        "classifier.0.bias": torch.zeros(3),
    }


class TestLayerIndexing:
    def test_reference_names(self) -> None:
        assert [layer_name(i) for i in (4, 9, 16, 23)] == ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]
        assert layer_name(1) == "conv1_1" and layer_name(5) == "pool1" and layer_name(31) == "pool5"

    def test_exception(self) -> None:
        with pytest.raises(ConfigError):
            layer_name(0)
        with pytest.raises(ConfigError):
            layer_name(32)

    def test_default_truncation_and_keys(self) -> None:
        net = VGG16Loss()
        assert net.content_layers == ("relu3_3",)
        assert net.style_layers == ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
        assert len(net.features_net) == 23  # truncated after relu4_3
        convs = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21]
        assert net.expected_keys() == [f"features.{i}.{p}" for i in convs for p in ("weight", "bias")]

    def test_cardinality(self) -> None:
        net = VGG16Loss()
        feats = net(torch.randn(2, 3, 32, 40))
        assert {k: tuple(v.shape) for k, v in feats.items()} == {
            "relu1_2": (2, 64, 32, 40),
            "relu2_2": (2, 128, 16, 20),
            "relu3_3": (2, 256, 8, 10),
            "relu4_3": (2, 512, 4, 5),
        }
        with pytest.raises(ShapeError):
            net(torch.zeros(1, 4, 8, 8))


class TestVGGWeights:
    @pytest.mark.parametrize("suffix", [".safetensors", ".pth", ".SAFETENSORS"])
    def test_load_and_forward(self, tmp_path: Path, suffix: str) -> None:
        state = _tiny_vgg_state()
        path = tmp_path / f"vgg{suffix}"
        if suffix.lower() == ".safetensors":
            save_file(state, str(path))
        else:
            torch.save(state, str(path))
        net = make_loss_network("vgg16", weights=path, content_layers=(4,), style_layers=(2, 4))
        assert len(net.features_net) == 4
        rgb = torch.rand(1, 3, 6, 7)
        feats = net(preprocess(rgb, "vgg"))
        # independent forward: torchvision weights expect ImageNet-normalised RGB
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        h = F.conv2d((rgb - mean) / std, state["features.0.weight"], state["features.0.bias"], padding=1)
        torch.testing.assert_close(feats["relu1_1"], F.relu(h), atol=1e-5, rtol=1e-5)
        h = F.conv2d(F.relu(h), state["features.2.weight"], state["features.2.bias"], padding=1)
        torch.testing.assert_close(feats["relu1_2"], F.relu(h), atol=1e-5, rtol=1e-5)
        assert not any(p.requires_grad for p in net.parameters())

    def test_gradient_reaches_input(self, tmp_path: Path) -> None:
        save_file(_tiny_vgg_state(), str(tmp_path / "w.safetensors"))
        net = make_loss_network("vgg16", weights=tmp_path / "w.safetensors", content_layers=(4,), style_layers=())
        x = torch.randn(1, 3, 5, 5, requires_grad=True)
        net(x)["relu1_2"].sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0

    def test_missing_key(self, tmp_path: Path) -> None:
        state = _tiny_vgg_state()
        del state["features.2.bias"]
        save_file(state, str(tmp_path / "w.safetensors"))
        with pytest.raises(ModelLoadError, match=r"features\.2\.bias"):
            make_loss_network("vgg16", weights=tmp_path / "w.safetensors", content_layers=(4,), style_layers=())

    def test_wrong_shape(self, tmp_path: Path) -> None:
        state = _tiny_vgg_state()
        state["features.0.weight"] = torch.zeros(64, 3, 5, 5)
        save_file(state, str(tmp_path / "w.safetensors"))
        with pytest.raises(ModelLoadError, match="shape"):
            make_loss_network("vgg16", weights=tmp_path / "w.safetensors", content_layers=(4,), style_layers=())

    def test_missing_or_corrupt_file(self, tmp_path: Path) -> None:
        with pytest.raises(ModelLoadError, match="not found"):
            make_loss_network("vgg16", weights=tmp_path / "nope.safetensors")
        (tmp_path / "bad.safetensors").write_bytes(b"\x00garbage")
        with pytest.raises(ModelLoadError, match="bad.safetensors"):
            make_loss_network("vgg16", weights=tmp_path / "bad.safetensors")

    def test_hub_cache_without_download(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
        with pytest.raises(ModelLoadError, match="not cached"):
            vgg16_torchvision(None, (4,), (), allow_download=False)
        cached = tmp_path / "hub" / "checkpoints" / vgg_module.TORCHVISION_VGG16_URL.rsplit("/", 1)[1]
        cached.parent.mkdir(parents=True)
        torch.save(_tiny_vgg_state(3), str(cached))
        net = vgg16_torchvision(None, (4,), (), allow_download=False)
        torch.testing.assert_close(net.features_net[0].weight, _tiny_vgg_state(3)["features.0.weight"])


class TestRandomNetworks:
    def test_filters_unit_norm_and_seeded(self) -> None:
        a = random_filters(7, (3, 5), 4)
        b = random_filters(7, (3, 5), 4)
        c = random_filters(8, (3, 5), 4)
        assert [tuple(w.shape) for w in a] == [(4, 3, 3, 3), (4, 3, 5, 5)]
        for w in a:
            torch.testing.assert_close(w.flatten(1).norm(dim=1), torch.ones(4))
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
        assert not torch.equal(a[0], c[0])

    def test_exception(self) -> None:
        with pytest.raises(ConfigError):
            random_filters(0, (4,), 8)
        with pytest.raises(ConfigError):
            random_filters(0, (3,), 0)
        with pytest.raises(ConfigError):
            make_loss_network("alexnet")
        with pytest.raises(ConfigError):
            make_loss_network("vgg16-t7")

    def test_pyramid_blocks(self) -> None:
        net = make_loss_network("random-multiscale", seed=1)
        assert isinstance(net, RandomPyramidNet) and net.loss_kind == "relative"
        assert net.content_layers == ("s2_k3", "s2_k5", "s2_k7", "s4_k3", "s4_k5", "s4_k7")
        assert len(net.style_layers) == 9
        feats = net(torch.randn(1, 3, 16, 24) * 40)
        assert tuple(feats["s1_k7"].shape) == (1, 128, 16, 24)
        assert tuple(feats["s4_k3"].shape) == (1, 128, 4, 6)
        assert sum(f.shape[1] for f in feats.values()) == 1152
        assert all((f >= 0).all() for f in feats.values())

    def test_reproducible_from_seed(self) -> None:
        x = torch.randn(1, 3, 12, 12) * 40
        f1 = make_loss_network("random-multiscale", seed=5)(x)
        f2 = make_loss_network("random-multiscale", seed=5)(x)
        f3 = make_loss_network("random-multiscale", seed=6)(x)
        assert all(torch.equal(f1[k], f2[k]) for k in f1)
        assert not torch.equal(f1["s1_k3"], f3["s1_k3"])

    def test_input_normalisation(self) -> None:
        net = RandomPyramidNet(seed=0, filters=2, kernel_sizes=(1,), scales=(1,))
        rgb = torch.rand(1, 3, 3, 4)
        z = (rgb - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / 0.25
        expected = F.relu(F.conv2d(z, net.w1))
        torch.testing.assert_close(net(preprocess(rgb, "vgg"))["s1_k1"], expected, atol=1e-5, rtol=1e-5)

    def test_literal_variant(self) -> None:
        net = make_loss_network("random-multiscale-literal", seed=0)
        assert isinstance(net, RandomMultiKernelNet)
        assert net.style_layers == ("k3", "k5", "k7", "k11", "k15", "k23")
        assert net.content_layers == ("k11", "k15", "k23")
        feats = net(torch.randn(1, 3, 8, 10))  # smaller than k23: falls back to replicate padding
        assert all(tuple(f.shape) == (1, 128, 8, 10) for f in feats.values())

    def test_names_listed(self) -> None:
        assert set(LOSS_NETWORK_NAMES) == {"vgg16", "vgg16-t7", "random-multiscale", "random-multiscale-literal"}
