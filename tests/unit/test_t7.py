"""Pure Torch7 reader and checkpoint conversion.

The .t7 files are written by a minimal Torch7 serializer that lives here (test-only), following torch7's
File.lua ``writeObject``; converted networks are checked against a forward pass computed independently in numpy
from the same weights.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fav_core.errors import ConfigError, ModelLoadError
from fav_core.t7 import T7Object, lua_list, read_t7, read_t7_bytes

# ------------------------------------------------------------------------------------------ test writer

_TYPE_NAMES = {np.dtype(np.float32): "Float", np.dtype(np.float64): "Double", np.dtype(np.uint8): "Byte",
               np.dtype(np.int64): "Long", np.dtype(np.int32): "Int"}


@dataclass(eq=False)
class Storage:
    data: np.ndarray  # 1-D


@dataclass(eq=False)
class TensorView:
    storage: Storage
    sizes: tuple[int, ...]
    strides: tuple[int, ...]
    offset: int  # 0-based


class LuaFunction:
    pass


class T7Writer:
    """Minimal torch7 binary serializer (File.lua writeObject) for the types the reader supports."""

    def __init__(self, long_size: int = 8) -> None:
        self.out = bytearray()
        self.refs: dict[int, int] = {}
        self.keep: list[Any] = []
        self.long_fmt = "<q" if long_size == 8 else "<i"

    def i32(self, v: int) -> None:
        self.out += struct.pack("<i", v)

    def long(self, v: int) -> None:
        self.out += struct.pack(self.long_fmt, v)

    def raw_string(self, s: str) -> None:
        b = s.encode()
        self.i32(len(b))
        self.out += b

    def _ref(self, obj: Any) -> bool:
        """Write the reference index; True when the object was already written."""
        key = id(obj)
        if key in self.refs:
            self.i32(self.refs[key])
            return True
        self.refs[key] = len(self.refs) + 1
        self.keep.append(obj)
        self.i32(self.refs[key])
        return False

    def _torch_header(self, obj: Any, class_name: str) -> bool:
        self.i32(4)
        if self._ref(obj):
            return True
        self.raw_string("V 1")
        self.raw_string(class_name)
        return False

    def write(self, v: Any) -> None:
        if v is None:
            self.i32(0)
        elif isinstance(v, bool):
            self.i32(5)
            self.i32(int(v))
        elif isinstance(v, int | float):
            self.i32(1)
            self.out += struct.pack("<d", float(v))
        elif isinstance(v, str):
            self.i32(2)
            self.raw_string(v)
        elif isinstance(v, dict):
            self.i32(3)
            if self._ref(v):
                return
            self.i32(len(v))
            for k, x in v.items():
                self.write(k)
                self.write(x)
        elif isinstance(v, LuaFunction):
            self.i32(6)
            self.i32(99)
            self.raw_string("\x1bLJ bytecode")
        elif isinstance(v, Storage):
            if self._torch_header(v, f"torch.{_TYPE_NAMES[v.data.dtype]}Storage"):
                return
            self.long(v.data.size)
            self.out += v.data.astype(v.data.dtype.newbyteorder("<")).tobytes()
        elif isinstance(v, TensorView):
            if self._torch_header(v, f"torch.{_TYPE_NAMES[v.storage.data.dtype]}Tensor"):
                return
            self.i32(len(v.sizes))
            for s in v.sizes:
                self.long(s)
            for s in v.strides:
                self.long(s)
            self.long(v.offset + 1)
            self.write(v.storage)
        elif isinstance(v, np.ndarray):
            a = np.ascontiguousarray(v)
            strides = tuple(s // a.itemsize for s in a.strides)
            self.write(TensorView(Storage(a.ravel()), a.shape, strides, 0))
        elif isinstance(v, T7Object):
            if self._torch_header(v, v.class_name):
                return
            self.write(v.attrs)
        else:
            raise TypeError(type(v))


def t7_bytes(obj: Any, long_size: int = 8) -> bytes:
    w = T7Writer(long_size)
    w.write(obj)
    return bytes(w.out)


# ----------------------------------------------------------------------------------------- reader tests


class TestReader:
    def test_scalars(self) -> None:
        for value in (None, True, False, 3.5, -2.0, "héllo", ""):
            assert read_t7_bytes(t7_bytes(value)) == value

    def test_table_keys(self) -> None:
        out = read_t7_bytes(t7_bytes({1: "a", 2: "b", "x": 1.5, 2.5: True}))
        assert out == {1: "a", 2: "b", "x": 1.5, 2.5: True}
        assert lua_list({1: "a", 2: "b"}) == ["a", "b"]
        with pytest.raises(ModelLoadError):
            lua_list({1: "a", 3: "b"})

    def test_shared_references_and_cycles(self) -> None:
        shared = {"v": 1.0}
        root: dict[Any, Any] = {"a": shared, "b": shared}
        root["self"] = root
        out = read_t7_bytes(t7_bytes(root))
        assert out["a"] is out["b"]
        assert out["self"] is out

    @pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.int64, np.int32])
    def test_tensor_dtypes(self, dtype: type) -> None:
        a = (np.arange(24).reshape(2, 3, 4) * 3).astype(dtype)
        out = read_t7_bytes(t7_bytes(a))
        assert out.dtype == np.dtype(dtype) and out.shape == (2, 3, 4)
        np.testing.assert_array_equal(out, a)

    def test_strided_tensor_with_offset_and_shared_storage(self) -> None:
        st = Storage(np.arange(12, dtype=np.float32))
        transposed = TensorView(st, (3, 2), (1, 3), 0)  # a 2×3 view read column-major
        tail = TensorView(st, (2, 2), (4, 1), 5)
        out = read_t7_bytes(t7_bytes({"t": transposed, "u": tail, "s": st}))
        np.testing.assert_array_equal(out["t"], np.arange(6, dtype=np.float32).reshape(2, 3).T)
        np.testing.assert_array_equal(out["u"], np.array([[5, 6], [9, 10]], dtype=np.float32))
        np.testing.assert_array_equal(out["s"], np.arange(12))
        assert out["t"].flags["C_CONTIGUOUS"] and out["t"].flags["WRITEABLE"]

    def test_empty_tensor(self) -> None:
        out = read_t7_bytes(t7_bytes(TensorView(Storage(np.zeros(0, np.float32)), (), (), 0)))
        assert out.size == 0
        # what torch writes for a tensor without storage (e.g. an unused gradInput): 0 dims, nil storage
        w = T7Writer()
        w.i32(4)
        w.i32(1)
        w.raw_string("V 1")
        w.raw_string("torch.FloatTensor")
        w.i32(0)
        w.long(1)
        w.write(None)
        out = read_t7_bytes(bytes(w.out))
        assert out.size == 0 and out.dtype == np.float32

    def test_module_object(self) -> None:
        m = T7Object("nn.ReLU", 0, {"inplace": True, "output": np.zeros(2, np.float32)})
        out = read_t7_bytes(t7_bytes({"model": m}))
        assert isinstance(out["model"], T7Object)
        assert out["model"].class_name == "nn.ReLU" and out["model"].version == 1
        assert out["model"].get("inplace") is True

    def test_long_size_4(self) -> None:
        a = np.arange(6, dtype=np.float32).reshape(2, 3)
        np.testing.assert_array_equal(read_t7_bytes(t7_bytes(a, long_size=4), long_size=4), a)

    def test_refuses_functions(self) -> None:
        with pytest.raises(ModelLoadError, match="Lua function"):
            read_t7_bytes(t7_bytes({"f": LuaFunction()}), "evil.t7")

    def test_truncated_names_file(self, tmp_path: Path) -> None:
        path = tmp_path / "cut.t7"
        path.write_bytes(t7_bytes(np.ones((4, 4), np.float32))[:-10])
        with pytest.raises(ModelLoadError, match=r"cut\.t7.*truncated|cut\.t7.*exceeds"):
            read_t7(path)

    def test_lengths_checked_before_allocating(self) -> None:
        bad = struct.pack("<ii", 2, 2_000_000_000) + b"abc"
        with pytest.raises(ModelLoadError, match="exceeds the file"):
            read_t7_bytes(bad, "s.t7")
        storage_header = t7_bytes(Storage(np.zeros(1, np.float32)))[:-12]
        huge = storage_header + struct.pack("<q", 1 << 40)
        with pytest.raises(ModelLoadError, match="exceeds the file"):
            read_t7_bytes(huge)

    def test_unknown_type_and_limits(self, tmp_path: Path) -> None:
        with pytest.raises(ModelLoadError, match="unknown type code 42"):
            read_t7_bytes(struct.pack("<i", 42))
        nested: dict[Any, Any] = {}
        cur = nested
        for _ in range(50):
            cur["x"] = {}
            cur = cur["x"]
        with pytest.raises(ModelLoadError, match="nesting"):
            read_t7_bytes(t7_bytes(nested), max_depth=20)
        path = tmp_path / "big.t7"
        path.write_bytes(t7_bytes("x" * 100))
        with pytest.raises(ModelLoadError, match="limit"):
            read_t7(path, max_bytes=50)
        with pytest.raises(ModelLoadError, match="missing.t7"):
            read_t7(tmp_path / "missing.t7")


# ------------------------------------------------------------------------- nn graphs like models_video.lua

_RNG = np.random.default_rng(1234)


def _mod(cls: str, **fields: Any) -> T7Object:
    return T7Object(cls, 0, {k: (float(v) if isinstance(v, int) and not isinstance(v, bool) else v)
                             for k, v in fields.items()})


def t7_conv(i: int, o: int, k: int, s: int, p: int, cls: str = "nn.SpatialConvolution") -> T7Object:
    w = _RNG.normal(0, 1 / np.sqrt(i * k * k), (o, i, k, k)).astype(np.float32)
    if cls.endswith("MM"):
        w = w.reshape(o, i * k * k)
    return _mod(cls, nInputPlane=i, nOutputPlane=o, kW=k, kH=k, dW=s, dH=s, padW=p, padH=p, weight=w,
                bias=_RNG.normal(0, 0.1, o).astype(np.float32), train=False)


def t7_fullconv(i: int, o: int, k: int, s: int) -> T7Object:
    return _mod("nn.SpatialFullConvolution", nInputPlane=i, nOutputPlane=o, kW=k, kH=k, dW=s, dH=s,
                padW=(k - 1) // 2, padH=(k - 1) // 2, adjW=s - 1, adjH=s - 1,
                weight=_RNG.normal(0, 1 / np.sqrt(i * k * k), (i, o, k, k)).astype(np.float32),
                bias=_RNG.normal(0, 0.1, o).astype(np.float32))


def t7_norm(norm: str, c: int) -> T7Object:
    w = _RNG.uniform(0.5, 1.5, c).astype(np.float32)
    b = _RNG.normal(0, 0.2, c).astype(np.float32)
    if norm == "instance":
        return _mod("nn.InstanceNormalization", nOutput=c, eps=1e-5, weight=w, bias=b)
    return _mod("nn.SpatialBatchNormalization", eps=1e-5, momentum=0.1, affine=True, weight=w, bias=b,
                running_mean=_RNG.normal(0, 0.3, c).astype(np.float32),
                running_var=_RNG.uniform(0.5, 2.0, c).astype(np.float32))


def t7_pad(kind: str, p: int) -> T7Object:
    cls = "nn.SpatialReflectionPadding" if kind == "reflect" else "nn.SpatialReplicationPadding"
    return _mod(cls, pad_l=p, pad_r=p, pad_t=p, pad_b=p)


def t7_seq(*mods: T7Object) -> T7Object:
    return _mod("nn.Sequential", modules={i + 1: m for i, m in enumerate(mods)})


def _conv_block(z: int, padding: str, norm: str, relu_cls: str) -> list[T7Object]:
    out: list[T7Object] = []
    for j in (1, 2):
        if padding in ("reflect", "replicate"):
            out.append(t7_pad(padding, 1))
        out.append(t7_conv(z, z, 3, 1, 1 if padding == "zero" else 0))
        out.append(t7_norm(norm, z))
        if j == 1:
            out.append(_mod(relu_cls, inplace=True))
    return out


def build_t7(arch: str, in_ch: int, padding: str, norm: str, *, start_pad: int = 0, tanh: float = 150.0,
             cudnn: bool = False) -> T7Object:
    """The nn.Sequential that models_video.lua (fns models.lua) builds, independent of fav_core.nets."""
    conv_cls = "cudnn.SpatialConvolution" if cudnn else "nn.SpatialConvolution"
    relu_cls = "cudnn.ReLU" if cudnn else "nn.ReLU"
    mods: list[T7Object] = [t7_pad("reflect", start_pad)] if start_pad else []
    tokens = arch.split(",")
    prev = in_ch
    for n, tok in enumerate(tokens):
        last = n == len(tokens) - 1
        if tok[0] == "c":
            k, s, z = int(tok[1]), int(tok[3]), int(tok[5:])
            if padding in ("reflect", "replicate"):
                mods += [t7_pad(padding, (k - 1) // 2), t7_conv(prev, z, k, s, 0, conv_cls)]
            else:
                mods.append(t7_conv(prev, z, k, s, (k - 1) // 2, conv_cls))
        elif tok[0] == "d":
            z = int(tok[1:])
            mods.append(t7_conv(prev, z, 3, 2, 1, conv_cls))
        elif tok[0] == "u":
            z = int(tok[1:])
            mods.append(t7_fullconv(prev, z, 3, 2))
        elif tok[0] == "f":
            k, s, z = int(tok[1]), int(tok[3]), int(tok[5:])
            mods.append(t7_fullconv(prev, z, k, s))
        elif tok[0] == "U":
            z = prev
            mods.append(_mod("nn.SpatialUpSamplingNearest", scale_factor=int(tok[1:])))
        elif tok[0] == "R":
            z = int(tok[1:])
            skip = _mod("nn.ShaveImage", size=2) if padding in ("reflect-start", "none") else _mod("nn.Identity")
            concat = _mod("nn.ConcatTable", modules={1: t7_seq(*_conv_block(z, padding, norm, relu_cls)), 2: skip})
            mods.append(t7_seq(concat, _mod("nn.CAddTable", inplace=False)))
        elif tok[0] == "C":
            z = int(tok[1:])
            mods.append(t7_seq(*_conv_block(z, padding, norm, relu_cls)))
        if not last and tok[0] not in "RC":
            mods.append(t7_norm(norm, z))
        if not last and tok[0] != "R":
            mods.append(_mod(relu_cls, inplace=True))
        prev = z
    mods += [_mod("nn.Tanh"), _mod("nn.MulConstant", constant_scalar=tanh), _mod("nn.TotalVariation", strength=1e-6)]
    return t7_seq(*mods)


# -------------------------------------------------------------------------- independent numpy forward


def _np_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, s: int, p: int) -> np.ndarray:
    o, i, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (p, p), (p, p)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::s, ::s]
    return np.einsum("chwij,ocij->ohw", win, w) + b[:, None, None]


def _np_fullconv(x: np.ndarray, w: np.ndarray, b: np.ndarray, s: int, p: int, adj: int) -> np.ndarray:
    i, o, k, _ = w.shape
    _, h, wd = x.shape
    full = np.zeros((o, (h - 1) * s + k + adj, (wd - 1) * s + k + adj))
    for y in range(h):
        for xx in range(wd):
            full[:, y * s : y * s + k, xx * s : xx * s + k] += np.einsum("c,cokl->okl", x[:, y, xx], w)
    oh, ow = (h - 1) * s - 2 * p + k + adj, (wd - 1) * s - 2 * p + k + adj
    return full[:, p : p + oh, p : p + ow] + b[:, None, None]


def np_forward(m: T7Object, x: Any) -> Any:
    kind = m.class_name.rsplit(".", 1)[-1]
    f = {k: (int(v) if isinstance(v, float) and v.is_integer() else v) for k, v in m.attrs.items()}
    if kind == "Sequential":
        for child in lua_list(m.get("modules")):
            x = np_forward(child, x)
        return x
    if kind == "ConcatTable":
        return [np_forward(c, x) for c in lua_list(m.get("modules"))]
    if kind == "CAddTable":
        return sum(x)
    if kind in ("SpatialReflectionPadding", "SpatialReplicationPadding"):
        mode = "reflect" if kind == "SpatialReflectionPadding" else "edge"
        return np.pad(x, ((0, 0), (f["pad_t"], f["pad_b"]), (f["pad_l"], f["pad_r"])), mode=mode)
    if kind.startswith("SpatialConvolution"):
        w = f["weight"].astype(np.float64).reshape(f["nOutputPlane"], f["nInputPlane"], f["kH"], f["kW"])
        return _np_conv(x, w, f["bias"].astype(np.float64), f["dW"], f["padW"])
    if kind == "SpatialFullConvolution":
        return _np_fullconv(x, f["weight"].astype(np.float64), f["bias"].astype(np.float64), f["dW"], f["padW"],
                            f["adjW"])
    if kind == "InstanceNormalization":
        mean = x.mean(axis=(1, 2), keepdims=True)
        var = x.var(axis=(1, 2), keepdims=True)
        return (x - mean) / np.sqrt(var + f["eps"]) * f["weight"][:, None, None] + f["bias"][:, None, None]
    if kind == "SpatialBatchNormalization":
        rm, rv = f["running_mean"][:, None, None], f["running_var"][:, None, None]
        return (x - rm) / np.sqrt(rv + f["eps"]) * f["weight"][:, None, None] + f["bias"][:, None, None]
    if kind == "ReLU":
        return np.maximum(x, 0)
    if kind == "Tanh":
        return np.tanh(x)
    if kind == "MulConstant":
        return x * f["constant_scalar"]
    if kind in ("Identity", "TotalVariation"):
        return x
    if kind == "ShaveImage":
        s = f["size"]
        return x[:, s:-s, s:-s]
    if kind == "SpatialUpSamplingNearest":
        s = f["scale_factor"]
        return x.repeat(s, axis=1).repeat(s, axis=2)
    raise AssertionError(kind)


# ------------------------------------------------------------------------------------- conversion tests

CASES = [
    # (arch, in_ch, padding, norm, start_pad, cudnn)
    ("c3s1-4,d8,R8,u4,c3s1-3", 7, "reflect-start", "instance", 4, False),
    ("c3s1-4,d8,R8,R8,U2,c3s1-4,c3s1-3", 3, "reflect-start", "batch", 8, True),
    ("c5s1-4,d8,R8,u4,c3s1-3", 3, "reflect", "instance", 0, False),
    ("c3s1-4,R4,c3s1-3", 7, "replicate", "batch", 0, False),
    ("c3s1-4,C4,f3s1-4,d6,u4,c3s1-3", 3, "zero", "instance", 0, False),
]
EXPECTED_ARCH = {
    "c3s1-4,C4,f3s1-4,d6,u4,c3s1-3": "c3s1-4,C4,f3s1-4,d6,u4,c3s1-3",
}


def _checkpoint(arch: str, in_ch: int, padding: str, norm: str, start_pad: int, cudnn: bool) -> dict[str, Any]:
    model = build_t7(arch, in_ch, padding, norm, start_pad=start_pad, cudnn=cudnn)
    opt = {"arch": arch, "padding_type": padding, "tanh_constant": 150.0, "style_image": "styles/candy.jpg",
           "fill_occlusions": "vgg-mean", "gpu": 0.0}
    return {"model": model, "opt": opt, "iter": 40000.0}


@pytest.mark.parametrize(("arch", "in_ch", "padding", "norm", "start_pad", "cudnn"), CASES)
def test_convert_matches_numpy_forward(arch: str, in_ch: int, padding: str, norm: str, start_pad: int,
                                       cudnn: bool) -> None:
    from fav_core.t7_convert import convert_t7

    ckpt = _checkpoint(arch, in_ch, padding, norm, start_pad, cudnn)
    converted = convert_t7(read_t7_bytes(t7_bytes(ckpt), "ckpt.t7"), "ckpt.t7")
    assert converted.arch == arch
    assert (converted.in_channels, converted.padding, converted.norm) == (in_ch, padding, norm)
    assert converted.tanh_constant == 150.0
    x = _RNG.normal(0, 40, (in_ch, 12, 16))  # larger than every reflect pad
    expected = np_forward(ckpt["model"], x)
    with torch.no_grad():
        got = converted.net(torch.from_numpy(x).float()[None])[0].double().numpy()
    assert got.shape == expected.shape == (3, 12, 16)
    assert np.max(np.abs(got - expected)) / 150.0 < 1e-4


def test_import_writes_model_file(tmp_path: Path) -> None:
    from fav_core.modelfile import load_model
    from fav_core.t7_convert import import_t7

    ckpt = _checkpoint("c3s1-4,d8,R8,u4,c3s1-3", 7, "reflect-start", "instance", 4, False)
    src = tmp_path / "checkpoint-candy-video.t7"
    src.write_bytes(t7_bytes(ckpt))
    out = import_t7(src, tmp_path / "candy-video.safetensors", kind="video")
    model = load_model(out)
    assert model.meta.kind == "video" and model.meta.style_name == "candy"
    assert model.meta.style_image == "candy.jpg" and model.meta.arch == "c3s1-4,d8,R8,u4,c3s1-3"
    assert model.meta.trained_with["opt"]["padding_type"] == "reflect-start"
    x = _RNG.normal(0, 40, (7, 8, 12))
    with torch.no_grad():
        got = model.net(torch.from_numpy(x).float()[None])[0].double().numpy()
    assert np.max(np.abs(got - np_forward(ckpt["model"], x))) / 150.0 < 1e-4
    with pytest.raises(ConfigError, match="--kind image"):
        import_t7(src, tmp_path / "x.safetensors", kind="image")


def test_rndfill_name_sets_fill(tmp_path: Path) -> None:
    from fav_core.modelfile import read_meta
    from fav_core.t7_convert import default_style_name, import_t7

    ckpt = _checkpoint("c3s1-4,R4,c3s1-3", 7, "replicate", "instance", 0, False)
    del ckpt["opt"]["fill_occlusions"]
    src = tmp_path / "checkpoint-WomanHat-rndFill-VR.t7"
    src.write_bytes(t7_bytes(ckpt))
    meta = read_meta(import_t7(src, tmp_path / "wh.safetensors"))
    assert meta.fill == "uniform-random" and meta.style_name == "WomanHat"
    assert default_style_name("checkpoint-mosaic-image.t7") == "mosaic"
    assert default_style_name("my_model.t7") == "my_model"


def test_unknown_module_named_with_position() -> None:
    from fav_core.t7_convert import convert_t7

    model = build_t7("c3s1-4,R4,c3s1-3", 3, "zero", "instance")
    inner = model.attrs["modules"][4].attrs["modules"][1].attrs["modules"][1]  # residual body
    inner.attrs["modules"][2] = _mod("nn.SpatialDropout", p=0.5)
    with pytest.raises(ModelLoadError, match=r"module 4\.1\.1\.2: unsupported module type nn\.SpatialDropout"):
        convert_t7({"model": model}, "m.t7")
    top = build_t7("c3s1-4,c3s1-3", 3, "zero", "instance")
    top.attrs["modules"][2] = _mod("nn.Sigmoid")
    with pytest.raises(ModelLoadError, match=r"m\.t7: module 2: unsupported module type nn\.Sigmoid"):
        convert_t7(top, "m.t7")


def test_wrong_start_pad_and_not_a_model() -> None:
    from fav_core.t7_convert import convert_t7

    model = build_t7("c3s1-4,d8,R8,u4,c3s1-3", 7, "reflect-start", "instance", start_pad=6)
    with pytest.raises(ModelLoadError, match="reflect-start pad is 6 px"):
        convert_t7(model, "m.t7")
    with pytest.raises(ModelLoadError, match="no 'model'"):
        convert_t7({"opt": {}}, "m.t7")


def test_vgg16_from_t7(tmp_path: Path) -> None:
    from fav_core.lossnet import make_loss_network

    c1, c2 = t7_conv(3, 64, 3, 1, 1), t7_conv(64, 64, 3, 1, 1, "nn.SpatialConvolutionMM")
    pool = _mod("nn.SpatialMaxPooling", kW=2, kH=2, dW=2, dH=2, ceil_mode=True)
    vgg = t7_seq(c1, _mod("nn.ReLU"), c2, _mod("nn.ReLU"), pool, _mod("nn.View"))
    path = tmp_path / "vgg16.t7"
    path.write_bytes(t7_bytes(vgg))
    net = make_loss_network(f"vgg16-t7:{path}", content_layers=(4,), style_layers=(5,))
    assert net.input_space == "caffe" and net.features_net[4].ceil_mode
    x = torch.randn(1, 3, 5, 7) * 50
    h = F.relu(F.conv2d(x, torch.from_numpy(c1.attrs["weight"]), torch.from_numpy(c1.attrs["bias"]), padding=1))
    w2 = torch.from_numpy(c2.attrs["weight"]).reshape(64, 64, 3, 3)
    h = F.relu(F.conv2d(h, w2, torch.from_numpy(c2.attrs["bias"]), padding=1))
    feats = net(x)  # caffe weights take vgg pre-space as is
    torch.testing.assert_close(feats["relu1_2"], h, atol=1e-4, rtol=1e-4)
    assert tuple(feats["pool1"].shape) == (1, 64, 3, 4)  # ceil mode, as Caffe
    bad = t7_seq(c1, _mod("nn.Sigmoid"), c2, _mod("nn.ReLU"))
    (tmp_path / "bad.t7").write_bytes(t7_bytes(bad))
    with pytest.raises(ModelLoadError, match="expected ReLU"):
        make_loss_network("vgg16-t7", weights=tmp_path / "bad.t7", content_layers=(4,), style_layers=())


def test_cli_import_t7(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from fav_core.cli import import_t7 as cli
    from fav_core.modelfile import read_meta

    ckpt = _checkpoint("c3s1-4,R4,c3s1-3", 3, "zero", "batch", 0, False)
    src = tmp_path / "checkpoint-scream-image.t7"
    src.write_bytes(t7_bytes(ckpt))
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["import-t7", str(src), "-o", str(tmp_path / "scream-image"), "--kind", "image"])
    assert args.func(args) == 0
    meta = read_meta(tmp_path / "scream-image.safetensors")
    assert (meta.kind, meta.style_name, meta.norm, meta.padding) == ("image", "scream", "batch", "zero")
    assert "scream-image.safetensors" in capsys.readouterr().out


def test_import_reads_a_windows_file_with_4_byte_longs(tmp_path: Path) -> None:
    """Torch7 on Windows writes 4-byte longs; ``import_t7`` reads them without an option (it stopped with
    "unknown type code 55397" deep in the file)."""
    from fav_core.modelfile import load_model
    from fav_core.t7_convert import import_t7

    ckpt = _checkpoint("c3s1-4,R4,c3s1-3", 3, "zero", "instance", 0, False)
    src = tmp_path / "checkpoint-scream-image.t7"
    src.write_bytes(t7_bytes(ckpt, long_size=4))
    with pytest.raises(ModelLoadError):
        read_t7(src)
    model = load_model(import_t7(src, tmp_path / "s.safetensors"))
    x = _RNG.normal(0, 40, (3, 6, 8))
    with torch.no_grad():
        got = model.net(torch.from_numpy(x).float()[None])[0].double().numpy()
    assert np.max(np.abs(got - np_forward(ckpt["model"], x))) / 150.0 < 1e-4


def test_garbage_says_not_a_torch7_file(tmp_path: Path) -> None:
    from fav_core.t7_convert import import_t7

    src = tmp_path / "model.t7"
    src.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)  # a zip (new-style torch.save), not Torch7
    with pytest.raises(ModelLoadError, match=r"model\.t7: not a binary Torch7 file \(unknown type code"):
        import_t7(src, tmp_path / "m.safetensors")


@pytest.mark.parametrize(("output", "expected"), [
    ("models", "models/candy-video.safetensors"),  # an existing folder
    ("new/", "new/candy-video.safetensors"),  # a folder to be made
    ("models/mine", "models/mine.safetensors"),
    ("models/mine.safetensors", "models/mine.safetensors"),
])
def test_cli_import_t7_output_folder(tmp_path: Path, output: str, expected: str) -> None:
    """``-o FOLDER`` wrote ``FOLDER.safetensors`` next to the folder."""
    from fav_core.cli.main import main
    from fav_core.modelfile import read_meta

    src = tmp_path / "checkpoint-candy-video.t7"
    src.write_bytes(t7_bytes(_checkpoint("c3s1-4,R4,c3s1-3", 7, "zero", "instance", 0, False)))
    (tmp_path / "models").mkdir()
    out = str(tmp_path / output) + ("/" if output.endswith("/") else "")
    assert main(["import-t7", str(src), "-o", out]) == 0
    assert read_meta(tmp_path / expected).style_name == "candy"
    assert not (tmp_path / "models.safetensors").exists()


def test_vgg16_t7_given_to_import_points_to_the_loss_network(tmp_path: Path) -> None:
    from fav_core.t7_convert import import_t7

    pool = _mod("nn.SpatialMaxPooling", kW=2, kH=2, dW=2, dH=2, ceil_mode=True)
    src = tmp_path / "vgg16.t7"
    src.write_bytes(t7_bytes(t7_seq(t7_conv(3, 8, 3, 1, 1), _mod("nn.ReLU"), pool, _mod("nn.View"))))
    with pytest.raises(ModelLoadError, match=r"vgg16\.t7: module 3: .*SpatialMaxPooling.*--loss-network vgg16-t7:PATH"):
        import_t7(src, tmp_path / "v.safetensors")


def test_non_finite_opt_values_are_kept_as_text(tmp_path: Path) -> None:
    """An ``inf`` in the checkpoint's opt table made the import fail ("must be JSON-serialisable")."""
    from fav_core.modelfile import read_meta
    from fav_core.t7_convert import import_t7

    ckpt = _checkpoint("c3s1-4,R4,c3s1-3", 3, "zero", "instance", 0, False)
    ckpt["opt"].update(max_grad=float("inf"), weird=float("nan"))
    src = tmp_path / "checkpoint-x-image.t7"
    src.write_bytes(t7_bytes(ckpt))
    opt = read_meta(import_t7(src, tmp_path / "x.safetensors")).trained_with["opt"]
    assert (opt["max_grad"], opt["weird"], opt["tanh_constant"]) == ("inf", "nan", 150.0)
