"""VGG-16 feature extractor with the reference's layer numbering (algorithm.md §10.5), built without torchvision.

Layer numbers are the reference's 1-based module indices in the sequential VGG-16 (conv/relu/pool each count):
4 = relu1_2, 9 = relu2_2, 16 = relu3_3, 23 = relu4_3. Torchvision's ``features`` module uses the same order,
0-based, so reference layer ``n`` is ``features[n - 1]`` and the state-dict keys are ``features.{n-1}.weight``.
The network is truncated after the deepest layer used.

Two weight sources, two input conventions (the network always *takes* vgg pre-space and converts internally):

- ``torchvision`` (IMAGENET1K_V1, ``vgg16-397923af.pth``, a legacy-format torch file read without unpickling by
  :mod:`fav_core.pth_reader`): trained on RGB [0, 1] normalised with the ImageNet
  mean/std, so the input is converted pre-space -> rgb01 -> ``(x - mean) / std``. Pooling floors.
- ``caffe`` (the original ``vgg16.t7`` of fast-neural-style, a Caffe port): trained on BGR 0..255 minus the
  VGG mean, i.e. exactly vgg pre-space: used as is. Pooling mode is taken from the file (Caffe rounds up).

Feature *values* differ between the two sources (different training and scale: caffe features are ~255× larger
in the first layer), so loss numbers are only comparable between runs that use the same weights.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fav_core.errors import ConfigError, ModelLoadError
from fav_core.lossnet.base import LossNetwork
from fav_core.nets.preprocess import deprocess
from fav_core.pth_reader import read_pth

log = logging.getLogger(__name__)

#: torchvision's IMAGENET1K_V1 VGG-16 weights (only fetched by :func:`torchvision_state_dict` when not cached).
TORCHVISION_VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
#: The start of the file's SHA-256, checked after a download (torch hub's ``<name>-<hash>.pth`` convention).
_HASH_PREFIX = "397923af"
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
#: Conv widths of VGG-16, "M" = 2×2 max pool.
VGG16_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                                    512, 512, 512, "M")
DEFAULT_CONTENT_LAYERS: tuple[int, ...] = (16,)
DEFAULT_STYLE_LAYERS: tuple[int, ...] = (4, 9, 16, 23)
INPUT_SPACES: tuple[str, ...] = ("torchvision", "caffe")


def _layer_names() -> list[str]:
    """Names of VGG-16's feature modules in order: conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ..."""
    names: list[str] = []
    block, conv = 1, 1
    for item in VGG16_CFG:
        if item == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


#: LAYER_NAMES[n - 1] is the name of reference layer n (1-based), e.g. LAYER_NAMES[15] == "relu3_3".
LAYER_NAMES: tuple[str, ...] = tuple(_layer_names())


def layer_name(index: int) -> str:
    """Name of the reference's 1-based VGG-16 module index (16 -> ``"relu3_3"``).

    Raises:
        ConfigError: index outside 1..31.
    """
    if not 1 <= index <= len(LAYER_NAMES):
        raise ConfigError(f"VGG-16 layer index must be 1..{len(LAYER_NAMES)}, got {index}")
    return LAYER_NAMES[index - 1]


