"""``fav stylize-360 INPUT -o OUTPUT``: spherical (360°) video through cube faces with consistent borders.

INPUT is an equirectangular clip (video, image pattern, folder, one image) or six cube-face sequences named by a
two-placeholder pattern (``faces/frame_%05d-%d.png``: frame number, then the reference's face id 1..6). OUTPUT
receives the equirectangular result (video file, pattern or folder); ``--out-cubemap`` and ``--faces-pattern``
write cube layouts into the same output folder. Image-sequence outputs can be resumed or continued
(``--continue-with N``): the blended faces of the last finished frame are kept in ``.fav-state``.
"""
from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path
from typing import Any

from fav_core.errors import Cancelled, ConfigError, InputError

log = logging.getLogger(__name__)

DEFAULT_CUBEMAP = "cubemap/frame_%05d.png"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``stylize-360`` on the ``fav`` sub-command parser."""
    from fav_core.cli.stylize import DEFAULT_VIDEO_MODEL, FLOW_CHOICES, _frame_rate, add_look_options

    p = sub.add_parser(
        "stylize-360",
        help="stylize a spherical (360°) video with consistent cube-face borders",
        description="Stylize an equirectangular video (or six cube-face sequences): faces with overlapping "
        "borders are stylized in turn, each continuing its already stylized neighbours, then blended.",
    )
    p.add_argument("input", help="equirectangular video / pattern / folder / image, or a cube-face pattern with "
                   "two placeholders (frame number, face id 1..6), e.g. faces/frame_%%05d-%%d.png")
    p.add_argument("-o", "--output", required=True,
                   help="equirectangular output: video file, printf pattern or folder (also the folder of the "
                   "cube outputs)")
    p.add_argument("--cube-edge", type=int, default=None, metavar="PX",
                   help="face size in px including the overlap (default: matches the equirect resolution)")
    p.add_argument("--overlap", type=int, default=None, metavar="PX",
                   help="total face overlap in px, even (default: edge/6, the reference's 128 for 768)")
    p.add_argument("--ramp-width", type=int, default=None, metavar="PX",
                   help="blending ramp width (default: the reference's rule, overlap - 10 at 768/128)")
    p.add_argument("--border-maps", choices=("reference", "exact"), default="exact",
                   help="perspective maps for the borders: the exact ones (default) or the reference's "
                   "approximation")
    p.add_argument("--out-equi", default=None, metavar="WxH",
                   help="size of the equirectangular output (default: the input size, or 4x2 cube faces)")
    p.add_argument("--no-equi", action="store_true",
                   help="do not write the equirectangular output (OUTPUT is then the folder for the cube outputs)")
    p.add_argument("--out-cubemap", nargs="?", const=DEFAULT_CUBEMAP, default=None, metavar="PATTERN",
                   help="also write a one-row cube map per frame (default pattern "
                   f"{DEFAULT_CUBEMAP.replace('%', '%%')} inside the output folder, in the format of the "
                   "equirect frames: .exr for scene-linear EXR)")
    p.add_argument("--faces-pattern", default=None, metavar="PATTERN",
                   help="also write the six stylized faces (with overlap), e.g. faces/frame_%%05d-%%d.png")
    p.add_argument("--interpolation", choices=("lanczos4", "cubic", "linear"), default="lanczos4",
                   help="resampling between equirect and cube faces (default lanczos4)")
    p.add_argument("--create-inconsistent-border", action="store_true",
                   help="baseline: no priors from neighbouring faces (the faces are still blended unless "
                   "--no-blend-sides)")
    p.add_argument("--no-blend-sides", action="store_true", help="skip blending each face with its neighbours")
    p.add_argument("--no-border-lock", action="store_true",
                   help="do not composite the neighbours' borders over each face after the net (the reference "
                   "does not; without it the faces still differ at the seams)")
    p.add_argument("--no-neighbour-fill", action="store_true",
                   help="from frame 2 on, do not take content entering a face from its neighbours' previous "
                   "frame (the reference re-paints it, which flickers next to the seams)")
    p.add_argument("--first-faces", choices=("image", "border"), default="image",  # = stylizer360.FIRST_FACES
                   help="first frame, faces 2-6: image = stylize each on its own and blend the neighbours' "
                   "borders into it (default); border = the reference: only the borders as a prior")
    p.add_argument("--flow-margin", type=int, default=None, metavar="PX",
                   help="compute each face's flow on a view this much wider per side (default half the overlap; "
                   "0 = on the face itself, the reference): faces then stay reliable at their borders; cube-face "
                   "input takes the margin from the neighbouring faces")
    p.add_argument("--smooth-certainty", action="store_true",
                   help="tell the net the border prior is certain only in the outer half of the ramp")
    p.add_argument("--model", default=DEFAULT_VIDEO_MODEL, help="video model name or .safetensors path")
    p.add_argument("--image-model", default="self", help="first-face model name/path, or self (default)")
    p.add_argument("--flow", choices=FLOW_CHOICES, default="dis", help="flow source per face (default dis)")
    p.add_argument("--flow-preset", choices=("ultrafast", "fast", "medium"), default="medium")
    p.add_argument("--raft-weights", default=None, help="local RAFT weights file (for --flow raft)")
    p.add_argument("--vectors", choices=("auto", "blender", "nuke"), default="auto",
                   help="host motion-vector convention for --flow pass")
    p.add_argument("--flow-pattern", help="with --flow files: per face, e.g. flow-%%d/backward_[%%d]_{%%d}.flo "
                   "(the bare %%d is the face id)")
    p.add_argument("--occlusions-pattern", help="with --flow files: e.g. flow-%%d/reliable_[%%d]_{%%d}.pgm")
    p.add_argument("--invert-occlusion", action="store_true", help="reliability maps are white = occluded")
    p.add_argument("--fix-occlusions", action="store_true", help="also mark flow leaving the face unreliable")
    add_look_options(p, output="output faces")
    p.add_argument("--fps", type=_frame_rate, default=None, metavar="RATE",
                   help="frame rate of a video output made from an image sequence, e.g. 25, 23.976 or 24000/1001 "
                   "(default 24; a video input keeps its own)")
    p.add_argument("--per-frame", action="store_true", help="no temporal prior (every frame on its own)")
    p.add_argument("--backward", action="store_true", help=argparse.SUPPRESS)  # refused with a reason in run
    p.add_argument("--continue-with", type=int, default=None, metavar="N",
                   help="start at frame N, reloading frame N-1's blended faces from the output folder")
    p.add_argument("--num-frames", type=int, default=None, metavar="N", help="process only the first N frames")
    p.add_argument("--no-resume", action="store_true", help="start over even if OUTPUT holds an earlier run")
    p.add_argument("--progress", choices=("bar", "json", "none"), default="bar",
                   help="progress bar on stderr, JSON lines on stdout, or nothing")
    ev = p.add_argument_group("evaluation (algorithm.md §9.6)")
    ev.add_argument("--evaluate", default=None, metavar="REPORT.json",
                    help="also measure every face of every frame (cut-edge gradient ratio, MSE between touching "
                    "trimmed face edges, temporal error with the flow used; content/style losses with a loss "
                    "network) and write them as JSON")
    ev.add_argument("--eval-style-image", default=None, help="style image for the style loss")
    ev.add_argument("--eval-loss-network", default=None,
                    help="vgg16 | vgg16-t7:PATH | random-multiscale | random-multiscale-literal (default: vgg16 "
                    "with --eval-style-image, else no perceptual losses)")
    ev.add_argument("--eval-loss-weights", default=None, help="VGG-16 weights file for --eval-loss-network vgg16")
    ev.add_argument("--eval-style-image-size", type=int, default=256,
                    help="longer side of the style image for the style loss (default 256)")
    p.set_defaults(func=run, fav_takes_signals=True)  # held start-up signals cancel the job (cli.signals)


def run(args: argparse.Namespace, reporter: Any = None, cancel: Any = None) -> int:
    """Entry point of the sub-command (errors are reported to the progress stream, then re-raised).

    Args:
        args: the parsed ``fav stylize-360`` options.
        reporter: progress sink with ``start/frame/event/close`` (default: from ``--progress``), as for
            :func:`fav_core.cli.stylize.run`, so hosts can run both commands in-process alike.
        cancel: a :class:`fav_core.types.CancelToken` a host can set from another thread; checked before every
            face (SIGINT/SIGTERM set it too when running in the main thread).
    """
    from fav_core.cli.progress import run_reported

    return run_reported(_run, args, reporter, cancel, desc="stylize-360")


def parse_size(text: str) -> tuple[int, int]:
    """``"2560x1440"`` → (H, W) = (1440, 2560).

    Raises:
        ConfigError: not ``WxH`` with positive integers.
    """
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    if not m or int(m.group(1)) < 4 or int(m.group(2)) < 2:
        raise ConfigError(f"--out-equi must be WIDTHxHEIGHT (e.g. 2560x1440), got {text!r}")
    return int(m.group(2)), int(m.group(1))


def default_geometry(equirect_width: int | None, edge: int | None, overlap: int | None) -> Any:
    """Cube size from the options: a cube face matching the equirect resolution (core = W/4), overlap edge/6."""
    from fav_core.spherical.projection import CubeGeometry

    if edge is None and overlap is None:
        if equirect_width is None:
            raise ConfigError("cube-face input: give --overlap (the faces' total overlap in px)")
        core = max(4, round(equirect_width / 4))
        overlap = 2 * round(core / 10)
        edge = core + overlap
    elif edge is None:
        assert overlap is not None and equirect_width is not None
        edge = max(4, round(equirect_width / 4)) + overlap
    elif overlap is None:
        overlap = 2 * round(edge / 12)
    return CubeGeometry(int(edge), int(overlap))


def _open_input(args: argparse.Namespace) -> tuple[Any, Any]:
    """(cube source, a FrameSource that decides output colour/bits/fps).

    With ``--flow pass`` the frames must carry host motion vectors (refused before any work otherwise): cube-face
    EXRs their own, an equirect EXR the Vector pass of a panoramic camera, reprojected to every face.
    """
    vectors = args.flow == "pass" and not args.per_frame
    from fav_core.io import open_frames
    from fav_core.spherical.sources import EquirectCubes, FaceFiles, count_frame_placeholders, warn_alpha

    if count_frame_placeholders(args.input) == 2:
        if args.cube_edge is not None:
            log.info("--cube-edge is ignored for cube-face input (the files decide)")
        if args.overlap is None:
            raise ConfigError("cube-face input: give --overlap (the faces' total overlap in px)")
        margin = _flow_margin(args, args.overlap, face_files=True)
        faces = FaceFiles(args.input, args.overlap, colorspace=args.colorspace, vectors=vectors,
                          vector_convention=args.vectors, flow_margin=margin, interpolation=args.interpolation)
        return faces, faces.sources[0]
    # alpha is not carried into the spherical outputs: the colour is stylized as stored (EXR: over black)
    source = open_frames(args.input, colorspace=args.colorspace, vectors=vectors, vector_convention=args.vectors,
                         alpha="ignore", warn_first_frame=True)
    warn_alpha(source)
    h, w = source.size
    if abs(w - 2 * h) > max(2, 0.02 * w):  # e.g. a 16:9 flat video given by mistake
        log.warning("%s: %dx%d is not an equirect's 2:1 (360x180 degrees): it is stretched over the sphere as if "
                    "it were one", args.input, w, h)
    geometry = default_geometry(source.size[1], args.cube_edge, args.overlap)
    if args.cube_edge is None and args.overlap is None and geometry.overlap < 2:
        raise ConfigError(f"{args.input}: a {source.size[1]}x{source.size[0]} equirect is too small for the "
                          f"default cube faces ({geometry.edge} px with a {geometry.overlap}-px overlap, at least "
                          "2 needed); give --cube-edge and --overlap")
    return EquirectCubes(source, geometry, args.interpolation, flow_margin=_flow_margin(args, geometry.overlap, face_files=False)), source


def _flow_margin(args: argparse.Namespace, overlap: int, *, face_files: bool) -> int:
    """``--flow-margin`` (default half the overlap); 0 without computed flow: no flow at all, flow files made for
    the faces themselves, or cube faces' own motion vectors (an equirect's Vector pass is reprojected to the
    wider views as well)."""
    if args.per_frame or args.flow == "files":
        return 0
    if args.flow == "pass" and face_files:
        if args.flow_margin:
            log.info("--flow-margin is ignored with the cube faces' own motion vectors")
        return 0
    return overlap // 2 if args.flow_margin is None else args.flow_margin


def _motion(args: argparse.Namespace) -> Any:
    from fav_core.cli.stylize import build_motion
    from fav_core.motion import FileMotion
    from fav_core.spherical.faces import FACES, FILE_IDS
    from fav_core.spherical.sources import face_pattern

    if args.per_frame:
        return None
    if args.flow != "files":
        return build_motion(args)
    if not args.flow_pattern or not args.occlusions_pattern:
        raise ConfigError("--flow files needs --flow-pattern and --occlusions-pattern")
    return [
        FileMotion(face_pattern(args.flow_pattern, FILE_IDS[n], expect=1),
                   face_pattern(args.occlusions_pattern, FILE_IDS[n], expect=1),
                   invert=False, fix=False)
        for n in FACES
    ]


def _run(args: argparse.Namespace, reporter: Any, cancel: Any = None) -> int:
    from fav_core.cli.signals import cancel_on_signals
    from fav_core.cli.stylize import VIDEO_EXTS, _abort, output_folder
    from fav_core.io.overwrite import refuse_overwriting_input
    from fav_core.runstate import RunState, continue_position, plan_resume
    from fav_core.spherical.stylizer360 import SphereConfig, Stylizer360, unstack_faces
    from fav_core.stylizer import StylizerConfig
    from fav_core.types import CancelToken

    config = StylizerConfig(
        model=args.model, image_model=args.image_model, device=args.device, precision=args.precision,
        min_filter=args.min_filter, median_filter=args.median_filter, fill=args.fill, per_frame=args.per_frame,
        invert_occlusion=args.invert_occlusion, fix_occlusions=args.fix_occlusions, seed=args.seed,
    )
    if getattr(args, "backward", False):
        raise ConfigError("--backward: fav stylize-360 runs forward only (the faces continue each other frame by "
                          "frame from the first); reverse the input frames to stylize from the end")
    if args.evaluate:
        _check_report_path(args.evaluate)  # not only after the last frame
    try:  # the projection and border maps of the faces are allocated here, before any frame
        cubes, like = _open_input(args)
        geometry = cubes.geometry
        flow_margin = int(getattr(cubes, "flow_margin", 0))
        sphere = SphereConfig(geometry, ramp_width=args.ramp_width,
                              inconsistent_border=args.create_inconsistent_border,
                              blend_sides=not args.no_blend_sides, smooth_certainty=args.smooth_certainty,
                              border_maps=args.border_maps, border_lock=not args.no_border_lock,
                              first_faces=args.first_faces, neighbour_fill=not args.no_neighbour_fill)
        stylizer = Stylizer360(config, sphere, _motion(args))  # loads the models before anything is written
    except MemoryError:
        edge = f"{args.cube_edge}-px" if args.cube_edge else "the"
        raise ConfigError(f"{args.input}: not enough memory for {edge} cube faces (their projection maps); give a "
                          "smaller --cube-edge") from None
    # the nets on one face must fit as well (fav stylize checks its frames the same way)
    try:
        stylizer.stylizer.check(_FaceSize(f"{args.input} (cube faces)", (geometry.edge, geometry.edge)), [])
    except ConfigError as exc:  # its hints (--tile, scaling the frames) are fav stylize's
        raise ConfigError(re.sub(r" \((scale the frames down|tile)[^)]*\)$", " (give a smaller --cube-edge)",
                                 str(exc))) from None
    evaluator = _evaluator(args, stylizer)  # and the loss network
    order = sorted(cubes.indices)
    if args.num_frames is not None:
        if args.num_frames < 1:
            raise ConfigError(f"--num-frames must be >= 1, got {args.num_frames}")
        order = order[: args.num_frames]

    if args.out_cubemap:
        from fav_core.io.pattern import parse_pattern

        if parse_pattern(args.out_cubemap) is None and Path(args.out_cubemap).suffix:  # became a folder "cm.png/"
            raise ConfigError(f"--out-cubemap {args.out_cubemap}: give a pattern with a frame placeholder, e.g. "
                              "cubemap/frame_%05d.png (a name without placeholder is taken as a folder)")

    is_video = not args.no_equi and Path(args.output).suffix.lower() in VIDEO_EXTS
    if not is_video and getattr(args, "fps", None) is not None:
        log.warning("--fps %s is for video outputs; image files have no frame rate (ignored)", args.fps)
    folder = output_folder(args.output) if not args.no_equi else Path(args.output)
    try:
        outputs = Outputs(args, like, folder, geometry, is_video)
    except MemoryError:  # the equirect resampling maps are allocated here, float64, H x W each
        size = args.out_equi or "x".join(map(str, like.size[::-1]))
        raise ConfigError(f"not enough memory for a {size} equirect output (its resampling maps alone need "
                          "about 24 bytes a pixel); give a smaller --out-equi") from None
    if not outputs.sinks:
        raise ConfigError("nothing to write: --no-equi needs --out-cubemap or --faces-pattern")
    for src in getattr(cubes, "sources", None) or [like]:  # no output file may be an input file
        for sink in outputs.sinks:
            refuse_overwriting_input(src, sink, order)

    start = continue_position(order, args.continue_with, args.input, available=cubes.indices)
    state = None if is_video else RunState(folder)
    resume = not args.no_resume and state is not None
    start, prev = plan_resume(order, state, outputs, start=start, resume=resume, continue_with=args.continue_with,
                              settings=settings_record(args, config, sphere, flow_margin), needs_prior=not config.per_frame)
    prior = None
    if prev is not None:
        prior = (prev, unstack_faces(state.load_prior(prev, (6 * geometry.edge, geometry.edge))))
    todo = order[start:]
    _check_motion_files(stylizer, todo, order[start - 1] if start > 0 else None)
    if start > 0 and todo:
        log.warning("resuming at frame %d (%d of %d frames already done)", order[start], start, len(order))
    elif start > 0:
        log.warning("all %d frames are already done in %s (--no-resume to redo them)", len(order), args.output)

    if evaluator is not None and prior is not None:
        evaluator.resume_from(prior[1])
    eval_key = _evaluation_key(args)
    if state is not None and start == 0:  # a fresh run: numbers an earlier run logged are not this run's
        from fav_core.spherical.evaluate import METRICS_LOG

        (state.dir / METRICS_LOG).unlink(missing_ok=True)
    if evaluator is not None and start > 0:
        _take_over_metrics(evaluator, state, order[:start], eval_key)

    if cancel is None:
        cancel = CancelToken()
    if reporter is not None:
        reporter.start(len(todo), first=todo[0] if todo else None, last=todo[-1] if todo else None,
                       resumed_from=todo[0] if start and todo else None, output=str(args.output))
    last_saved = order[start - 1] if start > 0 else None
    written = 0
    with cancel_on_signals(cancel):
        try:
            for result in stylizer.run(cubes, indices=todo, prior=prior, cancel=cancel):
                path = outputs.write(result)
                if evaluator is not None:
                    inputs = [f.rgb for f in cubes.read(result.index).faces] if evaluator.needs_inputs else None
                    metrics = evaluator.add(result, inputs)
                    if state is not None:
                        from fav_core.spherical.evaluate import log_frame_metrics

                        log_frame_metrics(state.dir, result.index, metrics, eval_key)
                if state is not None:
                    state.save_prior(result.index, result.stacked_raw(), drop=last_saved)
                    last_saved = result.index
                written += 1
                if reporter is not None:
                    reporter.frame(written, len(todo), result.index, path)
        except Cancelled as exc:
            exc.done = written  # frames written whole by this run, for the "cancelled" event
            for sink in outputs.sinks:
                _abort(sink)
            raise
        except BaseException:
            for sink in outputs.sinks:
                _abort(sink)
            raise
    outputs.close()
    if evaluator is not None:
        from fav_core.spherical.evaluate import write_report

        evaluator.report.settings.update(settings_record(args, config, sphere, flow_margin))
        evaluator.report.settings["evaluated"] = "blended faces before the median filter; temporal error with " \
            "the flow and reliability each face was stylized with"
        report_path = write_report(args.evaluate, evaluator.report)
        log.info("wrote the evaluation to %s", report_path)
        if reporter is not None:
            reporter.event("evaluation", path=str(report_path))
    if reporter is not None:
        reporter.event("done", written=written, output=str(args.output))
    return 0


class _FaceSize:
    """What :meth:`fav_core.stylizer.Stylizer.check` reads of a source: the frame size and a name for messages."""

    def __init__(self, path: str, size: tuple[int, int]) -> None:
        self.path = path
        self.size = size


def _check_motion_files(stylizer: Any, todo: list[int], prev: int | None) -> None:
    """``--flow files``: every face's flow and reliability file the run will read exists and is of the face size,
    checked before the first frame (a missing file stopped the run at that frame, maybe hours in)."""
    if stylizer.config.per_frame or not todo:
        return
    chain = ([prev] if prev is not None else []) + list(todo)
    pairs = list(zip(chain[1:], chain[:-1], strict=True))
    edge = stylizer.sphere.geometry.edge
    for motion in {id(m): m for m in stylizer.motions if m is not None}.values():
        check = getattr(motion, "check", None)
        if callable(check):
            check(pairs, (edge, edge))


def _evaluation_key(args: argparse.Namespace) -> dict[str, Any]:
    """What the evaluation numbers depend on besides the frames and the run settings."""
    style = args.eval_style_image and str(Path(args.eval_style_image).resolve())
    return {"loss_network": args.eval_loss_network, "style_image": style, "loss_weights": args.eval_loss_weights,
            "style_image_size": args.eval_style_image_size}


def _take_over_metrics(evaluator: Any, state: Any, done: list[int], key: dict[str, Any]) -> None:
    """A resumed or continued run: the frames done before it go into the report from the run state's log; the
    report names any it has no numbers for."""
    from fav_core.spherical.evaluate import load_frame_metrics

    found = load_frame_metrics(state.dir, done, key) if state is not None else {}
    for index in done:
        if index in found:
            evaluator.report.add(index, found[index])
    missing = [i for i in done if i not in found]
    if missing:
        log.warning("--evaluate: no numbers for %d frame(s) done by an earlier run without --evaluate or with other "
                    "evaluation options (%d-%d); the report leaves them out", len(missing), missing[0], missing[-1])
        evaluator.report.settings["frames_not_evaluated"] = missing


def _check_report_path(path: str) -> None:
    """Refuse an ``--evaluate`` report path that cannot be written, before any work (it is written last).

    Raises:
        OutputError: the path is a folder, or its folder cannot be created or written.
    """
    import os

    from fav_core.errors import OutputError

    report = Path(path)
    if report.is_dir():
        raise OutputError(report, "is a folder; --evaluate takes a file name such as report.json")
    folder = report.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(report, f"cannot create its folder ({exc.strerror or exc})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(report, "its folder is not writable")


def _evaluator(args: argparse.Namespace, stylizer: Any) -> Any:
    """The per-face evaluation of ``--evaluate`` (None without it); loads the loss network before any work."""
    if not args.evaluate:
        return None
    from fav_core.spherical.evaluate import RunEvaluator

    perceptual = None
    name = args.eval_loss_network or ("vgg16" if args.eval_style_image else None)
    if name is not None:
        from fav_core.evaluate.perceptual import PerceptualEvaluator, PerceptualSettings
        from fav_core.io import open_frames
        from fav_core.lossnet import make_loss_network

        try:
            net = make_loss_network(name, seed=args.seed, weights=args.eval_loss_weights)
        except InputError as exc:  # its hints name fav evaluate's options; here they are --eval-...
            problem = re.sub(r"--loss-(weights|network)", r"--eval-loss-\1", exc.problem)
            raise type(exc)(exc.path, problem) from None
        style = None
        if args.eval_style_image:
            with open_frames(args.eval_style_image) as src:
                style = src.read(src.indices[0]).rgb
        perceptual = PerceptualEvaluator(net, style, PerceptualSettings(style_image_size=args.eval_style_image_size),
                                         device=stylizer.device)
    coverage = {side: t[0, 0].float().cpu().numpy() for side, t in stylizer.borders.coverage.items()}
    return RunEvaluator(stylizer.sphere.geometry, coverage, perceptual)


class Outputs:
    """The sinks of one run: equirect (OUTPUT), cube map strip, six per-face sequences."""

    def __init__(self, args: argparse.Namespace, like: Any, folder: Path, geometry: Any, is_video: bool) -> None:
        from fav_core.cli.stylize import _output_rate
        from fav_core.io import ImageSequenceSink, make_sink
        from fav_core.io.sinks import exr_linear
        from fav_core.spherical.faces import FACES, FILE_IDS
        from fav_core.spherical.projection import CubeToEquirect
        from fav_core.spherical.sources import face_pattern

        self.geometry = geometry
        self.sinks: list[Any] = []
        self.equi_sink = None
        self.to_equi = None
        bits = 16 if like.pixel_format == "uint16" else 8
        if not args.no_equi:
            if args.out_equi:
                size = parse_size(args.out_equi)
            elif _is_equirect(args):
                size = like.size
            else:
                size = (2 * geometry.core, 4 * geometry.core)
            self.to_equi = CubeToEquirect(geometry, size, args.interpolation)
            fps = _output_rate(args, like) if is_video else None
            self.equi_sink = make_sink(args.output, like=like, fps=fps)
            self.sinks.append(self.equi_sink)
        self.cubemap_sink = None
        if args.out_cubemap:
            pattern = args.out_cubemap
            if pattern == DEFAULT_CUBEMAP:  # the format of the equirect frames (scene-linear EXR stays EXR)
                ext = "exr" if like.linear else "png"
                if isinstance(self.equi_sink, ImageSequenceSink):
                    ext = self.equi_sink.path(like.indices[0]).suffix.lstrip(".") or ext
                pattern = str(Path(DEFAULT_CUBEMAP).with_suffix("." + ext))
            self.cubemap_sink = ImageSequenceSink(pattern, root=folder, bits=bits, linear=exr_linear(like),
                                                  half=like.pixel_format == "half")
            self.sinks.append(self.cubemap_sink)
        self.face_sinks: list[Any] = []
        if args.faces_pattern:
            for name in FACES:
                pattern = face_pattern(args.faces_pattern, FILE_IDS[name], expect=2)
                self.face_sinks.append(ImageSequenceSink(pattern, root=folder, bits=bits, linear=exr_linear(like),
                                                         half=like.pixel_format == "half"))
            self.sinks.extend(self.face_sinks)

    def exists(self, index: int) -> bool:
        """Every image output of frame ``index`` is there (for resuming)."""
        return all(s.exists(index) for s in self.sinks)

    def write(self, result: Any) -> str | None:
        """Write one frame everywhere; returns the equirect file (image sequences) for progress reports."""
        from fav_core.io import ImageSequenceSink
        from fav_core.spherical.layout import cubemap_strip
        from fav_core.types import Frame

        path = None
        if self.equi_sink is not None and self.to_equi is not None:
            self.equi_sink.write(Frame(result.index, self.to_equi(result.faces)))
            if isinstance(self.equi_sink, ImageSequenceSink):
                path = str(self.equi_sink.path(result.index))
        if self.cubemap_sink is not None:
            self.cubemap_sink.write(Frame(result.index, cubemap_strip(result.faces, self.geometry)))
        for sink, face in zip(self.face_sinks, result.faces, strict=False):
            sink.write(Frame(result.index, face))
        return path

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


def _is_equirect(args: argparse.Namespace) -> bool:
    from fav_core.spherical.sources import count_frame_placeholders

    return count_frame_placeholders(args.input) != 2


def settings_record(args: argparse.Namespace, config: Any, sphere: Any, flow_margin: int = 0) -> dict[str, Any]:
    """What must not change between a run and its resumption (``flow_margin``: the one the faces are cut with)."""
    rec = {k: v for k, v in vars(config).items() if k != "device"}
    rec.update(
        mode="stylize-360", input=str(Path(args.input).resolve()), flow=args.flow, flow_preset=args.flow_preset,
        flow_pattern=args.flow_pattern, occlusions_pattern=args.occlusions_pattern,
        cube_edge=sphere.geometry.edge, overlap=sphere.geometry.overlap, ramp_width=sphere.ramp_width,
        inconsistent_border=sphere.inconsistent_border, blend_sides=sphere.blend_sides,
        smooth_certainty=sphere.smooth_certainty, border_maps=sphere.border_maps, interpolation=args.interpolation,
        border_lock=sphere.border_lock, first_faces=sphere.first_faces, flow_margin=flow_margin,
        neighbour_fill=sphere.neighbour_fill,
    )
    return rec
