"""Safe model files: save/load round trip, refusal of pickles and malformed files, metadata, name lookup."""
from __future__ import annotations

import json
import logging
import os
import pickle
import struct
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from fav_core.errors import ConfigError, ModelLoadError, OutputError
from fav_core.modelfile import (
    FORMAT_VERSION,
    META_KEY,
    ModelMeta,
    StyleModel,
    list_models,
    load_model,
    read_meta,
    resolve_model,
    save_model,
)
from fav_core.nets import TransformerNet, build_transformer

ARCH = "c3s1-8,d8,R8,U2,c3s1-3"  # small, but every layer kind of the paper net


class Evil:
    """Unpickling this creates a file: the attack a pickle-based loader would fall for."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.target,))


def make_meta(**overrides: object) -> ModelMeta:
    fields: dict = {"kind": "video", "arch": ARCH, "in_channels": 7, "style_name": "candy"}
    fields.update(overrides)
    return ModelMeta(**fields)


def make_net(arch: str = ARCH, in_channels: int = 7, seed: int = 0) -> TransformerNet:
    torch.manual_seed(seed)
    return build_transformer(arch, in_channels).eval()


@pytest.fixture
def no_user_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the real user folder out of name lookups."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("FAV_MODEL_PATH", raising=False)


def write_raw(path: Path, tensors: dict[str, torch.Tensor], meta: dict | str | None) -> Path:
    metadata = None if meta is None else {META_KEY: meta if isinstance(meta, str) else json.dumps(meta)}
    save_file(tensors, str(path), metadata=metadata)
    return path


class TestRoundTrip:
    def test_fp16_round_trip(self, tmp_path: Path) -> None:
        net, meta = make_net(), make_meta(trained_with={"iterations": 10, "loss_network": "vgg16"})
        path = save_model(tmp_path / "m.safetensors", net, meta)
        model = load_model(path)
        assert isinstance(model, StyleModel)
        assert model.meta == meta and model.path == path
        assert not model.net.training
        assert all(p.dtype == torch.float32 and not p.requires_grad for p in model.net.parameters())
        rounded = make_net()
        rounded.load_state_dict({k: v.half().float() for k, v in net.state_dict().items()})
        x = torch.randn(1, 7, 12, 10) * 50
        with torch.no_grad():
            torch.testing.assert_close(model.net(x), rounded(x), rtol=0, atol=1e-4)
            torch.testing.assert_close(model.net(x), net(x), rtol=0, atol=1.0)  # fp16 weights, ±150 scale

    def test_fp32_is_exact(self, tmp_path: Path) -> None:
        net = make_net()
        model = load_model(save_model(tmp_path / "m.safetensors", net, make_meta(), dtype=torch.float32))
        for key, value in net.state_dict().items():
            assert torch.equal(model.net.state_dict()[key], value)

    def test_header_layout(self, tmp_path: Path) -> None:
        meta = make_meta(style_image="candy.jpg", description="test")
        path = save_model(tmp_path / "m.safetensors", make_net(), meta)
        with safe_open(str(path), "pt") as f:
            stored = json.loads(f.metadata()[META_KEY])
            assert f.get_tensor("body.conv1.weight").dtype == torch.float16
        assert stored == meta.to_dict()
        assert stored["format_version"] == FORMAT_VERSION
        assert read_meta(path) == meta
        assert not list(tmp_path.glob(".*tmp*"))  # atomic write leaves no temporary file

    def test_model_files_get_the_umask_mode(self, tmp_path: Path) -> None:
        old = os.umask(0o022)  # safetensors' save_file makes 0600 files, unreadable by other farm users
        try:
            path = save_model(tmp_path / "m.safetensors", make_net(), make_meta())
        finally:
            os.umask(old)
        assert path.stat().st_mode & 0o777 == 0o644

    def test_image_model_and_batch_norm(self, tmp_path: Path) -> None:
        torch.manual_seed(0)
        net = build_transformer(ARCH, 3, norm="batch", padding="zero", tanh_constant=100.0)
        net.body.norm1.running_mean.fill_(0.5)
        meta = make_meta(kind="image", in_channels=3, norm="batch", padding="zero", tanh_constant=100)
        model = load_model(save_model(tmp_path / "img.safetensors", net, meta, dtype=torch.float32))
        assert model.net.norm == "batch" and model.net.tanh_constant == 100.0
        assert torch.equal(model.net.body.norm1.running_mean, net.body.norm1.running_mean)

    def test_save_exceptions(self, tmp_path: Path) -> None:
        net = make_net()
        with pytest.raises(ConfigError, match="network and metadata disagree on arch"):
            save_model(tmp_path / "m.safetensors", net, make_meta(arch="c3s1-8,c3s1-3"))
        with pytest.raises(OutputError, match=r"m\.pth: model files must end in \.safetensors"):
            save_model(tmp_path / "m.pth", net, make_meta())
        with torch.no_grad():
            net.body.conv1.weight[0, 0, 0, 0] = 1e6
        with pytest.raises(ConfigError, match="'body.conv1.weight' is not finite in torch.float16"):
            save_model(tmp_path / "m.safetensors", net, make_meta())
        save_model(tmp_path / "m.safetensors", net, make_meta(), dtype=torch.float32)  # fits in fp32
        blocked = tmp_path / "file"
        blocked.write_text("x")
        with pytest.raises(OutputError, match="cannot write model file"):
            save_model(blocked / "m.safetensors", make_net(), make_meta())


class TestRefusesUnsafeFiles:
    def test_planted_pickle_is_not_executed(self, tmp_path: Path) -> None:
        # the payload is real: unpickling it does create a file
        proof = tmp_path / "proof"
        pickle.loads(pickle.dumps(Evil(proof)))
        assert proof.exists()

        target = tmp_path / "pwned"
        payload = pickle.dumps({"model": Evil(target)})
        for name in ("evil.pth", "evil.safetensors", "evil"):
            (tmp_path / name).write_bytes(payload)
            with pytest.raises(ModelLoadError, match="weights_only=True"):
                load_model(tmp_path / name)
        torch.save({"model": Evil(target)}, tmp_path / "evil_zip.safetensors")  # torch zip checkpoint
        with pytest.raises(ModelLoadError, match="weights_only=True"):
            load_model(tmp_path / "evil_zip.safetensors")
        assert not target.exists()

    @pytest.mark.parametrize("suffix", [".pt", ".pth", ".t7", ".ckpt"])
    def test_unsafe_suffix(self, tmp_path: Path, suffix: str) -> None:
        path = save_model(tmp_path / "m.safetensors", make_net(), make_meta())
        renamed = path.rename(tmp_path / f"m{suffix}")  # even real safetensors content is refused by suffix
        with pytest.raises(ModelLoadError) as info:
            load_model(renamed)
        assert "fav import-t7" in str(info.value) and str(renamed) in str(info.value)

    def test_truncated(self, tmp_path: Path) -> None:
        path = save_model(tmp_path / "m.safetensors", make_net(), make_meta())
        data = path.read_bytes()
        path.write_bytes(data[:-100])
        with pytest.raises(ModelLoadError, match="file is truncated"):
            load_model(path)
        path.write_bytes(data[:500])  # inside the header
        with pytest.raises(ModelLoadError, match=r"file is truncated \(header needs"):
            load_model(path)
        path.write_bytes(data[:5])
        with pytest.raises(ModelLoadError, match="file is truncated"):
            load_model(path)

    def test_trailing_garbage(self, tmp_path: Path) -> None:
        path = save_model(tmp_path / "m.safetensors", make_net(), make_meta())
        path.write_bytes(path.read_bytes() + b"\0" * 16)
        with pytest.raises(ModelLoadError, match="longer than its tensors"):
            load_model(path)

    def test_huge_header_length(self, tmp_path: Path) -> None:
        path = tmp_path / "huge.safetensors"
        path.write_bytes(struct.pack("<Q", 2**40) + b'{"a": 1}')
        with pytest.raises(ModelLoadError, match=r"header claims 1099511627776 bytes \(limit 16777216\)"):
            load_model(path)

    def test_header_not_json(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.safetensors"
        path.write_bytes(struct.pack("<Q", 4) + b"{abc")
        with pytest.raises(ModelLoadError, match="header is not valid JSON"):
            load_model(path)

    def test_bad_offsets(self, tmp_path: Path) -> None:
        header = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 12]}}
        raw = json.dumps(header).encode()
        path = tmp_path / "bad.safetensors"
        path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 12)
        with pytest.raises(ModelLoadError, match="tensor 'a': byte range does not match"):
            load_model(path)


class TestMetadataInFile:
    def test_weights_of_another_arch(self, tmp_path: Path) -> None:
        other = make_net("c3s1-8,d8,R8,R8,U2,c3s1-3")
        path = write_raw(tmp_path / "m.safetensors", other.state_dict(), make_meta().to_dict())
        with pytest.raises(ModelLoadError, match=r"m\.safetensors: weights do not match the architecture: missing tensor 'body.conv5.bias'"):
            load_model(path)
        extra = {**make_net().state_dict(), "body.zz.weight": torch.zeros(2)}
        path = write_raw(tmp_path / "m1.safetensors", extra, make_meta().to_dict())
        with pytest.raises(ModelLoadError, match="unexpected tensor 'body.zz.weight'"):
            load_model(path)
        smaller = make_net("c3s1-8,d8,U2,c3s1-3")  # no residual block
        path = write_raw(tmp_path / "m2.safetensors", smaller.state_dict(), make_meta().to_dict())
        with pytest.raises(ModelLoadError, match="unexpected tensor 'body.conv4.bias'"):
            load_model(path)

    def test_shape_mismatch(self, tmp_path: Path) -> None:
        image_weights = make_net(in_channels=3).state_dict()  # 3-channel conv1 under video metadata
        path = write_raw(tmp_path / "m.safetensors", image_weights, make_meta().to_dict())
        with pytest.raises(ModelLoadError, match=r"tensor 'body.conv1.weight' has shape \(8, 3, 3, 3\), expected \(8, 7, 3, 3\)"):
            load_model(path)

    def test_no_metadata(self, tmp_path: Path) -> None:
        path = write_raw(tmp_path / "m.safetensors", make_net().state_dict(), None)
        with pytest.raises(ModelLoadError, match="no 'fav_model' metadata"):
            load_model(path)

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"kind": "movie"}, "'kind': expected one of image, video, got 'movie'"),
            ({"in_channels": 3}, "'in_channels': a video model has 7 input channels, got 3"),
            ({"arch": "c3s1-8,x3"}, r"arch token 'x3' \(#2\)"),
            ({"arch": "c3s1-8,R16,c3s1-3"}, "invalid architecture in metadata: .*R16"),
            ({"color": "red"}, "unknown field\\(s\\): color"),
            ({"format_version": 99}, "newer than this fav supports"),
        ],
    )
    def test_invalid_metadata(self, tmp_path: Path, change: dict, message: str) -> None:
        meta = make_meta().to_dict()
        meta.update(change)
        path = write_raw(tmp_path / "m.safetensors", make_net().state_dict(), meta)
        with pytest.raises(ModelLoadError, match=message):
            load_model(path)

    def test_metadata_not_json(self, tmp_path: Path) -> None:
        path = write_raw(tmp_path / "m.safetensors", make_net().state_dict(), "{not json")
        with pytest.raises(ModelLoadError, match="invalid metadata"):
            load_model(path)

    def test_missing_field(self, tmp_path: Path) -> None:
        meta = make_meta().to_dict()
        del meta["style_name"]
        path = write_raw(tmp_path / "m.safetensors", make_net().state_dict(), meta)
        with pytest.raises(ModelLoadError, match="lacks required field\\(s\\): style_name"):
            load_model(path)


class TestModelMeta:
    def test_defaults(self) -> None:
        meta = make_meta()
        assert (meta.padding, meta.norm, meta.tanh_constant, meta.preprocessing, meta.fill) == (
            "reflect-start", "instance", 150.0, "vgg", "vgg-mean")
        assert meta.format_version == FORMAT_VERSION
        assert ModelMeta.from_dict(meta.to_dict()) == meta

    def test_trained_with_is_copied(self) -> None:
        record = {"iterations": 5}
        meta = make_meta(trained_with=record)
        record["iterations"] = 6
        assert meta.trained_with == {"iterations": 5}

    def test_tanh_constant_int_becomes_float(self) -> None:
        assert isinstance(make_meta(tanh_constant=150).tanh_constant, float)

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"kind": "movie"}, "'kind': expected one of image, video"),
            ({"kind": "image"}, "'in_channels': a image model has 3 input channels, got 7"),
            ({"in_channels": True}, "'in_channels': expected an integer"),
            ({"padding": "mirror"}, "'padding': expected one of"),
            ({"norm": "group"}, "'norm': expected one of instance, batch"),
            ({"preprocessing": "caffe"}, "'preprocessing': expected one of vgg, resnet"),
            ({"fill": "noise"}, "'fill': expected one of vgg-mean, uniform-random"),
            ({"tanh_constant": -1.0}, "'tanh_constant': expected a finite number > 0"),
            ({"tanh_constant": float("nan")}, "'tanh_constant'"),
            ({"tanh_constant": "150"}, "'tanh_constant'"),
            ({"style_name": "  "}, "'style_name': expected a non-empty string"),
            ({"style_image": 3}, "'style_image': expected a string or null"),
            ({"description": None}, "'description': expected a string"),
            ({"trained_with": [1]}, "'trained_with': expected a JSON object"),
            ({"trained_with": {"x": object()}}, "'trained_with': must be JSON-serialisable"),
            ({"format_version": 0}, "'format_version': expected a positive integer"),
            ({"arch": 5}, "'arch': expected a string"),
            ({"arch": "c3s1-8,,c3s1-3"}, r"arch token '' \(#2\)"),
        ],
    )
    def test_exception(self, change: dict, message: str) -> None:
        with pytest.raises(ConfigError, match=message):
            make_meta(**change)

    def test_from_dict_exception(self) -> None:
        with pytest.raises(ConfigError, match="must be a JSON object"):
            ModelMeta.from_dict([1, 2])


@pytest.mark.usefixtures("no_user_models")
class TestNameResolution:
    def test_fav_model_path_order(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        first, second = tmp_path / "a", tmp_path / "b"
        a = save_model(first / "shared.safetensors", make_net(), make_meta(style_name="from-a"))
        save_model(second / "shared.safetensors", make_net(), make_meta(style_name="from-b"))
        only_b = save_model(second / "only-b.safetensors", make_net(), make_meta(style_name="b"))
        monkeypatch.setenv("FAV_MODEL_PATH", os.pathsep.join([str(first), str(second)]))
        assert resolve_model("shared") == a
        assert load_model("shared").meta.style_name == "from-a"
        assert resolve_model("only-b") == only_b
        infos = [i for i in list_models() if i.path.parent in (first, second)]
        assert [(i.name, i.meta.style_name) for i in infos] == [("shared", "from-a"), ("only-b", "b")]

    def test_user_folder(self, tmp_path: Path) -> None:
        path = save_model(tmp_path / "xdg" / "fav" / "models" / "mine.safetensors", make_net(), make_meta())
        assert resolve_model("mine") == path

    def test_unknown_name_lists_available(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        save_model(tmp_path / "d" / "candy-video.safetensors", make_net(), make_meta())
        monkeypatch.setenv("FAV_MODEL_PATH", str(tmp_path / "d"))
        with pytest.raises(ModelLoadError, match=r"^nope: unknown model name \(available: .*candy-video"):
            load_model("nope")

    def test_missing_path(self, tmp_path: Path) -> None:
        with pytest.raises(ModelLoadError, match="no such model file"):
            load_model(tmp_path / "absent.safetensors")
        with pytest.raises(ModelLoadError, match="no such model file"):
            load_model("sub/absent")

    def test_broken_file_is_skipped_in_listing(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        d = tmp_path / "d"
        d.mkdir()
        (d / "broken.safetensors").write_bytes(b"\0" * 4)
        save_model(d / "good.safetensors", make_net(), make_meta())
        monkeypatch.setenv("FAV_MODEL_PATH", str(d))
        with caplog.at_level(logging.WARNING, logger="fav_core.modelfile"):
            names = [i.name for i in list_models() if i.path.parent == d]
        assert names == ["good"]
        assert "broken.safetensors" in caplog.text
