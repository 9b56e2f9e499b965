"""Convert original fast-artistic-videos / fast-neural-style Torch7 checkpoints into fav model files.

The checkpoint (``checkpoint-*-video.t7``, ``checkpoint-*-image.t7``, the VR models, fast-neural-style image
models) is a table ``{model = nn.Sequential, opt = {...}, ...}`` or a bare ``nn.Sequential``, read with the pure
reader :mod:`fav_core.t7`. The module list is walked once to *infer* the build settings (algorithm.md §3):

| Torch7 module (nn or cudnn) | becomes |
|---|---|
| first SpatialReflectionPadding not owned by a conv | the reflect-start pad (``pad0``), must equal ours |
| SpatialReflection/ReplicationPadding before an unpadded conv | padding type reflect / replicate |
| SpatialConvolution(MM) k, s, Z | ``cksS-Z`` (``dZ`` for 3×3 stride 2 zero-padded) |
| SpatialFullConvolution k, s, Z | ``fksS-Z`` (``uZ`` for 3×3 stride 2) |
| SpatialUpSamplingNearest X | ``UX`` |
| Sequential[ConcatTable[body, ShaveImage/Identity], CAddTable] | ``RZ`` (skip type tells the padding type) |
| Sequential[conv, norm, ReLU, conv, norm] | ``CZ`` |
| InstanceNormalization / SpatialBatchNormalization | norm ``instance`` / ``batch`` |
| ReLU, Tanh, Identity, TotalVariation (identity in forward) | nothing |
| MulConstant c | ``tanh_constant`` |

Then :func:`fav_core.nets.build_transformer` builds the network and the weights are copied layer by layer in
order (convolutions, transposed convolutions, norms), every shape checked. Unknown module types are an error
naming the type and its position (e.g. ``module 3.1.2``).
"""
from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fav_core.errors import ConfigError, ModelLoadError
from fav_core.modelfile import ModelMeta, save_model
from fav_core.nets import build_transformer
from fav_core.nets.transformer import TransformerNet
from fav_core.t7 import T7Object, lua_list, read_t7

log = logging.getLogger(__name__)

_CONVS = ("SpatialConvolution", "SpatialConvolutionMM")
_FULLCONVS = ("SpatialFullConvolution",)
_NORMS = {"InstanceNormalization": "instance", "SpatialBatchNormalization": "batch"}
_PADS = {"SpatialReflectionPadding": "reflect", "SpatialReplicationPadding": "replicate"}
_PASSIVE = ("ReLU", "Tanh", "Identity", "TotalVariation")
_KIND_BY_CHANNELS = {3: "image", 7: "video"}


def _kind(m: Any) -> str:
    """``"cudnn.SpatialConvolution"`` -> ``"SpatialConvolution"``."""
    return m.class_name.rsplit(".", 1)[-1] if isinstance(m, T7Object) else type(m).__name__


def _int(m: T7Object, key: str, default: int | None = None, source: str = "<t7>") -> int:
    value = m.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ModelLoadError(source, f"{m.class_name} has no numeric field {key!r}")
    return int(value)


@dataclass
class _Scan:
    """What the walk over the module tree found."""

    tokens: list[str] = field(default_factory=list)
    params: list[tuple[str, T7Object, str]] = field(default_factory=list)  # (kind, module, position)
    start_pad: int | None = None
    paddings: set[str] = field(default_factory=set)
    norms: set[str] = field(default_factory=set)
    tanh_constant: float | None = None
    in_channels: int | None = None


