from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from fav_core.errors import ConfigError, ShapeError
from fav_core.flow import PROVIDERS, DeepFlow, DISFlow, FlowProvider, RAFTFlow, make_provider
from fav_core.flow.providers import to_grey_u8

HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None


def _texture(h: int = 64, w: int = 80, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.5)
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    return np.stack([noise, noise[::-1], noise[:, ::-1]], axis=-1).astype(np.float32)


def _interior_epe(flow: np.ndarray, dx: float, dy: float, margin: int = 8) -> float:
    err = flow[margin:-margin, margin:-margin] - np.array([dx, dy], np.float32)
    return float(np.sqrt((err**2).sum(axis=-1)).mean())


@pytest.mark.parametrize("provider", [DISFlow("medium"), DISFlow("fast"), DeepFlow()], ids=lambda p: p.name)
@pytest.mark.parametrize(("dx", "dy"), [(2, -1), (-3, 2)])
def test_recovers_integer_shift(provider: FlowProvider, dx: int, dy: int) -> None:
    src = _texture()
    # src pixel (x, y) appears at (x + dx, y + dy) in dst -> flow src->dst is (dx, dy) everywhere (interior)
    dst = np.roll(src, (dy, dx), axis=(0, 1))
    flow = provider.compute(src, dst)
    assert flow.shape == (64, 80, 2) and flow.dtype == np.float32
    assert _interior_epe(flow, dx, dy) < 0.25


def test_direction_is_src_to_dst() -> None:
    src = _texture()
    dst = np.roll(src, (0, 2), axis=(0, 1))
    fwd = DISFlow().compute(src, dst)
    bwd = DISFlow().compute(dst, src)
    assert np.median(fwd[..., 0]) == pytest.approx(2.0, abs=0.1)
    assert np.median(bwd[..., 0]) == pytest.approx(-2.0, abs=0.1)


def test_protocol_and_names() -> None:
    assert isinstance(DISFlow(), FlowProvider)
    assert isinstance(DeepFlow(), FlowProvider)
    assert DISFlow("ultrafast").name == "dis-ultrafast"
    assert PROVIDERS == ("dis", "deepflow", "raft")


def test_exception() -> None:
    with pytest.raises(ConfigError, match="preset"):
        DISFlow("slow")
    with pytest.raises(ShapeError, match="src_rgb"):
        DISFlow().compute(np.zeros((8, 8), np.float32), np.zeros((8, 8), np.float32))
    with pytest.raises(ShapeError, match="dst_rgb"):
        DISFlow().compute(np.zeros((8, 8, 3), np.float32), np.zeros((8, 9, 3), np.float32))


def test_grey_conversion() -> None:
    rgb = np.array([[[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [2.0, -1.0, 0.5]]], np.float32)
    grey = to_grey_u8(rgb)
    assert grey.dtype == np.uint8 and grey.shape == (1, 3)
    assert grey[0, :2].tolist() == [255, 0]


class TestMakeProvider:
    def test_smoke(self) -> None:
        assert make_provider("dis").name == "dis-medium"
        assert make_provider("dis", preset="ultrafast").name == "dis-ultrafast"
        assert make_provider("deepflow").name == "deepflow"

    def test_exception(self) -> None:
        with pytest.raises(ConfigError, match="unknown flow provider 'flownet'"):
            make_provider("flownet")
        with pytest.raises(ConfigError, match="'dis'"):
            make_provider("dis", iters=3)


@pytest.mark.skipif(HAS_TORCHVISION, reason="torchvision is installed")
def test_raft_without_torchvision(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="torchvision"):
        RAFTFlow(tmp_path / "raft.safetensors")
    with pytest.raises(ConfigError, match="torchvision"):
        make_provider("raft", weights_path=tmp_path / "raft.safetensors", iters=4)


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_raft_torch_weights_are_read_without_unpickling(
    tmp_path: Path, zip_format: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from fav_core.flow.providers import _load_state_dict

    state = {"fnet.convnormrelu.0.weight": torch.randn(8, 3, 7, 7), "update_block.mask.0.bias": torch.arange(4.0)}
    path = tmp_path / "raft.pth"
    torch.save(state, path, _use_new_zipfile_serialization=zip_format)
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load was called"))
    got = _load_state_dict(path)
    assert got.keys() == state.keys() and all(torch.equal(got[k], state[k]) for k in state)


def test_raft_malicious_torch_zip_is_refused_before_torchvision(tmp_path: Path) -> None:
    import os
    import pickle
    import zipfile

    from fav_core.errors import ModelLoadError

    marker = tmp_path / "marker"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "raft.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"w": Payload()}, 2))
        z.writestr("archive/version", "3\n")
    with pytest.raises(ModelLoadError, match=r"refusing to call posix\.system .*weights_only=True") as info:
        RAFTFlow(path)
    assert str(path) in str(info.value) and not marker.exists()
    with pytest.raises(ModelLoadError, match=r"must be one of \.safetensors, \.pth, \.pt"):
        RAFTFlow(tmp_path / "raft.bin")


@pytest.mark.skipif(not HAS_TORCHVISION, reason="torchvision not installed")
def test_raft_small_from_torch_file_matches_safetensors(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file
    from torchvision.models.optical_flow import raft_small

    state = raft_small(weights=None, progress=False).state_dict()
    torch.save(state, tmp_path / "raft_small.pth")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "raft_small.safetensors"))
    src = _texture(32, 40)
    dst = np.roll(src, (1, 2), axis=(0, 1))
    a = RAFTFlow(tmp_path / "raft_small.pth", small=True, iters=2, device="cpu").compute(src, dst)
    b = RAFTFlow(tmp_path / "raft_small.safetensors", small=True, iters=2, device="cpu").compute(src, dst)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("weights", [None, ""])
def test_raft_without_a_weights_path_is_a_config_error(weights: str | None) -> None:
    """``make_provider("raft", weights_path=None)`` (a host's unset preference) was a TypeError from Path(None)."""
    with pytest.raises(ConfigError, match="needs a local weights file"):
        make_provider("raft", weights_path=weights)
