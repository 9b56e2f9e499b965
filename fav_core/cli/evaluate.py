"""``fav evaluate STYLIZED --input FRAMES -o REPORT_DIR``: temporal error and perceptual losses like the paper."""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from fav_core.errors import ConfigError, OutputError

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="measure temporal consistency and content/style losses of a stylized clip",
        description="Per-frame temporal error exactly as the reference's evaluation mode (warped previous output "
        "vs. current output, masked, mean over all pixels), content and style losses with a loss network, "
        "a JSON + CSV report, a per-frame chart, a heat map and a side-by-side comparison video. Without "
        "--flow-pattern-eval the flow is computed on the input frames (DIS) and the report says so.",
    )
    p.add_argument("stylized", help="stylized frames: pattern, folder or video")
    p.add_argument("--input", required=True, help="the original input frames (pattern, folder or video)")
    p.add_argument("-o", "--output", required=True, help="report folder")
    p.add_argument("--style-image", default=None, help="style image for the style loss")
    p.add_argument("--style-image-size", type=int, default=256,
                   help="resize the style image so its longer side is this (default 256)")
    p.add_argument("--loss-network", default=None,
                   help="vgg16 | vgg16-t7:PATH | random-multiscale | random-multiscale-literal "
                   "(default: vgg16 when --style-image is given, else no perceptual losses)")
    p.add_argument("--loss-weights", default=None,
                   help="VGG-16 weights file (torchvision layout, safetensors/pth); without it vgg16 uses the torch "
                   "hub cache and is refused when the weights are not there (never downloaded)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random loss networks (default 0)")
    p.add_argument("--flow-pattern-eval", default=None, help="ground-truth flow files, e.g. flow/backward_[%%d]_{%%d}.flo, or named by the start frame only "
                   "(Sintel: flow/frame_[%%04d].flo)")
    p.add_argument("--occlusions-pattern-eval", default=None, help="reliability maps (PGM or any greyscale image), e.g. flow/reliable_[%%d]_{%%d}.pgm or Sintel's "
                   "occlusions/frame_[%%04d].png with --invert-occlusion-eval")
    p.add_argument("--backward-eval", action="store_true",
                   help="the flow files are forward flows i-1 -> i (e.g. Sintel); warp the current output back")
    p.add_argument("--invert-occlusion-eval", action="store_true", help="maps are white = occluded")
    p.add_argument("--fix-occlusions-eval", action="store_true", help="mark flow leaving the frame unreliable")
    p.add_argument("--flow", choices=("dis", "deepflow", "raft"), default="dis",
                   help="flow method when no flow files are given (default dis)")
    p.add_argument("--flow-preset", choices=("ultrafast", "fast", "medium"), default="medium")
    p.add_argument("--raft-weights", default=None, help="local RAFT weights file (needed for --flow raft)")
    p.add_argument("--compare-per-frame", default=None, metavar="DIR",
                   help="a per-frame stylization of the same input: evaluated too, shown in the video, and the "
                   "ratio temporal error(stylized) / temporal error(per-frame) is reported")
    p.add_argument("--num-frames", type=int, default=None, metavar="N",
                   help="evaluate only the first N frames (default: all; sequences of unequal length are cut to "
                   "the shortest with a warning)")
    p.add_argument("--heatmap-frame", type=int, default=None, help="frame for the heat map (default: worst frame)")
    p.add_argument("--no-video", action="store_true", help="do not write the comparison video")
    p.add_argument("--device", default="cpu", help="torch device of the loss network: cpu, cuda, cuda:N, mps or "
                   "auto (default cpu)")
    p.set_defaults(func=run)


def _perceptual(args: argparse.Namespace):  # noqa: ANN202 - returns PerceptualEvaluator | None
    from fav_core.evaluate.perceptual import PerceptualEvaluator, PerceptualSettings
    from fav_core.io import open_frames
    from fav_core.lossnet import make_loss_network
    from fav_core.stylizer import resolve_device

    name = args.loss_network or ("vgg16" if args.style_image else None)
    if name is None:
        return None
    # never downloads (nothing fetches weights at run time): without a cached copy the error names
    # --loss-weights and the random networks
    net = make_loss_network(name, seed=args.seed, weights=args.loss_weights, allow_download=False)
    style = None
    if args.style_image:
        with open_frames(args.style_image) as src:
            style = src.read(src.indices[0]).rgb
    return PerceptualEvaluator(net, style, PerceptualSettings(style_image_size=args.style_image_size),
                               device=resolve_device(args.device))


