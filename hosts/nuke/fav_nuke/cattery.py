"""Export the *image* (single-frame) model as TorchScript for Nuke's CatFileCreator -> Inference route.

Runs in the core's Python (needs torch and fav_core), never inside Nuke: the node's "Export for Cattery" button
calls ``<core python> -m fav_nuke.cattery MODEL -o OUT.pt [--image-model NAME|PATH|self]``.

What the exported module does (CatFileCreator's rules, shared/reference/hosts.md §B3): one input tensor, one
output tensor, both ``(1, 3, H, W)`` RGB, any H and W; all normalisation inside ``forward``; no fixed device or
dtype (buffers follow the module, so "Use GPU" and "Optimise for speed and memory" (half) work).

Colour: Nuke hands the Inference node **scene-linear** working-space RGB, but our networks were trained on
sRGB-encoded display values (docs/architecture.md). ``forward`` therefore encodes with the sRGB curve, runs the
network in its pre-space, decodes the result back to linear -- the same exact, extended curve as
:mod:`fav_core.io.color` (odd-mirrored below 0, the power segment continued above 1), so the .cat gives what
``fav stylize`` gives for the first frame of an EXR plate (without the median filter). Working spaces other than
linear sRGB/Rec.709 primaries need an OCIOColorSpace node before and after Inference.

Only the image model can run this way: the temporal model needs the previous *stylized* frame warped into the
current one, and a node graph cannot feed its own previous output back. For temporally consistent results use
the FastArtisticVideos node.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

from fav_core.errors import ConfigError, FavError, OutputError
from fav_core.modelfile import StyleModel, load_model
from fav_core.nets.preprocess import RESNET_MEAN_RGB, RESNET_STD_RGB, VGG_MEAN_BGR, VGG_SCALE

log = logging.getLogger(__name__)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """sRGB encode, exactly :func:`fav_core.io.color.linear_to_srgb` in torch (TorchScript-compatible).

    IEC 61966-2-1 constants written out (TorchScript cannot close over module globals): break 0.0031308,
    slope 12.92, a = 0.055, gamma 2.4.
    """
    m = x.abs()
    enc = torch.where(m <= 0.0031308, m * 12.92, 1.055 * m.clamp_min(0.0031308).pow(1.0 / 2.4) - 0.055)
    return torch.sign(x) * enc


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """sRGB decode, exactly :func:`fav_core.io.color.srgb_to_linear` in torch (TorchScript-compatible)."""
    m = x.abs()
    lin = torch.where(m <= 0.04045, m / 12.92, ((m.clamp_min(0.04045) + 0.055) / 1.055).pow(2.4))
    return torch.sign(x) * lin


class CatteryImageModel(nn.Module):
    """Scene-linear RGB in, stylized scene-linear RGB out; everything else inside ``forward``.

    Args:
        net: the transformer (3 inputs for an image model, 7 for a video model used as its own image model).
        preprocessing: ``"vgg"`` or ``"resnet"`` (the net's pre-space, from the model file).

    Convention:
        - input/output (1, 3, H, W) float (32 or 16), RGB, scene-linear, any H, W
        - a 7-channel video net gets ``[x, zeros(3), zeros(1)]``: the all-occluded prior with the vgg-mean fill
          (zeros in pre-space), i.e. ``--image-model self`` (algorithm.md §6.2)
    """

    def __init__(self, net: nn.Module, preprocessing: str) -> None:
        super().__init__()
        if preprocessing not in ("vgg", "resnet"):
            raise ConfigError(f"unknown preprocessing {preprocessing!r}; expected vgg or resnet")
        in_channels = int(getattr(net, "in_channels", 3))
        if in_channels not in (3, 7):
            raise ConfigError(f"the network takes {in_channels} channels; only 3 (image) or 7 (video) export")
        self.net = net
        self.vgg = preprocessing == "vgg"
        self.extra_channels = in_channels - 3
        if self.vgg:
            mean = torch.tensor(VGG_MEAN_BGR).view(1, 3, 1, 1)
            scale = torch.full((1, 3, 1, 1), VGG_SCALE)
        else:
            mean = torch.tensor(RESNET_MEAN_RGB).view(1, 3, 1, 1)
            scale = 1.0 / torch.tensor(RESNET_STD_RGB).view(1, 3, 1, 1)
        self.register_buffer("mean", mean)
        self.register_buffer("scale", scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rgb01 = linear_to_srgb(x)
        if self.vgg:
            pre = rgb01.flip(1) * self.scale - self.mean
        else:
            pre = (rgb01 - self.mean) * self.scale
        if self.extra_channels > 0:
            b, _, h, w = pre.shape
            pre = torch.cat([pre, pre.new_zeros((b, self.extra_channels, h, w))], dim=1)
        out = self.net(pre)
        if self.vgg:
            styl = ((out + self.mean) / self.scale).flip(1)
        else:
            styl = out / self.scale + self.mean
        return srgb_to_linear(styl)


def image_model(model: StyleModel, image: StyleModel | None) -> CatteryImageModel:
    """The module to export: ``image`` (an image model), else ``model`` itself as its own image model.

    Raises:
        ConfigError: ``image`` is not an image model, or a video model trained with the random fill is used
            as its own image model (its first frame would be random).
    """
    if image is not None:
        if image.meta.kind != "image":
            raise ConfigError(f"{image.path}: --image-model must be an image model, this is a {image.meta.kind} model")
        return CatteryImageModel(image.net, image.meta.preprocessing).eval()
    if model.meta.kind == "video" and model.meta.fill != "vgg-mean":
        raise ConfigError(f"{model.path}: a video model trained with the {model.meta.fill} fill has no "
                          "deterministic first frame; pass its image model with --image-model")
    return CatteryImageModel(model.net, model.meta.preprocessing).eval()


def script_and_check(module: CatteryImageModel, sizes: tuple[tuple[int, int], ...] = ((32, 48), (19, 27)),
                     atol: float = 1e-5) -> torch.jit.ScriptModule:
    """``torch.jit.script`` the module and check it equals eager on random linear frames of ``sizes``.

    Raises:
        ConfigError: scripting failed, or the scripted output differs (names the size and the error).
    """
    try:
        with warnings.catch_warnings():  # torch 2.x deprecates jit.script, but CatFileCreator needs TorchScript
            warnings.simplefilter("ignore", DeprecationWarning)
            scripted = torch.jit.script(module)
    except (RuntimeError, torch.jit.frontend.FrontendError) as exc:  # TorchScript compile errors
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ConfigError(f"the model cannot be compiled to TorchScript: {first}") from exc
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for h, w in sizes:
            x = torch.rand((1, 3, h, w), generator=gen) ** 2.2
            diff = float((scripted(x) - module(x)).abs().max())
            if not diff <= atol:
                raise ConfigError(f"TorchScript output differs from the model by {diff:.3g} at {w}x{h}")
    return scripted


def export(model: str, out: str | Path, image: str | None = None) -> Path:
    """Load, wrap, script, check and save; returns the written ``.pt`` path.

    Args:
        model: the node's video model (name or path).
        out: destination ``.pt`` file.
        image: image model name/path, ``"self"`` or None (None: ``model`` if it is an image model, else self).

    Raises:
        FavError: unloadable models, unscriptable networks, unwritable output.
    """
    main = load_model(model)
    extra = None if image in (None, "", "self") else load_model(image)
    scripted = script_and_check(image_model(main, extra))
    target = Path(out)
    tmp = target.with_name(target.name + ".tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        scripted.save(str(tmp))
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(target, f"cannot write TorchScript ({exc.strerror or exc})") from exc
    log.info("wrote %s", target)
    return target


def main(argv: list[str] | None = None) -> int:
    """``python -m fav_nuke.cattery MODEL -o OUT.pt [--image-model X]``; exit 2 with one line on stderr on error."""
    parser = argparse.ArgumentParser(prog="fav_nuke.cattery", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="model name or .safetensors path")
    parser.add_argument("-o", "--output", required=True, help="TorchScript file to write (.pt)")
    parser.add_argument("--image-model", default=None, help="image model name/path, or 'self'")
    args = parser.parse_args(argv)
    try:
        path = export(args.model, args.output, args.image_model)
    except FavError as exc:
        print(f"fav_nuke.cattery: error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
