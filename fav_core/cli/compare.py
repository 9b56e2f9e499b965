"""``fav compare INPUT --model M -o DIR``: stylize per frame and temporally, evaluate both, print the ratio.

Writes ``DIR/temporal/``, ``DIR/per-frame/`` (PNG sequences) and ``DIR/report/`` (``fav evaluate`` output with
the side-by-side video); prints temporal_error(temporal) / temporal_error(per-frame).
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    from fav_core.cli.stylize import DEFAULT_VIDEO_MODEL

    p = sub.add_parser("compare", help="stylize per frame and temporally, evaluate both, print the flicker ratio",
                       description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("input", help="video file, printf pattern or folder of numbered images")
    p.add_argument("--model", default=DEFAULT_VIDEO_MODEL, help=f"video model (default {DEFAULT_VIDEO_MODEL})")
    p.add_argument("--image-model", default=None, help="first-frame / per-frame model, or self")
    p.add_argument("-o", "--output", default="compare", help="output folder (default ./compare)")
    p.add_argument("--num-frames", type=int, default=None, metavar="N", help="only the first N frames")
    p.add_argument("--flow-preset", choices=("ultrafast", "fast", "medium"), default="medium")
    p.add_argument("--device", default="auto")
    p.add_argument("--progress", choices=("bar", "none"), default="bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fav_core.cli.main import build_parser

    out = Path(args.output)
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
    ev = parser.parse_args(["evaluate", str(out / "temporal"), "--input", args.input, "--compare-per-frame",
                            str(out / "per-frame"), "-o", str(out / "report"), "--flow-preset", args.flow_preset])
    return int(ev.func(ev) or 0)
