"""Command line of the training package: `python -m training {image,video,build-images,build-video,build-synthetic-video,export}`.

`add_parser(subparsers)` registers the same commands as `fav train ...`. Every `TrainConfig` option is a kebab-case
flag (`--style-weights`, `--num-frame-steps`, ...); booleans take 0/1 like the reference.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import MISSING, fields
from pathlib import Path

from fav_core.cli.signals import cancel_on_signals
from fav_core.errors import Cancelled, ConfigError, FavError
from fav_core.types import CancelToken
from training.config import VIDEO_ONLY, TrainConfig

LOG = logging.getLogger(__name__)

#: Help texts of the main options (the others are self-describing reference options, algorithm.md §10.1).
HELP = {
    "style_image": "style image file (required)",
    "output_dir": "run folder: checkpoints, debug images, loss curve",
    "h5_file": "image HDF5 (build-images) for image training and the synthetic sources",
    "h5_file_video": "video HDF5 (build-video) for the 'video' source",
    "val_h5_file": "image HDF5 whose val2014 split is used for validation ('' = --h5-file)",
    "arch": "architecture string, e.g. c9s1-16,d32,d64,R64,R64,R64,U2,c3s1-32,U2,c3s1-16,c9s1-3",
    "image_model": "image model file that stylizes the first frames, or 'self' (required)",
    "data_mix": "weighted sources from single_image, shift, zoom_out, video, vr; e.g. "
                "shift:1,zoom_out:1,single_image:2,video:3",
    "num_frame_steps": "recursion schedule ITER:K,... (K applies after ITER, strictly)",
    "image_size": "training size H:W (multiples of 4) of image batches and the synthetic sources (the video "
                  "source keeps its stored size)",
    "crop_size": "0 = use stored images; N = random square crops resized to N (augmentation)",
    "loss_network": "vgg16 | vgg16-t7:PATH | random-multiscale | random-multiscale-literal",
    "loss_weights": "VGG-16 weights file for --loss-network vgg16 (torchvision layout, .safetensors or .pth; "
                    "default: the torch hub cache, never downloaded)",
    "loss_seed": "seed of the random loss network",
    "content_layers": "content layers (VGG: 1-based indices; empty = the network's defaults)",
    "style_layers": "style layers (VGG: 1-based indices; empty = the network's defaults)",
    "style_image_size": "longer side of the style image in pixels",
    "learning_rate": "RATE or RATE,ITER:RATE,... (switch after ITER)",
    "device": "cpu, cuda or cuda:N (autocast bf16 on cuda)",
    "style_name": "short name of the style in the model file (default: the style image's file name)",
    "pixel_loss_weight": "weight of the temporal pixel loss (in pre-space, 0-255 scale)",
    "pixel_loss_type": "L2 | L1 | SmoothL1",
    "fill_occlusions": "vgg-mean | uniform-random: fill of unreliable prior pixels (stored in the model file)",
    "single_image_until": "use only the single_image source before this iteration",
    "reliable_map_min_filter": "odd min-filter size applied to the reliability masks",
    "content_weights": "content weight (random-multiscale: one value; VGG: one or one per layer)",
    "style_weights": "style weight (random-multiscale: one value; VGG: one or one per layer)",
    "checkpoint_every": "iterations between checkpoints (also written at the last iteration and on Ctrl-C)",
    "images_every": "debug images at iterations 1, 1+N, 1+2N, ... (RUN_DIR/debug)",
    "val_every": "iterations between validations (also at the last iteration)",
    "seed": "seed of the network initialisation and the data order",
}



def _add_config_options(parser: argparse.ArgumentParser, mode: str) -> None:
    parser.add_argument("--resume", metavar="RUN_DIR", nargs="?", const="", default=None,
                        help="continue the checkpoint in RUN_DIR (no RUN_DIR: the one in --output-dir); model, "
                             "Adam state, iteration, RNG and data positions are restored, the other options apply "
                             "from the next iteration")
    for item in fields(TrainConfig):
        if item.name == "mode":
            continue
        default = item.default if item.default is not MISSING else None
        flag = "--" + item.name.replace("_", "-")
        kind = type(default)
        text = HELP.get(item.name, "")
        if mode == "image" and item.name in VIDEO_ONLY:
            text = f"(video training only) {text}".strip()
        if kind is bool:
            parser.add_argument(flag, type=int, choices=(0, 1), default=int(default),
                                help=f"{text} (default {int(default)})".strip())
        else:
            shown = "" if item.name in ("style_image", "style_name") else f" (default {default!r})"
            parser.add_argument(flag, type=kind, default=default, help=f"{text}{shown}".strip())
    parser.set_defaults(func=_run_training, mode=mode)


def _config_from_args(args: argparse.Namespace) -> TrainConfig:
    values = {}
    for item in fields(TrainConfig):
        value = getattr(args, item.name)
        values[item.name] = bool(value) if isinstance(item.default, bool) else value
    return TrainConfig(**values)


def _announce_stop() -> None:
    print("training: stopping after this iteration and saving a checkpoint (signal again to stop now)",
          file=sys.stderr)


@contextmanager
def run_folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on RUN_DIR/.lock while a run trains, so that a second run started into the same
    folder (twice launched, a farm retry) is refused instead of interleaving its checkpoints with the first.
    The lock goes with the process (also on SIGKILL); where `fcntl` is missing (Windows) nothing is locked.

    Raises:
        ConfigError: another process holds the lock.
        OutputError: the lock file cannot be created.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    from fav_core.errors import OutputError

    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / ".lock", "a+")  # noqa: SIM115 - held for the whole run
    except OSError as exc:
        raise OutputError(folder, f"cannot write the run folder ({exc.strerror or exc})") from None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            owner = handle.read().strip() or "?"
            raise ConfigError(f"{folder}: another training run (pid {owner}) is using this folder") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield


def _run_training(args: argparse.Namespace) -> int:
    config = _config_from_args(args)
    with run_folder_lock(config.output_path):
        return _train(args, config)


def _train(args: argparse.Namespace, config: TrainConfig) -> int:
    from training.checkpoints import state_iteration
    from training.loop import Trainer

    existing = config.output_path / "checkpoint-state.safetensors"
    if args.resume is None and existing.is_file():
        raise ConfigError(f"{config.output_dir}: already holds a checkpoint (iteration {state_iteration(existing)}); "
                          "add --resume to continue it, or choose another --output-dir")
    trainer = Trainer(config, show_progress=True)
    if args.resume is not None:
        source = Path(args.resume or config.output_dir)
        trainer.resume(source)
        if trainer.state.iteration >= config.num_iterations:
            if source.resolve() != config.output_path.resolve():
                raise ConfigError(f"{source}: the checkpoint is at iteration {trainer.state.iteration}, "
                                  f"--num-iterations is {config.num_iterations}: nothing to train")
            print(f"{source}: already at iteration {trainer.state.iteration} (--num-iterations "
                  f"{config.num_iterations}); nothing to train")
            return 0
    token = CancelToken()
    # Ctrl-C / SIGTERM (what job schedulers and farms send first): checkpoint the last whole iteration and stop
    with cancel_on_signals(token, announce=_announce_stop):
        state = trainer.run(cancel=token)
    model_path, _ = trainer.checkpoint_paths()
    print(f"trained {state.iteration} iterations in {state.elapsed_s / 60:.1f} min -> {model_path}")
    return 0


def _build_images(args: argparse.Namespace) -> int:
    from training.datasets import (
        SKIMAGE_TRAIN,
        SKIMAGE_VAL,
        build_image_hdf5,
        read_image_folder,
        skimage_photos,
    )

    if args.input_dir:
        train = read_image_folder(args.input_dir)
        val = read_image_folder(args.val_dir) if args.val_dir else {}
    else:
        train = skimage_photos(args.skimage or SKIMAGE_TRAIN)
        val = skimage_photos(args.skimage_val or SKIMAGE_VAL)
    build_image_hdf5(train, val, args.output, args.height, args.width, args.max_resize, bool(args.center_square),
                     args.seed)
    print(f"wrote {args.output} ({len(train)} train, {len(val)} val images)")
    return 0


def _build_video(args: argparse.Namespace) -> int:
    from fav_core.flow.providers import make_provider
    from training.datasets import build_video_hdf5, read_clip

    size = (args.height, args.width)  # frames are kept at the dataset size only
    train = [read_clip(path, size) for path in args.inputs]
    val = [read_clip(path, size) for path in args.val_inputs]
    provider = make_provider(args.flow)
    build_video_hdf5(train, val, args.output, provider, args.height, args.width, args.sequence_length,
                     args.stride, args.seed)
    print(f"wrote {args.output}")
    return 0


def _build_synthetic_video(args: argparse.Namespace) -> int:
    from fav_core.flow.providers import make_provider
    from training.datasets import SKIMAGE_TRAIN, SKIMAGE_VAL, build_video_hdf5, skimage_photos
    from training.synthetic import synthetic_clips

    size = (args.height, args.width)
    train = synthetic_clips(skimage_photos(args.skimage or SKIMAGE_TRAIN), args.clips_per_image, args.frames, size,
                            args.seed)
    val = synthetic_clips(skimage_photos(args.skimage_val or SKIMAGE_VAL), args.clips_per_image, args.frames, size,
                          args.seed + 1)
    build_video_hdf5(train, val, args.output, make_provider(args.flow), args.height, args.width,
                     args.sequence_length, args.stride, args.seed)
    print(f"wrote {args.output} ({len(train)} train clips, {len(val)} val clips)")
    return 0


def _export(args: argparse.Namespace) -> int:
    import torch

    from fav_core.errors import InputError
    from fav_core.modelfile import load_model, save_model
    from training.checkpoints import read_header

    source = Path(args.checkpoint)
    if source.is_dir():
        source = source / "checkpoint.safetensors"
    elif source.name.endswith("-state.safetensors"):
        read_header(source)  # a malformed file is reported as such
        raise InputError(source, f"is a training-state file; export {source.parent / 'checkpoint.safetensors'} "
                                 "(or the run folder)")
    model = load_model(source)
    dtype = {"float16": torch.float16, "float32": torch.float32, "bfloat16": torch.bfloat16}[args.dtype]
    save_model(args.output, model.net, model.meta, dtype=dtype)
    print(f"wrote {args.output} ({args.dtype}, {model.meta.kind} model, style {model.meta.style_name})")
    return 0


def _populate(commands: argparse._SubParsersAction) -> None:
    image = commands.add_parser("image", help="train an image (first-frame) model")
    _add_config_options(image, "image")
    video = commands.add_parser("video", help="train a video model (7-channel input, temporal loss)")
    _add_config_options(video, "video")

    images = commands.add_parser("build-images", help="images (folder or scikit-image photos) -> image HDF5")
    images.add_argument("-o", "--output", type=Path, required=True)
    images.add_argument("--input-dir", type=Path, help="folder of training images (default: scikit-image photos)")
    images.add_argument("--val-dir", type=Path, help="folder of validation images")
    images.add_argument("--skimage", nargs="*", help="scikit-image photo names for training")
    images.add_argument("--skimage-val", nargs="*", help="scikit-image photo names for validation")
    images.add_argument("--height", type=int, default=256)
    images.add_argument("--width", type=int, default=256)
    images.add_argument("--max-resize", type=int, default=16)
    images.add_argument("--center-square", type=int, choices=(0, 1), default=0,
                        help="crop the central square before resizing (keeps the aspect)")
    images.add_argument("--seed", type=int, default=0)
    images.set_defaults(func=_build_images)

    video_data = commands.add_parser("build-video", help="videos / frame folders -> video HDF5 with flow")
    video_data.add_argument("inputs", nargs="+", type=Path, help="video files or frame folders")
    video_data.add_argument("-o", "--output", type=Path, required=True)
    video_data.add_argument("--val-inputs", nargs="*", type=Path, default=[],
                            help="clips for the val split (default: the train sequences, reshuffled)")
    video_data.add_argument("--flow", default="dis", help="flow provider (dis, deepflow, raft)")
    video_data.add_argument("--height", type=int, default=256)
    video_data.add_argument("--width", type=int, default=384)
    video_data.add_argument("--sequence-length", type=int, default=2)
    video_data.add_argument("--stride", type=int, default=1)
    video_data.add_argument("--seed", type=int, default=0)
    video_data.set_defaults(func=_build_video)

    synth = commands.add_parser("build-synthetic-video",
                                help="synthetic clips (camera move + moving shapes over photos) -> video HDF5")
    synth.add_argument("-o", "--output", type=Path, required=True)
    synth.add_argument("--skimage", nargs="*", help="scikit-image photo names for training clips")
    synth.add_argument("--skimage-val", nargs="*", help="scikit-image photo names for validation clips")
    synth.add_argument("--clips-per-image", type=int, default=3)
    synth.add_argument("--frames", type=int, default=8)
    synth.add_argument("--flow", default="dis", help="flow provider (dis, deepflow, raft)")
    synth.add_argument("--height", type=int, default=128)
    synth.add_argument("--width", type=int, default=128)
    synth.add_argument("--sequence-length", type=int, default=3)
    synth.add_argument("--stride", type=int, default=1)
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(func=_build_synthetic_video)

    export = commands.add_parser("export", help="copy a training checkpoint to a small model file")
    export.add_argument("checkpoint", type=Path, help="RUN_DIR/checkpoint.safetensors or the run folder RUN_DIR")
    export.add_argument("-o", "--output", type=Path, required=True)
    export.add_argument("--dtype", choices=("float16", "bfloat16", "float32"), default="float16")
    export.set_defaults(func=_export)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `train` (with image / video / build-images / build-video) on a `fav` sub-parser set."""
    parser = subparsers.add_parser("train", help="train style models and build training data")
    commands = parser.add_subparsers(dest="train_command", metavar="TRAIN_COMMAND")
    commands.required = True
    _populate(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """`python -m training ...`."""
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="count", default=0)
    commands = parser.add_subparsers(dest="train_command", metavar="COMMAND")
    commands.required = True
    _populate(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except Cancelled as exc:
        print(f"training: cancelled: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("training: cancelled", file=sys.stderr)
        return 130
    except (FavError, ConfigError) as exc:
        print(f"training: error: {exc}", file=sys.stderr)
        return 2
