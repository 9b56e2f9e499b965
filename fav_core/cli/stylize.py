"""``fav stylize INPUT -o OUTPUT``: the main job — a temporally consistent stylization of a clip."""
from __future__ import annotations

import argparse
import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

from fav_core.cli.signals import cancel_on_signals
from fav_core.errors import Cancelled, ConfigError
from fav_core.process_memory import enable_huge_pages

log = logging.getLogger(__name__)

DEFAULT_VIDEO_MODEL = "stained-glass-video"
DEFAULT_IMAGE_MODEL = "stained-glass-image"
FLOW_CHOICES = ("dis", "deepflow", "raft", "files", "pass")
VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".avi", ".webm")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stylize",
        help="stylize a clip with temporal consistency",
        description="Stylize a video or image sequence: frame 1 with the image model (or the video model "
        "itself), every later frame with the video model fed the warped previous output.",
    )
    p.add_argument("input", help="video file, printf pattern (frame_%%04d.png, ####) or folder of numbered images")
    p.add_argument("-o", "--output", required=True, help="video file (.mp4/.mov/.mkv), printf pattern or folder")
    p.add_argument("--model", default=DEFAULT_VIDEO_MODEL, help="video model name or .safetensors path "
                   f"(default {DEFAULT_VIDEO_MODEL})")
    p.add_argument("--image-model", default=None,
                   help=f"first-frame model name/path, or 'self' (default {DEFAULT_IMAGE_MODEL} when --model is "
                   "the default, else self)")
    p.add_argument("--flow", choices=FLOW_CHOICES, default="dis",
                   help="flow source: computed (dis, deepflow, raft), precomputed files, or host render-pass "
                   "vectors in EXR inputs (pass) (default dis)")
    p.add_argument("--flow-preset", choices=("ultrafast", "fast", "medium"), default="medium",
                   help="DIS preset (default medium)")
    p.add_argument("--raft-weights", default=None, help="local RAFT weights file (needed for --flow raft)")
    p.add_argument("--vectors", choices=("auto", "blender", "nuke"), default="auto",
                   help="host motion-vector convention for --flow pass (default auto)")
    p.add_argument("--flow-pattern", help="with --flow files: e.g. flow/backward_[%%d]_{%%d}.flo")
    p.add_argument("--occlusions-pattern", help="with --flow files: e.g. flow/reliable_[%%d]_{%%d}.pgm")
    p.add_argument("--invert-occlusion", action="store_true", help="reliability maps are white = occluded")
    p.add_argument("--fix-occlusions", action="store_true", help="also mark flow leaving the frame unreliable")
    p.add_argument("--alpha", choices=("auto", "ignore"), default="auto",
                   help="input alpha: auto = carried through (colour unpremultiplied for the network, the output "
                   "premultiplied again: light where alpha is 0, e.g. glows, is lost, with a warning); ignore = "
                   "stylize the colour as stored (EXR: the picture over black) and write no alpha (default auto)")
    add_look_options(p)
    p.add_argument("--fps", type=_frame_rate, default=None, metavar="RATE",
                   help="frame rate of a video output made from an image sequence, e.g. 25, 23.976 or 24000/1001 "
                   "(default 24; a video input keeps its own)")
    p.add_argument("--backward", action="store_true", help="process from the last frame to the first")
    p.add_argument("--continue-with", type=int, default=None, metavar="N",
                   help="start at frame N, reloading frame N-1's saved prior from the output folder")
    p.add_argument("--num-frames", type=int, default=None, metavar="N", help="process only the first N frames")
    p.add_argument("--per-frame", action="store_true",
                   help="stylize every frame independently (the flickering baseline)")
    p.add_argument("--tile", type=int, default=None, metavar="N",
                   help="run the network in overlapping tiles of at most N px per side (for frames that do not "
                   "fit in memory; default: only when the memory estimate or the GPU says so)")
    p.add_argument("--tile-stats", choices=("exact", "downscaled"), default="exact",
                   help="instance-norm statistics of tiled frames: exact (tiles look exactly like an untiled run; "
                   "about L/2 extra passes for L norm layers) or downscaled (from the frame scaled down to one "
                   "tile: faster, a slightly different look) (default exact)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for the network (default: torch's default, one per core)")
    p.add_argument("--readers", type=int, default=None, metavar="N",
                   help="threads that decode frames and compute their motion ahead of the network "
                        "(default: half the cores, 1 to 4)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the networks (first run compiles for a while; the result is cached in "
                   "~/.cache/fav/compile for later runs)")
    p.add_argument("--no-resume", action="store_true",
                   help="start over even if OUTPUT already holds frames of an earlier run")
    p.add_argument("--progress", choices=("bar", "json", "none"), default="bar",
                   help="progress on stderr (bar) or JSON lines on stdout for hosts (json)")
    p.set_defaults(func=run, fav_takes_signals=True)  # held start-up signals cancel the job (cli.signals)