class _Converter:
    def __init__(self, source: str) -> None:
        self.source = source
        self.scan = _Scan()

    def _int(self, m: T7Object, key: str, default: int | None = None) -> int:
        return _int(m, key, default, self.source)

    def fail(self, pos: str, problem: str) -> ModelLoadError:
        return ModelLoadError(self.source, f"module {pos}: {problem}")

    def children(self, m: T7Object, pos: str) -> list[Any]:
        return lua_list(m.get("modules", {}), f"module {pos} children", self.source)

    def conv(self, m: T7Object, pos: str, explicit_pad: str | None) -> None:
        k, s, z, p = self._int(m, "kW"), self._int(m, "dW", 1), self._int(m, "nOutputPlane"), self._int(m, "padW", 0)
        if self._int(m, "kH") != k or self._int(m, "dH", 1) != s or self._int(m, "padH", 0) != p:
            raise self.fail(pos, f"non-square {_kind(m)} is not supported")
        if self.scan.in_channels is None:
            self.scan.in_channels = self._int(m, "nInputPlane")
        if explicit_pad is not None:
            if p != 0:
                raise self.fail(pos, "convolution after an explicit pad must be unpadded")
            self.scan.paddings.add(explicit_pad)
            self.scan.tokens.append(f"c{k}s{s}-{z}")
        elif k == 3 and s == 2 and p == 1:
            self.scan.tokens.append(f"d{z}")
        elif p == (k - 1) // 2:
            self.scan.tokens.append(f"c{k}s{s}-{z}")
        else:
            raise self.fail(pos, f"{k}×{k} convolution with padding {p} matches no arch token")
        self.scan.params.append(("conv", m, pos))

    def full_conv(self, m: T7Object, pos: str) -> None:
        k, s, z = self._int(m, "kW"), self._int(m, "dW", 1), self._int(m, "nOutputPlane")
        p, adj = self._int(m, "padW", 0), self._int(m, "adjW", 0)
        if p != (k - 1) // 2 or adj != s - 1:
            raise self.fail(pos, f"full convolution k={k} s={s} pad={p} adj={adj} matches no arch token")
        self.scan.tokens.append(f"u{z}" if (k, s) == (3, 2) else f"f{k}s{s}-{z}")
        self.scan.params.append(("fullconv", m, pos))

    def norm(self, m: T7Object, pos: str) -> None:
        self.scan.norms.add(_NORMS[_kind(m)])
        self.scan.params.append(("norm", m, pos))

    def block(self, m: T7Object, pos: str) -> None:
        """A nested Sequential: a residual block (R) or a conv block (C)."""
        kids = self.children(m, pos)
        if len(kids) == 2 and _kind(kids[0]) == "ConcatTable" and _kind(kids[1]) == "CAddTable":
            branches = self.children(kids[0], f"{pos}.1")
            if len(branches) != 2 or _kind(branches[0]) != "Sequential":
                raise self.fail(f"{pos}.1", "residual ConcatTable must hold [Sequential body, skip]")
            body, skip = branches
            z = self.walk_body(body, f"{pos}.1.1")
            skip_kind = _kind(skip)
            if skip_kind == "ShaveImage":
                if self._int(skip, "size", 2) != 2:
                    raise self.fail(f"{pos}.1.2", "ShaveImage in a residual block must shave 2 px")
                self.scan.paddings.add("shave")
            elif skip_kind != "Identity":
                raise self.fail(f"{pos}.1.2", f"unsupported residual skip {skip.class_name}")
            self.scan.tokens.append(f"R{z}")
            return
        z = self.walk_body(m, pos)
        self.scan.tokens.append(f"C{z}")

    def walk_body(self, body: T7Object, pos: str) -> int:
        """[pad] conv → norm → ReLU → [pad] conv → norm; returns the channel count."""
        kids = self.children(body, pos)
        convs = [k for k in kids if _kind(k) in _CONVS]
        if len(convs) != 2:
            raise self.fail(pos, f"a residual/conv block needs 2 convolutions, found {len(convs)}")
        for j, k in enumerate(kids, start=1):
            name, where = _kind(k), f"{pos}.{j}"
            if name in _PADS:
                if self._int(k, "pad_l") != 1:
                    raise self.fail(where, "block padding must be 1 px")
                self.scan.paddings.add(_PADS[name])
            elif name in _CONVS:
                if self._int(k, "kW") != 3 or self._int(k, "dW", 1) != 1:
                    raise self.fail(where, "block convolutions must be 3×3 stride 1")
                self.scan.paddings.add("zero" if self._int(k, "padW", 0) == 1 else "unpadded")
                self.scan.params.append(("conv", k, where))
            elif name in _NORMS:
                self.norm(k, where)
            elif name != "ReLU":
                raise self.fail(where, f"unsupported module type {k.class_name} inside a block")
        return self._int(convs[0], "nOutputPlane")

    def walk(self, modules: list[Any], prefix: str) -> None:
        i = 0
        while i < len(modules):
            m, pos = modules[i], f"{prefix}{i + 1}"
            if not isinstance(m, T7Object):
                raise self.fail(pos, f"expected a Torch7 module, got {type(m).__name__}")
            name = _kind(m)
            nxt = modules[i + 1] if i + 1 < len(modules) else None
            if name in _PADS:
                p = self._int(m, "pad_l")
                owned = (isinstance(nxt, T7Object) and _kind(nxt) in _CONVS and self._int(nxt, "padW", 0) == 0
                         and p == (self._int(nxt, "kW") - 1) // 2)
                if owned:
                    self.conv(nxt, f"{prefix}{i + 2}", _PADS[name])
                    i += 2
                    continue
                if i != 0 or name != "SpatialReflectionPadding":
                    raise self.fail(pos, f"{m.class_name} by {p} px does not belong to a convolution")
                self.scan.start_pad = p
            elif name in _CONVS:
                self.conv(m, pos, None)
            elif name in _FULLCONVS:
                self.full_conv(m, pos)
            elif name == "SpatialUpSamplingNearest":
                self.scan.tokens.append(f"U{self._int(m, 'scale_factor')}")
            elif name == "Sequential":
                self.block(m, pos)
            elif name in _NORMS:
                self.norm(m, pos)
            elif name == "MulConstant":
                self.scan.tanh_constant = float(m.get("constant_scalar"))
            elif name == "SpatialMaxPooling":
                raise self.fail(pos, f"unsupported module type {m.class_name} (max pooling: a classification or "
                                "loss network such as vgg16.t7, not a style model; use it with "
                                "--loss-network vgg16-t7:PATH)")
            elif name not in _PASSIVE:
                raise self.fail(pos, f"unsupported module type {m.class_name}")
            i += 1

    def padding_type(self) -> str:
        found = self.scan.paddings
        explicit = found & {"reflect", "replicate"}
        if len(explicit) > 1:
            raise ModelLoadError(self.source, "mixes reflection and replication padding")
        if explicit:
            return explicit.pop()
        if self.scan.start_pad is not None:
            return "reflect-start"
        if "shave" in found or "unpadded" in found:
            return "none"
        return "zero"


@dataclass(frozen=True)
class T7Model:
    """A converted checkpoint: the network, its inferred settings and the checkpoint's ``opt`` table."""

    net: TransformerNet
    arch: str
    in_channels: int
    norm: str
    padding: str
    tanh_constant: float
    opt: dict[str, Any]


def _find_model(root: Any, source: str) -> tuple[T7Object, dict[str, Any]]:
    if isinstance(root, T7Object):
        return root, {}
    if isinstance(root, dict) and isinstance(root.get("model"), T7Object):
        opt = root.get("opt")
        return root["model"], opt if isinstance(opt, dict) else {}
    raise ModelLoadError(source, "not a Torch7 model checkpoint (no 'model' module)")


def _tensor(value: Any, shape: tuple[int, ...], source: str, what: str) -> torch.Tensor:
    if not isinstance(value, np.ndarray):
        raise ModelLoadError(source, f"{what} is missing")
    if value.size != int(np.prod(shape)):
        raise ModelLoadError(source, f"{what} has {value.size} values, expected shape {shape}")
    return torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32).reshape(shape))