def run(args: argparse.Namespace) -> int:
    from fav_core.evaluate.compare_video import write_comparison_video
    from fav_core.evaluate.plots import plot_frame_errors, plot_heatmap
    from fav_core.evaluate.report import write_csv, write_json
    from fav_core.evaluate.sequence import evaluate_sequences
    from fav_core.evaluate.temporal import EvalMotion, EvalMotionConfig
    from fav_core.io import open_frames

    out_dir = Path(args.output)
    motion_cfg = EvalMotionConfig(
        flow_pattern=args.flow_pattern_eval, occlusions_pattern=args.occlusions_pattern_eval,
        backward_eval=args.backward_eval, invert=args.invert_occlusion_eval, fix=args.fix_occlusions_eval,
        flow_method=args.flow, flow_preset=args.flow_preset, raft_weights=args.raft_weights,
    )
    if motion_cfg.computed:
        log.warning("no --flow-pattern-eval: computing flow with %s on the input frames for the temporal error",
                    args.flow)
    perceptual = _perceptual(args)
    inputs = open_frames(args.input)
    stylized = {"stylized": open_frames(args.stylized)}
    if args.compare_per_frame:
        stylized["per_frame"] = open_frames(args.compare_per_frame)
    _refuse_frame_folder(out_dir, {"input": inputs, **stylized})
    source_files = _source_files([inputs, *stylized.values()])
    if not args.no_video:
        _refuse_overwriting_source(out_dir / "comparison.mp4", source_files)
    _check_heatmap_frame(args.heatmap_frame, list(inputs.indices)[: args.num_frames])
    result = evaluate_sequences(inputs, stylized, motion=EvalMotion(motion_cfg), perceptual=perceptual,
                                heatmap_frame=args.heatmap_frame, max_frames=args.num_frames)
    report = result.report
    report.settings.update({
        "input": str(args.input),
        "stylized": str(args.stylized),
        "per_frame": args.compare_per_frame,
        "motion": motion_cfg.describe(),
        "flow": "computed" if motion_cfg.computed else "files",
        "perceptual": perceptual.describe() if perceptual is not None else None,
        "style_image": args.style_image,
    })
    files = [write_json(out_dir / "evaluation.json", report), write_csv(out_dir / "evaluation.csv", report)]
    files.append(plot_frame_errors(out_dir / "errors.png", report.sequences, title=Path(args.stylized).name))
    if result.heatmap is not None and result.heatmap_frame is not None:
        files.append(plot_heatmap(out_dir / f"heatmap_{result.heatmap_frame:05d}.png", result.heatmap,
                                  result.heatmap_frame, result.heatmap_rgb))
    if not args.no_video:
        sources = [inputs, *stylized.values()]
        labels = ["input", *("per-frame" if k == "per_frame" else "stylized" for k in stylized)]
        if "per_frame" in stylized:  # input | per-frame | temporal
            sources = [inputs, stylized["per_frame"], stylized["stylized"]]
            labels = ["input", "per-frame", "temporal"]
        files.append(write_comparison_video(out_dir / "comparison.mp4", sources, labels,
                                            count=report.settings["evaluated_frames"]))
    _remove_stale(out_dir, files, source_files)
    summary = report.summary()
    te = summary["stylized"]["temporal_error"]["mean"]
    print(f"temporal error (mean over {summary['stylized']['temporal_error']['count']} frame pairs): "
          f"{'n/a' if te is None else f'{te:.6g}'}  [{motion_cfg.describe()}]")
    if "temporal_error_ratio" in summary:
        print(f"temporal error ratio stylized / per-frame: {summary['temporal_error_ratio']:.4g}")
    for key in ("content_loss", "style_loss"):
        mean = summary["stylized"][key]["mean"]
        if mean is not None:
            print(f"{key.replace('_', ' ')} (mean): {mean:.6g}")
    for f in files:
        print(f"wrote {f}")
    return 0


#: Report files whose names change from run to run or that a run may not write (``--no-video``).
STALE_GLOBS = ("heatmap_*.png", "comparison.mp4")


def _refuse_frame_folder(out_dir: Path, sources: dict[str, Any]) -> None:
    """Refuse a report folder that holds frames being evaluated: the charts and heat maps written there would
    become part of the sequence (the next evaluation of that folder fails on ``errors.png``)."""
    if not out_dir.is_dir():
        return
    for name, source in sources.items():
        file_of = getattr(source, "file", None)  # image sequences only: a video's folder may hold the report
        if not callable(file_of) or not source.indices:
            continue
        for frame_file in (Path(file_of(source.indices[0])),):
            folder = frame_file.parent
            if folder.is_dir() and os.path.samefile(folder, out_dir):
                raise OutputError(out_dir, f"is the folder of the {name} frames; the report would be written "
                                  "among them, choose another -o")


def _check_heatmap_frame(frame: int | None, indices: list[int]) -> None:
    """``--heatmap-frame`` must be an evaluated input frame after the first (the first has no temporal error);
    otherwise no heat map was written, without a word."""
    if frame is None or frame in indices[1:]:
        return
    have = f"frames {indices[1]}..{indices[-1]} have one" if len(indices) > 1 else "the input has a single frame"
    raise ConfigError(f"--heatmap-frame {frame}: not an input frame with a temporal error ({have})")


def _source_files(sources: list[Any]) -> list[Path]:
    """The files the evaluated sequences read (every frame file, or the video)."""
    from fav_core.io.overwrite import input_files

    return [p for src in sources for p in input_files(src) if p.is_file()]


def _is_one_of(path: Path, files: list[Path]) -> bool:
    return path.is_file() and any(os.path.samefile(path, f) for f in files)


def _refuse_overwriting_source(path: Path, source_files: list[Path]) -> None:
    if _is_one_of(path, source_files):
        raise OutputError(path, "is one of the evaluated sequences; the comparison video would replace it, choose "
                          "another -o or pass --no-video")


def _remove_stale(out_dir: Path, written: list[Path], source_files: list[Path]) -> None:
    """Delete heat maps and comparison videos an earlier evaluation left in the report folder that this run did
    not write, so every picture in the folder belongs to the report next to it (never an evaluated file)."""
    keep = {p.name for p in written}
    for pattern in STALE_GLOBS:
        for old in sorted(out_dir.glob(pattern)):
            if old.name not in keep and old.is_file() and not _is_one_of(old, source_files):
                try:
                    old.unlink()
                except OSError as exc:
                    raise OutputError(old, f"left by an earlier evaluation and cannot be removed "
                                      f"({exc.strerror or exc})") from None
                log.info("removed %s (from an earlier evaluation)", old)
