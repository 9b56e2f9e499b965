"""``fav compare INPUT --model M -o DIR``: stylize per frame and temporally, evaluate both, print the ratio.

Writes ``DIR/temporal/``, ``DIR/per-frame/`` (PNG sequences) and ``DIR/report/`` (``fav evaluate`` output with
the side-by-side video); prints temporal_error(temporal) / temporal_error(per-frame).

``-o`` is required, like ``fav stylize``: a default folder in the working directory was silently overwritten by
the next comparison of another clip, and a shorter clip then evaluated frames left by the longer one.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from fav_core.errors import ConfigError, OutputError

SUBFOLDERS = ("temporal", "per-frame")


def add_parser(sub: argparse._SubParsersAction) -> None:
    from fav_core.cli.stylize import DEFAULT_VIDEO_MODEL

    p = sub.add_parser("compare", help="stylize per frame and temporally, evaluate both, print the flicker ratio",
                       description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("input", help="video file, printf pattern or folder of numbered images")
    p.add_argument("--model", default=DEFAULT_VIDEO_MODEL, help=f"video model (default {DEFAULT_VIDEO_MODEL})")
    p.add_argument("--image-model", default=None, help="first-frame / per-frame model, or self")
    p.add_argument("-o", "--output", required=True,
                   help="output folder (temporal/, per-frame/ and report/ are written inside)")
    p.add_argument("--num-frames", type=int, default=None, metavar="N", help="only the first N frames")
    p.add_argument("--flow-preset", choices=("ultrafast", "fast", "medium"), default="medium")
    p.add_argument("--device", default="auto")
    p.add_argument("--progress", choices=("bar", "none"), default="bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fav_core.cli.main import build_parser

    out = Path(args.output)
    _refuse_stale_frames(out, _frame_indices(args))
    common = ["--model", args.model, "--device", args.device, "--flow-preset", args.flow_preset,
              "--progress", args.progress, "--no-resume"]
    if args.image_model:
        common += ["--image-model", args.image_model]
    if args.num_frames:
        common += ["--num-frames", str(args.num_frames)]
    parser = build_parser()
    for name, extra in (("temporal", []), ("per-frame", ["--per-frame"])):
        sub = parser.parse_args(["stylize", args.input, "-o", str(out / name), *common, *extra])
        sub.func(sub)
    ev_args = ["evaluate", str(out / "temporal"), "--input", args.input, "--compare-per-frame",
               str(out / "per-frame"), "-o", str(out / "report"), "--flow-preset", args.flow_preset]
    if args.num_frames:  # the input is longer than the stylizations on purpose: no length warning
        ev_args += ["--num-frames", str(args.num_frames)]
    ev = parser.parse_args(ev_args)
    return int(ev.func(ev) or 0)


def _frame_indices(args: argparse.Namespace) -> set[int]:
    """The frame numbers the comparison stylizes (the input's, cut by ``--num-frames``); the input is checked."""
    from fav_core.io import open_frames

    if args.num_frames is not None and args.num_frames < 1:
        raise ConfigError(f"--num-frames must be >= 1, got {args.num_frames}")
    with open_frames(args.input) as source:
        indices = sorted(source.indices)
    return set(indices if args.num_frames is None else indices[: args.num_frames])


def _refuse_stale_frames(out: Path, indices: set[int]) -> None:
    """Refuse an output whose frame folders hold frames this run will not write (an earlier, longer clip's):
    the evaluation would read them as part of this clip."""
    for name in SUBFOLDERS:
        folder = out / name
        if not folder.is_dir():
            continue
        stale = sorted(p for p in folder.glob("frame_*.png") if _frame_number(p.stem) not in indices)
        if stale:
            raise OutputError(stale[0], f"left by an earlier comparison ({len(stale)} frame(s) this clip does not "
                              f"have); remove {folder} or choose another -o")


def _frame_number(stem: str) -> int | None:
    digits = stem.removeprefix("frame_")
    return int(digits) if digits.isdigit() else None