def _our_params(net: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    for name, module in net.named_modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.InstanceNorm2d | nn.BatchNorm2d):
            yield name, module


def _copy_norm(t7: T7Object, ours: nn.Module, source: str, what: str) -> None:
    c = ours.num_features
    weight = t7.get("weight")
    bias = t7.get("bias")
    ours.weight.copy_(_tensor(weight, (c,), source, f"{what} weight") if weight is not None else torch.ones(c))
    ours.bias.copy_(_tensor(bias, (c,), source, f"{what} bias") if bias is not None else torch.zeros(c))
    eps = float(t7.get("eps", 1e-5))
    if abs(eps - ours.eps) > 1e-12:
        log.warning("%s: %s eps %g differs from ours (%g)", source, what, eps, ours.eps)
    if isinstance(ours, nn.BatchNorm2d):
        mean = _tensor(t7.get("running_mean"), (c,), source, f"{what} running_mean")
        if isinstance(t7.get("running_var"), np.ndarray):
            var = _tensor(t7.get("running_var"), (c,), source, f"{what} running_var")
        else:  # old nn stored the inverse standard deviation
            std = _tensor(t7.get("running_std"), (c,), source, f"{what} running_var/running_std")
            var = 1.0 / std.clamp_min(1e-12) ** 2 - eps
        ours.running_mean.copy_(mean)
        ours.running_var.copy_(var)


