"""``fav farm INPUT... -o OUTPUT --workers N``: flows and chunked stylization on a Ray cluster.

Flows for every frame pair run in parallel (``fav flow`` file names, in ``--flow-dir``); then every shot is
stylized in chunks of ``--chunk-size`` frames, each started ``--warmup`` frames early (stylized, not written)
so the recursion has converged at its first written frame. Outputs are written atomically and existing ones
are kept, so a failed task is retried (``--max-retries``) and a re-run only fills in what is missing. Without
``--address`` a local Ray cluster with ``--workers`` CPUs is started for the run.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import Any

from fav_core.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    from fav_core.cli.stylize import DEFAULT_VIDEO_MODEL, add_look_options

    p = sub.add_parser("farm", help="flows and chunked stylization of one or more shots on a Ray cluster",
                       description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("input", nargs="+", help="one or more shots: video file, printf pattern or folder of images")
    p.add_argument("-o", "--output", required=True,
                   help="image-sequence output (pattern or folder); with several shots a folder that gets one "
                   "sub-folder per shot")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="tasks running at once (default: this machine's cores)")
    p.add_argument("--address", default=None, help="Ray cluster address (default: a local cluster for this run)")
    p.add_argument("--chunk-size", type=int, default=50, help="written frames per stylization task (default 50)")
    p.add_argument("--warmup", type=int, default=10,
                   help="frames each chunk stylizes before its first written frame (default 10)")
    p.add_argument("--flow-group", type=int, default=None, metavar="N",
                   help="frame pairs per flow task (default: the chunk size)")
    p.add_argument("--flow-dir", default=None,
                   help="folder of the .flo/.pgm files (default: OUTPUT's folder/flow, per shot)")
    p.add_argument("--max-retries", type=int, default=3, help="retries of a failed task (default 3)")
    p.add_argument("--gpus-per-task", type=float, default=0.0, help="GPUs each task asks Ray for (default 0)")
    p.add_argument("--model", default=DEFAULT_VIDEO_MODEL, help="video model name or .safetensors path")
    p.add_argument("--image-model", default=None, help="first-frame model name/path, or 'self'")
    p.add_argument("--flow", choices=("dis", "deepflow", "raft"), default="dis", help="flow method (default dis)")
    p.add_argument("--flow-preset", choices=("ultrafast", "fast", "medium"), default="medium")
    p.add_argument("--raft-weights", default=None, help="local RAFT weights file (with --flow raft)")
    p.add_argument("--no-structure-term", action="store_true", help="consistency check without the structure term")
    p.add_argument("--fix-occlusions", action="store_true", help="also mark flow leaving the frame unreliable")
    add_look_options(p)
    p.add_argument("--backward", action="store_true", help="process from the last frame to the first")
    p.add_argument("--num-frames", type=int, default=None, metavar="N", help="only the first N frames of each shot")
    p.add_argument("--tile", type=int, default=None, metavar="N", help="network tiles of at most N px per side")
    p.add_argument("--tile-stats", choices=("exact", "downscaled"), default="exact",
                   help="instance-norm statistics of tiled frames (see fav stylize --help)")
    p.add_argument("--no-resume", action="store_true",
                   help="start over: the shot's output frames and flows an earlier run left are removed first "
                   "(a re-run otherwise keeps them and refuses settings that would change their look)")
    p.add_argument("--progress", choices=("bar", "json", "none"), default="bar")
    p.set_defaults(func=run, per_frame=False, invert_occlusion=False)


def shot_specs(args: argparse.Namespace) -> list[Any]:
    """One :class:`~fav_core.farm.ShotSpec` per input, with outputs and flow folders as documented."""
    from fav_core.cli.stylize import VIDEO_EXTS, config_from_args, output_folder
    from fav_core.farm import ShotSpec

    if Path(args.output).suffix.lower() in VIDEO_EXTS:
        raise ConfigError(f"{args.output}: fav farm writes image sequences (chunks run in parallel), not a video")
    if args.flow == "raft" and not args.raft_weights:
        raise ConfigError("--flow raft needs --raft-weights PATH (weights are never downloaded)")
    if len(args.input) > 1 and ("%" in Path(args.output).name or "#" in Path(args.output).name):
        raise ConfigError(f"-o {args.output}: with several shots OUTPUT is a folder (it gets one sub-folder per "
                          "shot, named after the shot)")
    config = config_from_args(args)
    config = dataclasses.replace(config, model=_model_path(config.model), image_model=_model_path(config.image_model))
    specs = []
    names: set[str] = set()
    for inp in args.input:
        if len(args.input) == 1:
            output, root = args.output, str(output_folder(args.output))
        else:
            base = Path(inp.rstrip("/\\"))
            name = base.stem if base.suffix and "%" not in base.name else (base.parent.name if "%" in base.name
                                                                             or "#" in base.name else base.name)
            stem, k = name or "shot", 2
            while name in names:
                name, k = f"{stem}_{k}", k + 1
            names.add(name)
            output = root = str(Path(args.output) / name)
        flow_dir = str(Path(args.flow_dir) / Path(output).name) if args.flow_dir and len(args.input) > 1 else (
            args.flow_dir or str(Path(root) / "flow"))
        # absolute paths: the workers of a cluster given by --address do not run in this folder
        specs.append(ShotSpec(_absolute(inp), _absolute(output), _absolute(root), _absolute(flow_dir), config,
                              args.colorspace, args.flow, args.flow_preset,
                              _absolute(args.raft_weights) if args.raft_weights else None,
                              not args.no_structure_term))
        _refuse_overwriting(specs[-1])
    for spec in specs:  # after every shot passed its checks: nothing is removed or recorded for a refused job
        _check_settings(spec, args)
    return specs


def settings_record(shot: Any, args: argparse.Namespace) -> dict[str, Any]:
    """What must not change between a farm run and a re-run that keeps its frames (they would not match)."""
    rec = {k: v for k, v in vars(shot.config).items() if k != "device"}
    rec.update(mode="farm", input=shot.input, colorspace=shot.colorspace, flow=shot.flow_method,
               flow_preset=shot.flow_preset, raft_weights=shot.raft_weights, structure_term=shot.structure_term,
               chunk_size=args.chunk_size, warmup=args.warmup)
    return rec


def _check_settings(shot: Any, args: argparse.Namespace) -> None:
    """Record the shot's settings in its output folder; a re-run with other settings is refused (it would keep
    the earlier frames and flows and mix two looks), unless ``--no-resume`` removes them first.

    Raises:
        ConfigError: other settings than the frames already in the output were made with.
        OutputError: the record cannot be written or an old file cannot be removed.
    """
    from fav_core.runstate import RunState

    state = RunState(shot.root)
    if len(args.input) > 1 and not args.no_resume:
        _refuse_other_shot(state.dir / "settings.json", shot)
    if args.no_resume:
        _remove_earlier(shot, args)
        state.clear()
    state.check_settings(settings_record(shot, args), resume=True)


def _refuse_other_shot(record: Path, shot: Any) -> None:
    """Several shots: a sub-folder that holds another shot's frames (the names follow the order of the inputs,
    so a re-run that lists them in another order would mix two shots); --no-resume would delete that shot."""
    import json

    try:
        old = json.loads(record.read_text())
    except (OSError, ValueError, RecursionError):
        return  # no record (or a damaged one: RunState.check_settings names it)
    if isinstance(old, dict) and old.get("mode") == "farm" and old.get("input") not in (None, shot.input):
        raise ConfigError(f"{record.parent.parent}: holds the frames of {old['input']}, not of {shot.input} (the "
                          "sub-folders are named in the order the shots are given: list them as before, or use "
                          "another output folder)")


def _remove_earlier(shot: Any, args: argparse.Namespace) -> None:
    """``--no-resume``: remove the frames this run writes and the flows it computes, as an earlier run left them."""
    from fav_core.cli.flow import pair_paths
    from fav_core.errors import OutputError
    from fav_core.io import make_sink, open_frames

    source = open_frames(shot.input, colorspace=shot.colorspace, vectors=False)
    indices = sorted(source.indices)[: args.num_frames] if args.num_frames else sorted(source.indices)
    sink = make_sink(shot.output, like=source, root=shot.root)
    old = [sink.path(i) for i in indices]
    old += [p for j, i in zip(indices[:-1], indices[1:], strict=True) for p in pair_paths(Path(shot.flow_dir), j, i)]
    for path in old:
        try:
            Path(path).unlink(missing_ok=True)
        except OSError as exc:
            raise OutputError(path, f"cannot remove the earlier run's file for --no-resume ({exc.strerror or exc})") \
                from exc


def _absolute(path: str) -> str:
    """``path`` made absolute against this process's folder (a trailing separator, meaning a folder, is kept)."""
    text = os.path.abspath(path)
    return text + os.sep if path.endswith(("/", os.sep)) and not text.endswith(os.sep) else text


