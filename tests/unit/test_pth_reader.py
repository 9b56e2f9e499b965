"""The pure torch-checkpoint reader: same tensors as torch.load, and hostile or damaged files refused unexecuted."""
from __future__ import annotations

import builtins
import collections
import io
import os
import pickle
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch

from fav_core.errors import ModelLoadError
from fav_core.lossnet import vgg as vgg_module
from fav_core.pth_reader import read_pth

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _mixed_state() -> dict[str, torch.Tensor]:
    """Every dtype a state dict holds, a transposed and a sliced view of one storage, an empty tensor."""
    g = torch.Generator().manual_seed(0)
    base = torch.randn(4, 6, generator=g, dtype=torch.float64)
    return {
        "f32": torch.randn(3, 4, generator=g),
        "f16": torch.randn(5, generator=g).half(),
        "bf16": torch.randn(2, 3, generator=g).bfloat16(),
        "f64": base,
        "f64_t": base.t(),  # shares base's storage, non-contiguous
        "f64_slice": base[1:, ::2],  # storage offset and stride
        "i64": torch.arange(-3, 4),
        "u8": torch.arange(7, dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "empty": torch.zeros(0, 3),
        "scalar": torch.tensor(2.5),
    }


def _assert_same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert list(got) == list(want)
    for key, value in want.items():
        assert got[key].dtype == value.dtype, key
        assert got[key].shape == value.shape and got[key].stride() == value.stride(), key
        assert got[key].storage_offset() == value.storage_offset(), key
        assert torch.equal(got[key], value), key


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize("container", [dict, collections.OrderedDict])
def test_same_tensors_as_torch_load(tmp_path: Path, zip_format: bool, container: type) -> None:
    path = tmp_path / "state.pth"
    torch.save(container(_mixed_state()), path, _use_new_zipfile_serialization=zip_format)
    got = read_pth(path)
    _assert_same(got, torch.load(path, weights_only=True))
    # keys that share a storage in the file share memory here, as they do after torch.load
    assert got["f64_t"].untyped_storage().data_ptr() == got["f64"].untyped_storage().data_ptr()
    assert not any(t.requires_grad for t in got.values())


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_module_state_dict_with_metadata_and_parameters(tmp_path: Path, zip_format: bool) -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    path = tmp_path / "net.pt"
    torch.save(net.state_dict(), path, _use_new_zipfile_serialization=zip_format)  # OrderedDict + _metadata
    _assert_same(read_pth(path), torch.load(path, weights_only=True))
    torch.save({"w": torch.nn.Parameter(torch.arange(4.0))}, path)  # _rebuild_parameter
    assert torch.equal(read_pth(path)["w"], torch.arange(4.0))


def test_big_endian_zip(tmp_path: Path) -> None:
    path = tmp_path / "be.pth"
    state = {"f32": torch.arange(6.0).reshape(2, 3), "i64": torch.tensor([1, -2, 3 << 40]), "b": torch.ones(2).bool()}
    torch.save(state, path)
    src = zipfile.ZipFile(path)
    itemsize = {"archive/data/0": 4, "archive/data/1": 8}  # f32, i64; bools are single bytes
    swapped = {}
    for name in src.namelist():
        data = b"big" if name == "archive/byteorder" else src.read(name)
        size = itemsize.get(name, 1)
        swapped[name] = b"".join(data[i : i + size][::-1] for i in range(0, len(data), size))
    _write_zip(path, swapped)
    _assert_same(read_pth(path), state)


def _write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return path


def _entries(state: dict[str, torch.Tensor]) -> dict[str, bytes]:
    buf = io.BytesIO()
    torch.save(state, buf)
    z = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    return {name: z.read(name) for name in z.namelist()}


class _Storage:
    """Stands for a storage in hand-made pickles (persistent id, like torch.save's)."""

    def __init__(self, key: str, numel: int) -> None:
        self.key, self.numel = key, numel


def _hand_pickle(obj: Any, legacy: bool) -> bytes:
    class Pickler(pickle.Pickler):
        def persistent_id(self, o: Any) -> Any:
            if not isinstance(o, _Storage):
                return None
            pid = ("storage", torch.FloatStorage, o.key, "cpu", o.numel)
            return (*pid, None) if legacy else pid

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


class _Tensor:
    """Pickles as torch._utils._rebuild_tensor(storage, offset, size, stride), as torch 0.1-0.3 wrote tensors."""

    def __init__(self, storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]) -> None:
        self.args = (storage, offset, size, stride)

    def __reduce__(self) -> tuple[Any, ...]:
        return (torch._utils._rebuild_tensor, self.args)