def add_look_options(p: argparse.ArgumentParser, output: str = "output") -> None:
    """Options every stylizing command shares (stylize, stylize-360, farm): filters, fill, device, precision,
    input encoding and the fill's seed — one definition, one set of defaults."""
    p.add_argument("--min-filter", type=int, default=7, help="erosion of the reliability map, k×k (default 7)")
    p.add_argument("--median-filter", type=int, default=3,
                   help=f"median on the {output}, k×k (default 3; 1 = off)")
    p.add_argument("--fill", choices=("vgg-mean", "uniform-random"), default=None,
                   help="fill of unreliable prior pixels (default: the model's training fill)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--precision", choices=("auto", "fp32", "fp16", "bf16"), default="auto",
                   help="precision of the nets (default auto: fp16 on CUDA, fp32 on the CPU)")
    p.add_argument("--colorspace", choices=("auto", "srgb", "linear"), default="auto",
                   help="encoding of the input pixels (default auto: EXR/float = scene-linear)")
    p.add_argument("--seed", type=int, default=0, help="seed of the uniform-random fill")


def run(args: argparse.Namespace, reporter: Any = None, cancel: Any = None) -> int:
    """Run the job described by parsed ``args``.

    Args:
        args: the parsed ``fav stylize`` options (hosts build them with ``build_parser().parse_args``).
        reporter: progress sink with ``start/frame/event/close`` (default: from ``--progress``).
        cancel: a :class:`fav_core.types.CancelToken` a host can set from another thread; checked before
            every frame (SIGINT/SIGTERM set it too when running in the main thread).
    """
    from fav_core.cli.progress import run_reported

    return run_reported(_run, args, reporter, cancel, desc="stylize")