def _model_path(model: str) -> str:
    """A model file given by a relative path made absolute (names of installed models stay names)."""
    return _absolute(model) if model != "self" and os.path.isfile(model) else model


def _refuse_overwriting(shot: Any) -> None:
    """Before any worker starts: a shot whose output would replace its own input frames, or be written into the
    folder given as its input, is refused (the same guards as ``fav stylize``)."""
    import os

    from fav_core.io import make_sink, open_frames
    from fav_core.io.overwrite import refuse_overwriting_input, refuse_writing_into_the_input_folder

    # warn_first_frame: the warnings fav stylize gives (highlights above 1.0, light where alpha is 0), once per
    # shot here in the driver (the workers' logs do not reach the user)
    source = open_frames(shot.input, colorspace=shot.colorspace, vectors=False, warn_first_frame=True)
    sink = make_sink(os.path.abspath(shot.output), like=source, root=os.path.abspath(shot.root))
    refuse_overwriting_input(source, sink, source.indices)
    refuse_writing_into_the_input_folder(shot.input, shot.root, is_video=False)


def run(args: argparse.Namespace, reporter: Any = None) -> int:
    """Entry point of ``fav farm``: failures and Ctrl-C reach ``--progress json`` as ``error`` / ``cancelled``
    events (as for ``fav stylize``) before the CLI reports them."""
    from fav_core.cli.progress import run_reported

    return run_reported(_run, args, reporter, None, desc="farm")


