"""Untrusted model files: pickles never run, headers are bounded, metadata is validated before a net is built."""
from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile
from pathlib import Path

import pytest
import torch

import fav_core.modelfile as modelfile
from fav_core.errors import FavError, ModelLoadError
from fav_core.modelfile import MAX_HEADER_BYTES, load_model, read_meta

from .conftest import ARCH


class Boom:
    """Unpickling this creates the file ``marker`` (what an attacker's payload would do, harmlessly)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def malicious_pickle(marker: Path, protocol: int) -> bytes:
    return pickle.dumps({"state_dict": Boom(marker)}, protocol=protocol)


def malicious_torch_zip(marker: Path) -> bytes:
    """A ``torch.save``-style zip archive whose data.pkl would create ``marker`` when unpickled."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", malicious_pickle(marker, 2))
        z.writestr("archive/version", "3\n")
    return buf.getvalue()


def assert_safe_refusal(path: Path, marker: Path) -> str:
    with pytest.raises(ModelLoadError) as info:
        load_model(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert not marker.exists(), "the pickle was executed"
    return message


@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("suffix", [".pth", ".safetensors", ".pt", ".ckpt"])
def test_pickled_checkpoint_is_never_unpickled(tmp_path: Path, suffix: str, protocol: int) -> None:
    marker = tmp_path / "marker.txt"
    model = tmp_path / f"candy{suffix}"
    model.write_bytes(malicious_pickle(marker, protocol))
    message = assert_safe_refusal(model, marker)
    # the message explains the safe route: trusted load with weights_only, then save_model to .safetensors
    assert "weights_only=True" in message and "save_model" in message and ".safetensors" in message


def test_the_payload_is_real(tmp_path: Path) -> None:
    """Control: unpickling the planted bytes does create the marker (so the tests above can fail)."""
    marker = tmp_path / "marker.txt"
    pickle.loads(malicious_pickle(marker, 4))  # noqa: S301 - deliberate, on our own harmless payload
    assert marker.read_text() == "pwned"


def test_torch_zip_checkpoint_renamed_safetensors(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    model = tmp_path / "zip.safetensors"
    model.write_bytes(malicious_torch_zip(marker))
    message = assert_safe_refusal(model, marker)
    assert "weights_only=True" in message


@pytest.mark.parametrize("protocol", [0, 1])
def test_old_protocol_pickle_renamed_safetensors(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "marker.txt"
    model = tmp_path / "old.safetensors"
    model.write_bytes(malicious_pickle(marker, protocol))
    assert_safe_refusal(model, marker)


def test_real_torch_save_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "net.safetensors"
    torch.save({"w": torch.zeros(2)}, model)
    marker = tmp_path / "never"
    assert "weights_only=True" in assert_safe_refusal(model, marker)


def header_file(path: Path, header: bytes, claimed: int | None = None, data: bytes = b"") -> Path:
    n = len(header) if claimed is None else claimed
    path.write_bytes(struct.pack("<Q", n) + header + data)
    return path


def test_header_size_limit_is_checked_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = header_file(tmp_path / "big.safetensors", b"{}", claimed=MAX_HEADER_BYTES + 1)
    with pytest.raises(ModelLoadError, match="limit"):
        read_meta(path)
    path = header_file(tmp_path / "huge.safetensors", b"{}", claimed=(1 << 63) + 5)
    with pytest.raises(ModelLoadError, match="limit"):
        read_meta(path)


@pytest.mark.parametrize(
    ("header", "needle"),
    [
        (b"[1, 2]", "not a JSON object"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}', "truncated"),
        (b'{"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}', "malformed"),
        (b'{"w": {"dtype": "Q99", "shape": [2], "data_offsets": [0, 8]}}', "malformed"),
        (b'{"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}', "does not match its shape"),
        (b"{}", "no 'fav_model' metadata"),
        (b'{"__metadata__": {"fav_model": "{\\"kind\\": 3}"}}', "invalid metadata"),
        (b'{"__metadata__": {"fav_model": "[]"}}', "invalid metadata"),
        (b'{"__metadata__": {"fav_model": "NaN"}}', "invalid metadata"),
    ],
)
def test_malformed_headers(tmp_path: Path, header: bytes, needle: str) -> None:
    path = header_file(tmp_path / "m.safetensors", header)
    with pytest.raises(ModelLoadError, match=needle) as info:
        read_meta(path)
    assert str(path) in str(info.value)


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "t.safetensors"
    path.write_bytes(b"\x10\x00\x00")
    with pytest.raises(ModelLoadError, match="truncated"):
        read_meta(path)


def test_metadata_is_validated_before_the_net_is_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meta = {"kind": "video", "arch": ARCH, "in_channels": 7, "style_name": "t", "tanh_constant": 1e400}
    header = json.dumps({"__metadata__": {"fav_model": json.dumps(meta).replace("Infinity", "1e400")}}).encode()
    path = header_file(tmp_path / "inf.safetensors", header)
    built: list[object] = []
    monkeypatch.setattr(modelfile, "build_net", lambda m: built.append(m))
    with pytest.raises(ModelLoadError, match="tanh_constant"):
        load_model(path)
    assert built == []


def test_a_folder_named_like_a_model(tmp_path: Path) -> None:
    folder = tmp_path / "dir.safetensors"
    folder.mkdir()
    with pytest.raises(FavError):
        load_model(folder)


def test_unreadable_model_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    path = tmp_path / "locked.safetensors"
    path.write_bytes(b"\0" * 16)
    path.chmod(0)
    with pytest.raises(ModelLoadError):
        load_model(path)


@pytest.mark.parametrize("suffix", [".pth", ".pt", ".bin"])
def test_raft_weights_are_never_unpickled(tmp_path: Path, suffix: str) -> None:
    from fav_core.flow import RAFTFlow

    marker = tmp_path / "marker.txt"
    weights = tmp_path / f"raft{suffix}"
    weights.write_bytes(malicious_pickle(marker, 4))
    with pytest.raises(ModelLoadError) as info:
        RAFTFlow(weights)
    assert str(weights) in str(info.value) and "weights_only=True" in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 1])
def test_old_protocol_pickle_gets_the_conversion_hint(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "marker.txt"
    model = tmp_path / "old.safetensors"
    model.write_bytes(malicious_pickle(marker, protocol))
    assert "weights_only=True" in assert_safe_refusal(model, marker)


def test_nested_json_header(tmp_path: Path) -> None:
    path = header_file(tmp_path / "deep.safetensors", b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        read_meta(path)
    meta = json.dumps({"kind": "video"})[:-1] + ', "trained_with": ' + "[" * 50_000 + "]" * 50_000 + "}"
    path = header_file(tmp_path / "deep2.safetensors", json.dumps({"__metadata__": {"fav_model": meta}}).encode())
    with pytest.raises(ModelLoadError):
        read_meta(path)


def test_absurd_arch_is_refused_before_allocating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Metadata claiming a 10^9-channel layer next to tiny weights: shapes are compared on the meta device."""
    from safetensors.torch import save_file

    from fav_core.nets import build_transformer

    torch.manual_seed(0)
    small = build_transformer(ARCH, 7)
    huge_arch = "c3s1-1000000000,d8,R8,u8,c3s1-3"
    meta = {"kind": "video", "arch": huge_arch, "in_channels": 7, "style_name": "t"}
    path = tmp_path / "huge.safetensors"
    save_file({k: v.contiguous() for k, v in small.state_dict().items()}, str(path),
              metadata={"fav_model": json.dumps(meta)})
    devices: list[str] = []
    real = modelfile.build_net
    monkeypatch.setattr(modelfile, "build_net", lambda m: devices.append(torch.empty(0).device.type) or real(m))
    with pytest.raises(ModelLoadError, match="weights do not match the architecture"):
        load_model(path)
    assert devices == ["meta"]
