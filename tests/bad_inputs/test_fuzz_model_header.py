"""Fuzzing the model file header and its ``fav_model`` metadata JSON: a valid model or ModelLoadError/ConfigError."""
from __future__ import annotations

import json
import struct
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fav_core.errors import ConfigError, ModelLoadError
from fav_core.modelfile import ModelMeta, read_meta

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FIELDS = ["kind", "arch", "in_channels", "style_name", "padding", "norm", "tanh_constant", "preprocessing", "fill",
          "style_image", "trained_with", "description", "format_version"]
GOOD = {"kind": "video", "arch": "c3s1-8,d8,R8,u8,c3s1-3", "in_channels": 7, "style_name": "t"}

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["video", "image", "vgg", "resnet", "instance", "batch", "reflect-start",
                                           "vgg-mean", "uniform-random", "c3s1-8,d8,R8,u8,c3s1-3", "R8,,", "7"]),
)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=5), inner, max_size=3), max_leaves=8)


@FUZZ
@given(over=st.dictionaries(st.sampled_from([*FIELDS, "extra", ""]), JSON, max_size=5),
       drop=st.lists(st.sampled_from(list(GOOD)), max_size=2))
def test_metadata_dicts(over: dict, drop: list[str]) -> None:
    data = {k: v for k, v in {**GOOD, **over}.items() if k not in drop}
    try:
        meta = ModelMeta.from_dict(data)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    assert meta.in_channels == {"image": 3, "video": 7}[meta.kind]
    assert isinstance(meta.tanh_constant, float) and meta.tanh_constant > 0
    json.dumps(meta.to_dict(), allow_nan=False)  # what we accepted can be written back as strict JSON


def _check_file(path: Path) -> None:
    try:
        read_meta(path)
    except ModelLoadError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)


@FUZZ
@given(header=st.binary(max_size=120), claimed=st.one_of(st.none(), st.integers(0, 2**64 - 1)),
       tail=st.binary(max_size=32))
def test_raw_header_bytes(tmp_path: Path, header: bytes, claimed: int | None, tail: bytes) -> None:
    path = tmp_path / "m.safetensors"
    n = len(header) if claimed is None else claimed
    path.write_bytes(struct.pack("<Q", n) + header + tail)
    _check_file(path)


@FUZZ
@given(entries=st.dictionaries(st.text(max_size=6), JSON, max_size=4),
       meta=st.one_of(JSON, st.just(GOOD)), data=st.binary(max_size=64))
def test_json_headers(tmp_path: Path, entries: dict, meta: object, data: bytes) -> None:
    header = dict(entries)
    header["__metadata__"] = {"fav_model": json.dumps(meta)} if not isinstance(meta, str) else meta
    raw = json.dumps(header).encode()
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    _check_file(path)