def _run(args: argparse.Namespace, reporter: Any, cancel: Any = None) -> int:
    # Large CPU tensors on transparent huge pages (fav_core.process_memory); only takes effect when torch is not
    # imported yet. The fav console entry point has already done this and the glibc part.
    enable_huge_pages()
    from fav_core.inference import EngineOptions
    from fav_core.io import ImageSequenceSink, make_sink, open_frames
    from fav_core.io.overwrite import refuse_overwriting_input, refuse_writing_into_the_input_folder
    from fav_core.pipeline import BackgroundWriter, FramePipeline
    from fav_core.runstate import RunState, continue_position, plan_resume
    from fav_core.stylizer import StylizedFrame, Stylizer, resolve_device
    from fav_core.types import CancelToken, Frame

    config = config_from_args(args)
    if args.flow == "pass":  # the frames must carry host vectors; refuse before any work if they do not
        source = open_frames(args.input, colorspace=args.colorspace, vectors=True, vector_convention=args.vectors,
                             alpha=getattr(args, "alpha", "auto"), warn_first_frame=True)
    else:
        source = open_frames(args.input, colorspace=args.colorspace, vectors=False,
                             alpha=getattr(args, "alpha", "auto"), warn_first_frame=True)
    indices = sorted(source.indices)
    if args.num_frames is not None:
        if args.num_frames < 1:
            raise ConfigError(f"--num-frames must be >= 1, got {args.num_frames}")
        indices = indices[: args.num_frames]
    on_cuda = resolve_device(config.device).type == "cuda"  # the device path runs the consistency check itself
    motion = None if config.per_frame else build_motion(args, defer_check=on_cuda)
    # Decode and flow run ahead of the network in a background thread (FramePipeline), writes behind it.
    pipe = FramePipeline(source, motion, readers=getattr(args, "readers", None))
    engine = EngineOptions(threads=args.threads, compile=args.compile)
    # loads and checks the models before anything is written
    stylizer = Stylizer(config, pipe.motion_view, engine=engine)
    order = stylizer.order(indices)

    start = continue_position(order, args.continue_with, args.input, available=source.indices)

    # Everything that can be checked (frame size vs memory, motion files) before anything is written or cleared.
    stylizer.check(source, order[start:], prior_index=order[start - 1] if start > 0 else None)

    is_video = Path(args.output).suffix.lower() in VIDEO_EXTS
    # a video, or one image file (a single-frame job): nothing to resume, no run state left next to the file
    state = None if is_video or _single_image(args.output) else RunState(output_folder(args.output))
    if is_video:
        sink = make_sink(args.output, like=source, fps=_output_rate(args, source))
    else:  # no frame path may leave the chosen output folder
        if getattr(args, "fps", None) is not None:
            log.warning("--fps %s is for video outputs; image files have no frame rate (ignored)", args.fps)
        root = os.path.abspath(output_folder(args.output))
        sink = make_sink(os.path.abspath(args.output), like=source, root=root)
    refuse_overwriting_input(source, sink, order[start:])
    refuse_writing_into_the_input_folder(args.input, output_folder(args.output), is_video)
    if is_video and config.direction == "backward":
        sink = ReorderingSink(sink, Path(args.output).parent)
    resume = not args.no_resume and state is not None
    start, prev = plan_resume(order, state, sink, start=start, resume=resume, continue_with=args.continue_with,
                              settings=settings_record(args, config), needs_prior=not config.per_frame)
    _warn_foreign_frames(sink, order)
    prior = None
    if prev is not None:
        raw = state.load_prior(prev, source.size)
        prior = StylizedFrame(prev, raw, raw)
    todo = order[start:]
    if start > 0 and todo:
        log.warning("resuming at frame %d (%d of %d frames already done)", order[start], start, len(order))
    elif start > 0:
        log.warning("all %d frames are already done in %s (--no-resume to redo them)", len(order), args.output)

    cancel = cancel if cancel is not None else CancelToken()
    if reporter is not None:
        reporter.start(len(todo), first=todo[0] if todo else None, last=todo[-1] if todo else None,
                       resumed_from=todo[0] if start and todo else None, output=str(args.output))
    written = 0
    last_saved = order[start - 1] if start > 0 else None

    def write_one(out: StylizedFrame) -> tuple[int, str | None]:  # runs in the writer thread, in order
        nonlocal last_saved
        sink.write(Frame(out.index, out.rgb, out.alpha, source=out.source))
        path = sink.path(out.index) if isinstance(sink, ImageSequenceSink) else None
        if state is not None:
            state.save_prior(out.index, out.raw, drop=last_saved)
            last_saved = out.index
        return out.index, str(path) if path else None

    def report_written() -> None:  # progress events stay in this thread, after each frame is written whole
        nonlocal written
        for index, path in writer.completed():
            written += 1
            if reporter is not None:
                reporter.frame(written, len(todo), index, path)

    pipe.start(todo, prior_index=prior.index if prior is not None and not config.per_frame else None)
    writer: BackgroundWriter[StylizedFrame, tuple[int, str | None]] = BackgroundWriter(write_one)
    with cancel_on_signals(cancel):
        try:
            with pipe:
                for out in stylizer.run(pipe.source_view, indices=todo, prior=prior, cancel=cancel):
                    writer.submit(out)
                    report_written()
            writer.close()
            report_written()
        except Cancelled as exc:
            _finish_writes(writer)
            report_written()
            exc.done = written  # frames written whole by this run, for the "cancelled" event
            _abort(sink)
            raise
        except Exception:
            _finish_writes(writer)  # frames finished before the error are kept (resume starts after them)
            report_written()
            _abort(sink)
            raise
        except BaseException:  # second Ctrl-C / exit: stop after the frame being written
            writer.abandon()
            _abort(sink)
            raise
    sink.close()
    if reporter is not None:
        reporter.event("done", written=written, output=str(args.output))
    return 0