def _legacy_file(path: Path, obj: Any, storages: dict[str, bytes], numels: dict[str, int] | None = None) -> Path:
    """The legacy (torch 0.1.10 - 1.5) layout: magic, protocol, sys_info, object, keys, (int64 numel, bytes)*."""
    parts = [pickle.dumps(_LEGACY_MAGIC, 2), pickle.dumps(1001, 2),
             pickle.dumps({"protocol_version": 1001, "little_endian": True, "type_sizes": {"long": 8}}, 2),
             _hand_pickle(obj, legacy=True), pickle.dumps(sorted(storages), 2)]
    for key in sorted(storages):
        numel = (numels or {}).get(key, len(storages[key]) // 4)
        parts += [numel.to_bytes(8, "little"), storages[key]]
    path.write_bytes(b"".join(parts))
    return path


def test_torch_01_legacy_rebuild_tensor(tmp_path: Path) -> None:
    """vgg16-397923af.pth (2017) is this layout, with 4-argument _rebuild_tensor records."""
    values = torch.arange(12.0)
    storage = _Storage("140", 12)
    obj = collections.OrderedDict(w=_Tensor(storage, 0, (3, 4), (4, 1)), b=_Tensor(storage, 2, (2,), (5,)))
    path = _legacy_file(tmp_path / "old.pth", obj, {"140": values.numpy().tobytes()})
    got = read_pth(path)
    assert torch.equal(got["w"], values.reshape(3, 4)) and torch.equal(got["b"], torch.tensor([2.0, 7.0]))
    assert torch.equal(torch.load(path, weights_only=True)["b"], got["b"])


def test_tensor_past_its_storage(tmp_path: Path) -> None:
    obj = {"w": _Tensor(_Storage("0", 4), 1, (2, 2), (2, 1))}  # last element is index 4 of a 4-element storage
    path = _legacy_file(tmp_path / "past.pth", obj, {"0": bytes(16)})
    with pytest.raises(ModelLoadError, match="past the end"):
        read_pth(path)


def test_wrong_numel(tmp_path: Path) -> None:
    entries = _entries({"a": torch.arange(6.0)})
    entries["archive/data/0"] = entries["archive/data/0"][:20]
    with pytest.raises(ModelLoadError, match="storage 0 has 20 bytes, expected 24"):
        read_pth(_write_zip(tmp_path / "short.pth", entries))
    obj = {"w": _Tensor(_Storage("0", 4), 0, (4,), (1,))}
    with pytest.raises(ModelLoadError, match="storage 0 has 3 elements, expected 4"):
        read_pth(_legacy_file(tmp_path / "legacy.pth", obj, {"0": bytes(16)}, numels={"0": 3}))
    path = _legacy_file(tmp_path / "cut.pth", obj, {"0": bytes(16)})
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(ModelLoadError, match="truncated"):
        read_pth(path)


def test_missing_storage_entry(tmp_path: Path) -> None:
    entries = _entries({"a": torch.arange(6.0), "b": torch.ones(2)})
    del entries["archive/data/1"]
    with pytest.raises(ModelLoadError, match="storage 1 is missing"):
        read_pth(_write_zip(tmp_path / "missing.pth", entries))


def test_truncated_and_foreign_files(tmp_path: Path) -> None:
    path = tmp_path / "cut.pth"
    torch.save({"a": torch.arange(100.0)}, path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ModelLoadError, match="cut.pth"):
        read_pth(path)
    with pytest.raises(ModelLoadError, match="not found"):
        read_pth(tmp_path / "nope.pth")
    (tmp_path / "text.pth").write_bytes(b"hello world")
    with pytest.raises(ModelLoadError, match="text.pth"):
        read_pth(tmp_path / "text.pth")
    with pytest.raises(ModelLoadError, match="no single <name>/data.pkl"):
        read_pth(_write_zip(tmp_path / "other.pth", {"readme.txt": b"hi"}))


def test_not_a_flat_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "nested.pth"
    torch.save({"state_dict": {"w": torch.ones(2)}, "epoch": 3}, path)
    with pytest.raises(ModelLoadError, match="'state_dict' holds a nested dict"):
        read_pth(path)
    torch.save([torch.ones(2)], path)
    with pytest.raises(ModelLoadError, match="holds list, not a state dict"):
        read_pth(path)
    torch.save({"w": torch.ones(2), "n": 3}, path)
    with pytest.raises(ModelLoadError, match="'n' holds int"):
        read_pth(path)


def test_hostile_structures_fail_cleanly(tmp_path: Path) -> None:
    """A 200k-deep tuple as a dict key would overflow the C stack when hashed; unbalanced marks; a bare int."""
    cases = {
        b"\x80\x02}K\x01" + b"\x85" * 200_000 + b"K\x02s.": "dict key that is not a str or int",
        b"\x80\x02" + b"(K\x01" * 1000 + b".": "holds int, not a state dict",
        b"\x80\x02}K\x01K\x02\x86K\x03s.": "dict key that is not a str or int",
        b"\x80\x02}": "exhausted before seeing STOP",
        b"\x80\x02s.": "malformed pickle",
    }
    for i, (data, message) in enumerate(cases.items()):
        with pytest.raises(ModelLoadError, match=message):
            read_pth(_write_zip(tmp_path / f"{i}.pth", {"archive/data.pkl": data}))


def test_old_formats_get_the_conversion_route(tmp_path: Path) -> None:
    import tarfile

    path = tmp_path / "old.pth"
    with tarfile.open(path, "w") as tar:
        tar.add(_write_zip(tmp_path / "inner.bin", {"a": b"x"}), arcname="sys_info")
    with pytest.raises(ModelLoadError, match=r"tar-format .*weights_only=True"):
        read_pth(path)
    (tmp_path / "plain.pth").write_bytes(pickle.dumps({"a": 1}, 2))
    with pytest.raises(ModelLoadError, match=r"not a torch.save checkpoint .*weights_only=True"):
        read_pth(tmp_path / "plain.pth")


class _Payload:
    """Unpickling this would run ``func(*args)``; every payload creates the marker file."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.func, self.args)


def _payloads(marker: Path) -> dict[str, _Payload]:
    return {
        "os.system": _Payload(os.system, f"touch {marker}"),
        "builtins.eval": _Payload(builtins.eval, f"open({str(marker)!r}, 'w').close()"),
        "subprocess.Popen": _Payload(subprocess.Popen, ["touch", str(marker)]),
    }


_PICKLED_NAMES = {
    "os.system": ("os.system", "posix.system"),
    "builtins.eval": ("builtins.eval", "__builtin__.eval"),
    "subprocess.Popen": ("subprocess.Popen", "commands.Popen"),
}


@pytest.mark.parametrize("target", ["os.system", "builtins.eval", "subprocess.Popen"])
@pytest.mark.parametrize("where", ["zip", "legacy", "raw pickle", "inside a tensor record"])
def test_malicious_pickles_are_refused_unexecuted(tmp_path: Path, target: str, where: str) -> None:
    marker = tmp_path / "marker"
    payload = _payloads(marker)[target]
    path = tmp_path / "evil.pth"
    if where == "zip":
        entries = _entries({"a": torch.ones(2)})
        entries["archive/data.pkl"] = pickle.dumps({"a": payload}, 2)
        _write_zip(path, entries)
    elif where == "legacy":
        _legacy_file(path, {"a": payload}, {})
    elif where == "raw pickle":
        path.write_bytes(pickle.dumps({"state_dict": payload}, 4))
    else:
        entries = _entries({"a": torch.ones(2)})
        entries["archive/data.pkl"] = _hand_pickle({"a": _Tensor(_Storage("0", 2), 0, payload, (1,))}, legacy=False)
        _write_zip(path, entries)
    with pytest.raises(ModelLoadError) as info:
        read_pth(path)
    message = str(info.value)
    # protocol-2 pickles name some globals the Python 2 way (posix.system, __builtin__.eval, commands.Popen)
    called = message.split("refusing to call ", 1)[1].split(" ", 1)[0]
    assert called.rsplit(".", 1)[1] == target.rsplit(".", 1)[1] and called in _PICKLED_NAMES[target]
    assert str(path) in message and "\n" not in message
    assert not marker.exists(), "the payload ran"


def test_unsupported_opcodes_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    entries = _entries({"a": torch.ones(2)})
    # protocol 0 INST calls its class while loading; NEWOBJ builds arbitrary objects
    entries["archive/data.pkl"] = b"(isubprocess\nPopen\n(S'touch'\nS'" + str(marker).encode() + b"'\nltp0\n."
    with pytest.raises(ModelLoadError, match="unsupported pickle opcode INST"):
        read_pth(_write_zip(tmp_path / "inst.pth", entries))
    entries["archive/data.pkl"] = pickle.dumps(collections.Counter(a=1), 2).replace(b"R", b"\x81", 1)
    with pytest.raises(ModelLoadError, match="NEWOBJ"):
        read_pth(_write_zip(tmp_path / "newobj.pth", entries))
    assert not marker.exists()


def test_vgg_loader_reads_torch_files_without_unpickling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake VGG-16 ``features`` state dict with torchvision's key names and shapes, through vgg.py."""
    g = torch.Generator().manual_seed(1)
    widths = [(64, 3), (64, 64), (128, 64), (128, 128)]
    state = {}
    for index, (out_ch, in_ch) in zip((0, 2, 5, 7), widths, strict=True):
        state[f"features.{index}.weight"] = torch.randn(out_ch, in_ch, 3, 3, generator=g)
        state[f"features.{index}.bias"] = torch.randn(out_ch, generator=g)
    state["classifier.6.bias"] = torch.zeros(1000)

    def no_unpickling(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("torch.load was called")

    for zip_format in (True, False):
        path = tmp_path / f"vgg16-{zip_format}.pth"
        torch.save(collections.OrderedDict(state), path, _use_new_zipfile_serialization=zip_format)
        monkeypatch.setattr(torch, "load", no_unpickling)
        net = vgg_module.vgg16_torchvision(path, content_layers=(9,), style_layers=(), allow_download=False)
        monkeypatch.undo()
        for index in (0, 2, 5, 7):
            assert torch.equal(net.features_net[index].weight, state[f"features.{index}.weight"])
            assert torch.equal(net.features_net[index].bias, state[f"features.{index}.bias"])


def test_vgg_download_is_read_by_the_pure_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The download goes to the hub cache (hash prefix passed on) and is then read like any cached file."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    calls: list[tuple[str, str, str]] = []

    def fake_download(url: str, dst: str, hash_prefix: str, progress: bool) -> None:
        calls.append((url, dst, hash_prefix))
        torch.save({"features.0.weight": torch.ones(64, 3, 3, 3), "features.0.bias": torch.ones(64)}, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    state, source = vgg_module.torchvision_state_dict(None, allow_download=True)
    cached = tmp_path / "hub" / "checkpoints" / "vgg16-397923af.pth"
    assert calls == [(vgg_module.TORCHVISION_VGG16_URL, str(cached), "397923af")]
    assert source == str(cached) and torch.equal(state["features.0.bias"], torch.ones(64))