def _run(args: argparse.Namespace, reporter: Any, cancel: Any = None) -> int:
    from fav_core.cli.signals import Terminated
    from fav_core.errors import Cancelled
    from fav_core.farm.ray_runner import check_address, check_settings, run_farm

    check_settings(workers=args.workers, chunk_size=args.chunk_size, warmup=args.warmup,
                   flow_group_size=args.flow_group, max_retries=args.max_retries, gpus_per_task=args.gpus_per_task,
                   num_frames=args.num_frames)
    if args.address is not None:  # before anything is created: a wrong address is one line within seconds
        check_address(args.address)
    specs = shot_specs(args)
    progress = {"done": 0, "total": 0}

    def on_task(kind: str, result: Any, done: int, total: int) -> None:
        progress.update(done=done, total=total)
        if reporter is None:
            return
        if done == 1:
            reporter.start(total, output=str(args.output))
        reporter.frame(done, total, done, None)

    try:
        report = run_farm(specs, workers=args.workers, chunk_size=args.chunk_size, warmup=args.warmup,
                          flow_group_size=args.flow_group, address=args.address, max_retries=args.max_retries,
                          gpus_per_task=args.gpus_per_task, num_frames=args.num_frames, on_task=on_task)
    except (KeyboardInterrupt, Terminated):  # the cluster is shut down already (run_farm's finally)
        raise Cancelled(f"{progress['done']} of {progress['total'] or 'the'} tasks done; their files are kept and "
                        "the same command fills in the rest") from None
    if reporter is not None:
        reporter.event("done", written=report.written, skipped=report.skipped, output=str(args.output),
                       flow_tasks=report.flow_tasks, chunk_tasks=report.chunk_tasks)
    return 0