class ReorderingSink:
    """Buffers frames produced last-to-first as float EXRs in a hidden temporary folder, then feeds them to a
    video sink in frame order at close (a video is written front to back)."""

    def __init__(self, sink: Any, folder: Path) -> None:
        import tempfile

        from fav_core.errors import OutputError
        from fav_core.io import ImageSequenceSink
        from fav_core.io.atomic import describe_oserror

        self.sink = sink
        try:
            self.tmp = Path(tempfile.mkdtemp(prefix=".fav-reorder-", dir=folder))
        except OSError as exc:
            raise OutputError(folder, f"cannot create the backward run's frame buffer: {describe_oserror(exc)}") from exc
        self.buffer = ImageSequenceSink(str(self.tmp / "f_%07d.exr"), linear=False)
        self.indices: list[int] = []

    def exists(self, index: int) -> bool:
        return False

    def write(self, frame: Any) -> None:
        self.buffer.write(frame)
        self.indices.append(frame.index)

    def close(self) -> None:
        from fav_core.io import open_frames

        self.buffer.close()
        try:
            frames = open_frames(str(self.tmp / "f_%07d.exr"), colorspace="srgb")
            for index in sorted(self.indices):
                self.sink.write(frames.read(index))
            self.sink.close()
        finally:
            self._cleanup()

    def abort(self) -> None:
        _abort(self.sink)
        self._cleanup()

    def _cleanup(self) -> None:
        import shutil

        shutil.rmtree(self.tmp, ignore_errors=True)


def config_from_args(args: argparse.Namespace) -> Any:
    """The one mapping from CLI options to :class:`StylizerConfig`."""
    from fav_core.stylizer import StylizerConfig

    image_model = args.image_model
    if image_model is None:
        image_model = DEFAULT_IMAGE_MODEL if args.model == DEFAULT_VIDEO_MODEL else "self"
    return StylizerConfig(
        model=args.model,
        image_model=image_model,
        device=args.device,
        precision=args.precision,
        min_filter=args.min_filter,
        median_filter=args.median_filter,
        fill=args.fill,
        direction="backward" if args.backward else "forward",
        per_frame=args.per_frame,
        invert_occlusion=args.invert_occlusion,
        fix_occlusions=args.fix_occlusions,
        seed=args.seed,
        tile=getattr(args, "tile", None),
        tile_stats=getattr(args, "tile_stats", "exact"),
    )


def build_motion(args: argparse.Namespace, defer_check: bool = False) -> Any:
    """The motion source (flow + reliability for each frame pair) named by ``--flow``.

    ``defer_check``: computed sources hand over both flows and leave the consistency check to the consumer
    (``PendingMotion``); only worth it when the Stylizer runs the check on a CUDA device.
    """
    from fav_core.flow import make_provider
    from fav_core.motion import ComputedMotion, FileMotion, PassMotion

    if args.flow == "files":
        if not args.flow_pattern or not args.occlusions_pattern:
            raise ConfigError("--flow files needs --flow-pattern and --occlusions-pattern")
        return FileMotion(args.flow_pattern, args.occlusions_pattern)
    if args.flow_pattern or args.occlusions_pattern:
        raise ConfigError("--flow-pattern/--occlusions-pattern need --flow files")
    if args.flow == "raft":
        if not args.raft_weights:
            raise ConfigError("--flow raft needs --raft-weights PATH (weights are never downloaded)")
        return ComputedMotion(make_provider("raft", weights_path=args.raft_weights), defer_check=defer_check)
    if args.flow == "pass":
        fallback = ComputedMotion(make_provider("dis", preset=args.flow_preset), defer_check=defer_check)
        return PassMotion(fallback=fallback, defer_check=defer_check)
    if args.flow == "dis":
        return ComputedMotion(make_provider("dis", preset=args.flow_preset), defer_check=defer_check)
    return ComputedMotion(make_provider(args.flow), defer_check=defer_check)