def _copy_weights(scan: _Scan, net: TransformerNet, source: str) -> None:
    ours = list(_our_params(net))
    if len(ours) != len(scan.params):
        raise ModelLoadError(source, f"{len(scan.params)} weighted layers, the built network has {len(ours)}")
    with torch.no_grad():
        for (kind, t7, pos), (name, module) in zip(scan.params, ours, strict=True):
            what = f"module {pos} ({_kind(t7)} -> {name})"
            if kind == "norm":
                if not isinstance(module, nn.InstanceNorm2d | nn.BatchNorm2d):
                    raise ModelLoadError(source, f"{what}: layer order does not match")
                _copy_norm(t7, module, source, what)
                continue
            want = nn.Conv2d if kind == "conv" else nn.ConvTranspose2d
            if not isinstance(module, want):
                raise ModelLoadError(source, f"{what}: layer order does not match")
            module.weight.copy_(_tensor(t7.get("weight"), tuple(module.weight.shape), source, f"{what} weight"))
            bias = t7.get("bias")
            if module.bias is not None:
                module.bias.copy_(_tensor(bias, tuple(module.bias.shape), source, f"{what} bias")
                                  if bias is not None else torch.zeros_like(module.bias))


def _start_pad(net: TransformerNet) -> int:
    """Pixels of the network's reflect-start pad (``body.pad0``), 0 when it has none."""
    pad = getattr(net.body, "pad0", None)
    return int(pad.padding[0]) if isinstance(pad, nn.ReflectionPad2d) else 0


def convert_t7(root: Any, source: str = "<t7>") -> T7Model:
    """Turn a deserialized checkpoint into a :class:`TransformerNet` with the same weights.

    Args:
        root: the object returned by :func:`fav_core.t7.read_t7`.
        source: file name for error messages.

    Raises:
        ModelLoadError: unsupported/unknown modules (named with their position), inconsistent settings, or
            weights that do not fit the inferred architecture.
    """
    model, opt = _find_model(root, source)
    if not model.class_name.endswith("Sequential"):
        raise ModelLoadError(source, f"top-level model is {model.class_name}, expected nn.Sequential")
    conv = _Converter(source)
    conv.walk(conv.children(model, "model"), "")
    scan = conv.scan
    if not scan.tokens or scan.in_channels is None:
        raise ModelLoadError(source, "the model has no convolutions")
    if len(scan.norms) > 1:
        raise ModelLoadError(source, "mixes instance and batch normalisation")
    arch = ",".join(scan.tokens)
    padding = conv.padding_type()
    norm = scan.norms.pop() if scan.norms else "instance"
    tanh_constant = scan.tanh_constant if scan.tanh_constant is not None else 1.0
    try:
        net = build_transformer(arch, scan.in_channels, norm=norm, padding=padding, tanh_constant=tanh_constant)
    except ConfigError as e:
        raise ModelLoadError(source, f"inferred architecture {arch!r} cannot be built: {e}") from None
    ours = _start_pad(net)
    if scan.start_pad is not None and scan.start_pad != ours:
        raise ModelLoadError(source, f"reflect-start pad is {scan.start_pad} px, the architecture {arch!r} needs {ours}")
    _copy_weights(scan, net, source)
    net.eval()
    if isinstance(opt.get("arch"), str) and opt["arch"].replace(" ", "") != arch:
        log.warning("%s: opt.arch %r differs from the module list (%r); using the module list", source, opt["arch"],
                    arch)
    return T7Model(net, arch, scan.in_channels, norm, padding, tanh_constant, opt)