def _build_features(depth: int, ceil_modes: Sequence[bool] | None = None) -> nn.Sequential:
    """The first ``depth`` modules of VGG-16's ``features`` (torchvision layout and indices)."""
    modules: list[nn.Module] = []
    in_ch, pool = 3, 0
    for item in VGG16_CFG:
        if item == "M":
            ceil = bool(ceil_modes[pool]) if ceil_modes is not None and pool < len(ceil_modes) else False
            modules.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=ceil))
            pool += 1
        else:
            modules += [nn.Conv2d(in_ch, int(item), kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            in_ch = int(item)
    return nn.Sequential(*modules[:depth])


class VGG16Loss(LossNetwork):
    """Truncated VGG-16 returning the named activations used by the perceptual losses.

    Args:
        content_layers: reference 1-based layer indices for content (default 16 = relu3_3).
        style_layers: reference layer indices for style (default 4, 9, 16, 23).
        input_space: ``"torchvision"`` or ``"caffe"`` (see the module docstring); decides the input conversion.
        ceil_modes: per max-pool ``ceil_mode`` (Caffe ports round up); default floor.
        name: the name reported in evaluations.

    Weights start uninitialised-random; load them with :meth:`load_features_state_dict`.
    """

    def __init__(
        self,
        content_layers: Sequence[int] = DEFAULT_CONTENT_LAYERS,
        style_layers: Sequence[int] = DEFAULT_STYLE_LAYERS,
        *,
        input_space: str = "torchvision",
        ceil_modes: Sequence[bool] | None = None,
        name: str = "vgg16",
    ) -> None:
        super().__init__()
        if input_space not in INPUT_SPACES:
            raise ConfigError(f"VGG input_space must be one of {INPUT_SPACES}, got {input_space!r}")
        indices = list(content_layers) + list(style_layers)
        if not indices:
            raise ConfigError("VGG-16 loss network needs at least one content or style layer")
        self.name = name
        self.input_space = input_space
        self.content_layers = tuple(layer_name(i) for i in content_layers)
        self.style_layers = tuple(layer_name(i) for i in style_layers)
        self.depth = max(indices)
        self.features_net = _build_features(self.depth, ceil_modes)
        self.register_buffer("_mean", torch.tensor(IMAGENET_MEAN_RGB).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(IMAGENET_STD_RGB).view(1, 3, 1, 1), persistent=False)
        self.freeze()

    def expected_keys(self) -> list[str]:
        """The torchvision state-dict keys this truncated network needs (``features.0.weight`` ...)."""
        return [f"features.{k}" for k in self.features_net.state_dict()]

    def load_features_state_dict(self, state: Mapping[str, torch.Tensor], source: str) -> None:
        """Copy ``features.N.weight/bias`` tensors (torchvision key names) into the network.

        Keys of deeper layers and the classifier are ignored.

        Raises:
            ModelLoadError: a needed key is missing or has the wrong shape (names ``source``).
        """
        own = self.features_net.state_dict()
        new: dict[str, torch.Tensor] = {}
        for key, current in own.items():
            full = f"features.{key}"
            if full not in state:
                raise ModelLoadError(source, f"VGG-16 weights lack {full}")
            value = torch.as_tensor(state[full])
            if tuple(value.shape) != tuple(current.shape):
                raise ModelLoadError(
                    source, f"VGG-16 weight {full} has shape {tuple(value.shape)}, expected {tuple(current.shape)}"
                )
            new[key] = value.detach().to(dtype=current.dtype).clone()
        self.features_net.load_state_dict(new)
        self.freeze()

    def _to_input_space(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_space == "caffe":
            return x
        return (deprocess(x, "vgg") - self._mean) / self._std

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        wanted = set(self.layers)
        out: dict[str, torch.Tensor] = {}
        h = self._to_input_space(x)
        for i, module in enumerate(self.features_net):
            h = module(h)
            name = LAYER_NAMES[i]
            if name in wanted:
                out[name] = h
        return out


def _read_state_file(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a .safetensors file, or from a torch ``.pth``/``.pt`` file by the pure (non-pickle) reader."""
    if not path.is_file():
        raise ModelLoadError(path, "loss-network weights file not found")
    if path.suffix.lower() != ".safetensors":
        return read_pth(path)
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return dict(load_file(str(path), device="cpu"))
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelLoadError(path, f"cannot read loss-network weights: {e}") from e


def torchvision_state_dict(weights: str | Path | None = None, *, allow_download: bool = True) -> tuple[
    dict[str, torch.Tensor], str
]:
    """torchvision VGG-16 IMAGENET1K_V1 weights as a state dict, and where they came from.

    Args:
        weights: an explicit file (``.safetensors``, or a torch ``.pth``/``.pt`` read by
            :func:`fav_core.pth_reader.read_pth`, which never unpickles). When None: the torch hub cache
            (``$TORCH_HOME/hub/checkpoints/vgg16-397923af.pth``), downloading the file there first (SHA-256 prefix
            checked) when it is missing and ``allow_download`` is set; it is then read the same pure way.
        allow_download: permit the download (never used by the tests).

    Raises:
        ModelLoadError: no weights available (offline and not cached), or an unreadable file.
    """
    if weights is not None:
        path = Path(weights)
        return _read_state_file(path), str(path)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_VGG16_URL.rsplit("/", 1)[1]
    if cached.is_file():
        return _read_state_file(cached), str(cached)
    if not allow_download:
        raise ModelLoadError(cached, "VGG-16 weights not cached; pass --loss-weights PATH or use random-multiscale")
    log.info("downloading VGG-16 weights from %s to %s", TORCHVISION_VGG16_URL, cached)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(TORCHVISION_VGG16_URL, str(cached), hash_prefix=_HASH_PREFIX, progress=False)
    except Exception as e:  # noqa: BLE001 - network/hash failures become one typed error
        raise ModelLoadError(
            TORCHVISION_VGG16_URL,
            f"cannot download VGG-16 weights ({e}); pass --loss-weights PATH or use --loss-network random-multiscale",
        ) from e
    return _read_state_file(cached), str(cached)


def vgg16_torchvision(
    weights: str | Path | None = None,
    content_layers: Sequence[int] = DEFAULT_CONTENT_LAYERS,
    style_layers: Sequence[int] = DEFAULT_STYLE_LAYERS,
    *,
    allow_download: bool = True,
) -> VGG16Loss:
    """VGG-16 loss network with torchvision IMAGENET1K_V1 weights (see :func:`torchvision_state_dict`)."""
    net = VGG16Loss(content_layers, style_layers, input_space="torchvision", name="vgg16")
    state, source = torchvision_state_dict(weights, allow_download=allow_download)
    net.load_features_state_dict(state, source)
    return net


def _t7_conv_tensor(module_weight: object, shape: tuple[int, ...], source: str, what: str) -> torch.Tensor:
    if not isinstance(module_weight, np.ndarray):
        raise ModelLoadError(source, f"{what} has no weight tensor")
    if module_weight.size != int(np.prod(shape)):
        raise ModelLoadError(source, f"{what} weight has {module_weight.size} values, expected shape {shape}")
    return torch.from_numpy(np.ascontiguousarray(module_weight, dtype=np.float32).reshape(shape))


def vgg16_from_t7(
    path: str | Path,
    content_layers: Sequence[int] = DEFAULT_CONTENT_LAYERS,
    style_layers: Sequence[int] = DEFAULT_STYLE_LAYERS,
) -> VGG16Loss:
    """VGG-16 loss network from the original fast-neural-style ``vgg16.t7`` (Caffe port, vgg pre-space input).

    Reads the file with the pure reader :func:`fav_core.t7.read_t7`; the first ``max(layers)`` modules must be
    (cudnn/nn) SpatialConvolution(MM) 3×3 pad 1, ReLU and 2×2 SpatialMaxPooling in VGG-16 order.

    Raises:
        ModelLoadError: the file is not a VGG-16 ``nn.Sequential`` of that shape.
    """
    from fav_core.t7 import T7Object, lua_list, read_t7

    source = str(path)
    root = read_t7(path)
    if isinstance(root, dict) and isinstance(root.get("model"), T7Object):
        root = root["model"]
    if not isinstance(root, T7Object) or not root.class_name.endswith("Sequential"):
        raise ModelLoadError(source, "not a Torch7 nn.Sequential VGG-16")
    modules = lua_list(root.get("modules"), "VGG-16 module list", source)
    depth = max(list(content_layers) + list(style_layers))
    if len(modules) < depth:
        raise ModelLoadError(source, f"VGG-16 has {len(modules)} modules, needs at least {depth}")
    ceil_modes = [bool(m.get("ceil_mode", False)) for m in modules[:depth] if isinstance(m, T7Object)
                  and m.class_name.endswith("SpatialMaxPooling")]
    net = VGG16Loss(content_layers, style_layers, input_space="caffe", ceil_modes=ceil_modes, name="vgg16-t7")
    state: dict[str, torch.Tensor] = {}
    for i, (module, ours) in enumerate(zip(modules[:depth], net.features_net, strict=True)):
        kind = module.class_name.rsplit(".", 1)[-1] if isinstance(module, T7Object) else type(module).__name__
        what = f"module {i + 1} ({kind})"
        if isinstance(ours, nn.Conv2d):
            if not kind.startswith("SpatialConvolution"):
                raise ModelLoadError(source, f"{what}: expected SpatialConvolution for {LAYER_NAMES[i]}")
            if int(module.get("padW", 0)) != 1 or int(module.get("dW", 1)) != 1:
                raise ModelLoadError(source, f"{what}: expected 3×3 convolution with stride 1, padding 1")
            state[f"features.{i}.weight"] = _t7_conv_tensor(module.get("weight"), tuple(ours.weight.shape), source,
                                                            what)
            state[f"features.{i}.bias"] = _t7_conv_tensor(module.get("bias"), tuple(ours.bias.shape), source, what)
        elif isinstance(ours, nn.ReLU) and kind != "ReLU":
            raise ModelLoadError(source, f"{what}: expected ReLU for {LAYER_NAMES[i]}")
        elif isinstance(ours, nn.MaxPool2d) and kind != "SpatialMaxPooling":
            raise ModelLoadError(source, f"{what}: expected SpatialMaxPooling for {LAYER_NAMES[i]}")
    net.load_features_state_dict(state, source)
    return net