def output_folder(output: str) -> Path:
    """The folder an image-sequence output goes to: a pattern's or a file's parent, or the folder itself.

    A name is a file only when it ends in an image or video type (``out.mp4``, ``still.png``); any other dotted
    name is a folder, as :func:`fav_core.io.make_sink` takes it (``shot010.v002`` holds its frames and its own
    run state, not its parent).
    """
    from fav_core.io.pattern import parse_pattern
    from fav_core.io.sinks import IMAGE_OUT_EXTENSIONS, UNWRITABLE_EXTENSIONS, VIDEO_OUT_EXTENSIONS

    p = Path(output)
    kind = p.suffix.lower().lstrip(".")
    if parse_pattern(p.name) is not None or kind in (*IMAGE_OUT_EXTENSIONS, *VIDEO_OUT_EXTENSIONS):
        return p.parent
    if kind in UNWRITABLE_EXTENSIONS or f".{kind}" in VIDEO_EXTS:
        return p.parent
    return p


def _frame_rate(text: str) -> Fraction:
    """``--fps``: a positive number or fraction (``25``, ``23.976``, ``24000/1001``); 23.976 and 29.97 and 59.94
    mean the NTSC rates (24000/1001 ...), as in editing software."""
    try:
        rate = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a frame rate: {text!r} (e.g. 25, 23.976, 24000/1001)") from None
    if rate <= 0 or rate > 1000:
        raise argparse.ArgumentTypeError(f"frame rate must be in (0, 1000], got {text}")
    for base in (24, 30, 60):
        ntsc = Fraction(base * 1000, 1001)
        if rate != ntsc and abs(float(rate) - float(ntsc)) < 0.0006:  # 23.976 written for 24000/1001
            return ntsc
    return rate


def _output_rate(args: argparse.Namespace, source: Any) -> Fraction | None:
    """The ``--fps`` for a video output; refused when the input is a video with a rate of its own."""
    fps = getattr(args, "fps", None)
    if fps is None:
        return None
    own = getattr(source, "rate", None) or getattr(source, "fps", None)
    if own and Fraction(own) != fps:
        raise ConfigError(f"--fps {fps}: the input video has its own rate ({float(own):.3f} fps), kept with its "
                          "audio; --fps is for image-sequence inputs")
    return fps


def _single_image(output: str) -> bool:
    """True when ``output`` is one image file (``still.png``), not a pattern or a folder."""
    from fav_core.io.pattern import parse_pattern
    from fav_core.io.sinks import IMAGE_OUT_EXTENSIONS

    p = Path(output)
    return parse_pattern(p.name) is None and p.suffix.lower().lstrip(".") in IMAGE_OUT_EXTENSIONS


def settings_record(args: argparse.Namespace, config: Any) -> dict[str, Any]:
    """What must not change between a run and its resumption (anything that changes the pixels)."""
    rec = {k: v for k, v in vars(config).items() if k not in ("device",)}
    rec.update(input=str(Path(args.input).resolve()), flow=args.flow, flow_preset=args.flow_preset,
               flow_pattern=args.flow_pattern, occlusions_pattern=args.occlusions_pattern)
    if getattr(args, "alpha", "auto") != "auto":  # only when set: states written before the option still resume
        rec["alpha"] = args.alpha
    return rec


def _warn_foreign_frames(sink: Any, order: list[int]) -> None:
    """Warn when the output folder holds frames this run does not write (an earlier, longer run's, or frames
    outside --num-frames): they stay, and would be taken for part of this result."""
    existing = getattr(sink, "existing_indices", None)
    if not callable(existing):
        return
    wanted = set(order)
    foreign = [i for i in existing() if i not in wanted]
    if foreign:
        log.warning("%s already holds %d frame(s) this run does not write (%s%s); they are left as they are",
                    sink.path(foreign[0]).parent, len(foreign), sink.path(foreign[0]).name,
                    f" ... {sink.path(foreign[-1]).name}" if len(foreign) > 1 else "")


def _finish_writes(writer: Any) -> None:
    """Write what is queued, when an error stops the loop; a failing writer's own error is logged only (the
    loop's error is the one reported)."""
    try:
        writer.close()
    except Exception as exc:  # noqa: BLE001 - secondary to the error being raised
        log.debug("writer stopped with %s: %s", type(exc).__name__, exc)


def _abort(sink: Any) -> None:
    abort = getattr(sink, "abort", None)
    if callable(abort):
        abort()