def _plain_opt(opt: dict[str, Any]) -> dict[str, Any]:
    """The JSON-friendly part of a checkpoint's ``opt`` table (non-finite numbers as text: ``"inf"``, ``"nan"``;
    an ``inf`` kept as a number made the import fail on the metadata)."""
    return {str(k): (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in opt.items()
            if isinstance(v, str | bool | int | float)}


def default_style_name(path: str | Path) -> str:
    """``checkpoint-candy-video.t7`` -> ``candy``; other names -> the file stem."""
    stem = Path(path).stem
    m = re.fullmatch(r"checkpoint-(.+?)(-rndFill)?(-VR)?-(video|image)", stem) or re.fullmatch(
        r"checkpoint-(.+?)(-rndFill)?-(VR)", stem
    )
    return m.group(1) if m else stem


def import_t7(
    in_path: str | Path,
    out_path: str | Path,
    *,
    kind: str | None = None,
    style_name: str | None = None,
    fill: str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Convert a Torch7 checkpoint file into a fav ``.safetensors`` model file.

    Args:
        in_path: the ``.t7`` checkpoint (8-byte Torch longs, or 4-byte ones as written on Windows).
        out_path: destination ``.safetensors``.
        kind: ``"video"`` or ``"image"``; inferred from the input channels (7 / 3) when None, checked otherwise.
        style_name: defaults to the name in ``checkpoint-<name>-video.t7`` (else the file stem).
        fill: occlusion fill the model was trained with; default ``uniform-random`` for ``*rndFill*`` files,
            else the checkpoint's ``opt.fill_occlusions`` or ``vgg-mean``.
        dtype: weight storage type (float32 keeps the original values exactly).

    Returns:
        The written path.

    Raises:
        ModelLoadError: unreadable or unsupported checkpoint; ConfigError: ``kind`` contradicts the model.
    """
    source = str(in_path)
    converted = convert_t7(read_t7(in_path, long_size=None), source)
    inferred = _KIND_BY_CHANNELS.get(converted.in_channels)
    if inferred is None:
        raise ModelLoadError(source, f"the model takes {converted.in_channels} input channels; expected 3 or 7")
    if kind is not None and kind != inferred:
        raise ConfigError(f"{source}: --kind {kind} but the model takes {converted.in_channels} channels ({inferred})")
    opt = converted.opt
    if fill is None:
        fill = "uniform-random" if "rndFill" in Path(in_path).name else str(opt.get("fill_occlusions", "vgg-mean"))
    style_image = opt.get("style_image")
    meta = ModelMeta(
        kind=inferred,
        arch=converted.arch,
        in_channels=converted.in_channels,
        style_name=style_name or default_style_name(in_path),
        padding=converted.padding,
        norm=converted.norm,
        tanh_constant=converted.tanh_constant,
        preprocessing=str(opt.get("preprocessing", "vgg")),
        fill=fill,
        style_image=Path(style_image).name if isinstance(style_image, str) and style_image else None,
        trained_with={"imported_from": Path(in_path).name, "opt": _plain_opt(opt)},
        description=f"imported from Torch7 checkpoint {Path(in_path).name}",
    )
    return save_model(out_path, converted.net, meta, dtype=dtype)
