"""``fav import-t7 IN.t7 -o OUT.safetensors``: convert an original Torch7 checkpoint into a fav model file."""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import-t7",
        help="convert an original fast-artistic-videos / fast-neural-style .t7 model",
        description="Read a Torch7 checkpoint (checkpoint-*-video.t7, checkpoint-*-image.t7, the VR models, "
        "fast-neural-style models) with a pure reader that never runs code, infer its architecture and write a "
        "fav .safetensors model file.",
    )
    p.add_argument("input", help="the .t7 checkpoint")
    p.add_argument("-o", "--output", required=True,
                   help="output .safetensors file, a bare name (written as NAME.safetensors), or a folder (written "
                   "there as candy-video.safetensors for checkpoint-candy-video.t7)")
    p.add_argument("--kind", choices=("video", "image"), default=None,
                   help="model kind; checked against the input channels (7 video, 3 image); default inferred")
    p.add_argument("--style", default=None, help="style name (default: from checkpoint-<name>-video.t7)")
    p.add_argument("--fill", choices=("vgg-mean", "uniform-random"), default=None,
                   help="occlusion fill the model was trained with (default uniform-random for *rndFill* files)")
    p.add_argument("--half", action="store_true", help="store weights as float16 (half the file size)")
    p.set_defaults(func=run)


def output_path(input_path: str, output: str) -> Path:
    """Where ``-o`` puts the model: a folder (existing, or written with a trailing separator) gets the checkpoint's
    name without ``checkpoint-``; a name without ``.safetensors`` gets the suffix (``out.with_name`` once wrote
    ``-o models/`` as ``models.safetensors`` next to the folder)."""
    out = Path(output)
    if out.is_dir() or output.endswith(("/", os.sep)):
        stem = Path(input_path).stem
        return out / f"{stem.removeprefix('checkpoint-') or stem}.safetensors"
    return out if out.suffix == ".safetensors" else out.with_name(out.name + ".safetensors")


def run(args: argparse.Namespace) -> int:
    import torch

    from fav_core.modelfile import read_meta
    from fav_core.t7_convert import import_t7

    out = output_path(args.input, args.output)
    path = import_t7(args.input, out, kind=args.kind, style_name=args.style, fill=args.fill,
                     dtype=torch.float16 if args.half else torch.float32)
    meta = read_meta(path)
    print(f"{path}: {meta.kind} model '{meta.style_name}', arch {meta.arch}, {meta.norm} norm, "
          f"padding {meta.padding}, fill {meta.fill}")
    return 0
