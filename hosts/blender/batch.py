"""Headless entry: render a shot with the Vector pass and stylize it, synchronously.

    blender -b scene.blend -P hosts/blender/batch.py -- --model NAME --frames 1-48 --out DIR [--flow pass|dis]
    python hosts/blender/batch.py scene.blend --model NAME --frames 1-48 --out DIR      (the bpy module)
    python -m hosts.blender.batch scene.blend --model NAME ...                          (same, from the repo)

Writes ``DIR/render/render_%04d.exr`` (multilayer EXR with the Vector pass) and the stylized frames
``DIR/stylized_%04d.<exr|png>``. No timers or modal handlers are used (they never run in background mode).

With ``--equirect`` the scene camera renders a full equirectangular panorama (Cycles; camera type PANO,
panorama type EQUIRECTANGULAR, restored afterwards) into ``DIR/render_equirect/render_%04d.exr``, and the
spherical pipeline (``fav stylize-360``: cube faces with consistent borders, ``--cube-edge``/``--overlap``)
writes the stylized equirect frames ``DIR/stylized_%04d.<exr|png>``; ``--flow pass`` uses the panorama's
Vector pass reprojected to every cube face.
Exit status: 0 done, 2 bad input / option or a core error (one-line message on stderr), 130 cancelled
(Ctrl-C / SIGTERM: the frames written are whole), 1 anything else.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import logging
import signal
import sys
from contextlib import nullcontext
from pathlib import Path
from types import ModuleType
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_CANCELLED = 0, 1, 2, 130
PACKAGE_NAME = "fav_blender"
#: Render folders inside DIR: planar renders and equirectangular panoramas never share one (--reuse-renders).
RENDER_DIR, EQUIRECT_RENDER_DIR = "render", "render_equirect"

log = logging.getLogger("fav_blender.batch")


def load_package() -> ModuleType:
    """This extension's package, imported from this file's folder when run as a plain script."""
    package = globals().get("__package__")  # Blender's -P may run us without one
    if package:
        return importlib.import_module(package)
    if PACKAGE_NAME in sys.modules:
        return sys.modules[PACKAGE_NAME]
    here = Path(__file__).resolve().parent
    spec = importlib.util.spec_from_file_location(PACKAGE_NAME, here / "__init__.py",
                                                  submodule_search_locations=[str(here)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE_NAME] = module
    spec.loader.exec_module(module)
    return module


def script_args(argv: list[str]) -> list[str]:
    """Our arguments: everything after ``--`` when Blender runs us, else everything after the script."""
    if "--" in argv:
        return argv[argv.index("--") + 1:]
    if argv and Path(argv[0]).suffix == ".py":  # python hosts/blender/batch.py ...
        return argv[1:]
    return []  # Blender's own options only


def parse_frames(text: str) -> range:
    """``"1-48"`` -> range(1, 49); ``"7"`` -> range(7, 8).

    Raises:
        argparse.ArgumentTypeError: not ``A-B`` with A <= B.
    """
    try:
        first, _, last = text.partition("-") if not text.startswith("-") else (text, "", text)
        a = int(first)
        b = int(last) if last else a
    except ValueError:
        raise argparse.ArgumentTypeError(f"--frames must look like 1-48, got {text!r}") from None
    if b < a:
        raise argparse.ArgumentTypeError(f"--frames {text}: the last frame is before the first")
    return range(a, b + 1)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="batch.py", description=__doc__.split("\n\n")[0])
    p.add_argument("blend", nargs="?", help="blend file to open (bpy module only; Blender opens it itself)")
    p.add_argument("--model", required=True, help="style model name or .safetensors file")
    p.add_argument("--image-model", default="", help="first-frame model name/path or 'self'")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--frames", type=parse_frames, default=None, help="A-B (default: the scene's frame range)")
    p.add_argument("--scene", default="", help="scene name (default: the active scene)")
    p.add_argument("--view-layer", default="",
                   help="view layer to render and stylize (default: the first enabled for rendering)")
    p.add_argument("--flow", choices=("pass", "dis", "deepflow", "raft"), default="pass")
    p.add_argument("--raft-weights", default="", help="local RAFT weights (with --flow raft)")
    p.add_argument("--min-filter", type=int, default=7)
    p.add_argument("--median-filter", type=int, default=3, help="1 = off")
    p.add_argument("--fill", choices=("vgg-mean", "uniform-random"), default="")
    p.add_argument("--backward", action="store_true", help="last frame first")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--precision", choices=("auto", "fp32", "fp16", "bf16"), default="auto",
                   help="precision of the nets (default auto: fp16 on CUDA, fp32 on the CPU)")
    p.add_argument("--format", choices=("exr", "png"), default="exr", help="stylized frame format")
    p.add_argument("--reuse-renders", action="store_true", help="use DIR/render/*.exr instead of rendering")
    p.add_argument("--no-resume", action="store_true", help="start over even if DIR holds stylized frames")
    p.add_argument("--python", default="", help="Python that runs the core (default $FAV_PYTHON or this one)")
    p.add_argument("--core-path", default="", help="folder that holds fav_core, if it is not installed")
    p.add_argument("--in-process", action="store_true", help="run the core in this process (torch here)")
    p.add_argument("--equirect", action="store_true",
                   help="render an equirectangular panorama (Cycles) and stylize it with fav stylize-360")
    p.add_argument("--cube-edge", type=int, default=None, metavar="PX",
                   help="with --equirect: cube face size incl. overlap (default: the core's, from the width)")
    p.add_argument("--overlap", type=int, default=None, metavar="PX",
                   help="with --equirect: total face overlap, even (default: the core's)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def sphere_args(args: argparse.Namespace) -> list[str]:
    """Extra ``fav stylize-360`` arguments of an ``--equirect`` run."""
    out: list[str] = []
    if args.cube_edge is not None:
        out += ["--cube-edge", str(args.cube_edge)]
    if args.overlap is not None:
        out += ["--overlap", str(args.overlap)]
    return out


def sphere_job_spec(jobs: Any, spec: Any, extra: list[str]) -> Any:
    """``spec`` turned into a ``fav stylize-360`` run (same input/output/options, child process only)."""

    @dataclasses.dataclass(frozen=True)
    class SphereJobSpec(jobs.JobSpec):  # type: ignore[misc, name-defined]
        extra: tuple[str, ...] = ()

        def cli_args(self) -> list[str]:
            return ["stylize-360", self.input, "-o", self.output, *self.options.to_cli_args(), *self.extra,
                    "--progress", "json"]

        def command(self) -> list[str]:
            return [self.python, "-m", "fav_core.cli", *self.cli_args()]

    fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
    return SphereJobSpec(**fields, extra=tuple(extra))


def run(args: argparse.Namespace, pkg: Any) -> int:
    """Render + stylize as asked; returns the exit status (messages go to stderr)."""
    import bpy

    from_pkg = importlib.import_module
    jobs = from_pkg(f"{pkg.__name__}.jobs")
    render = from_pkg(f"{pkg.__name__}.render")
    options_mod = from_pkg(f"{pkg.__name__}.options")
    compositor = from_pkg(f"{pkg.__name__}.operators_compositor")
    prefs_mod = from_pkg(f"{pkg.__name__}.preferences")
    HostError = from_pkg(f"{pkg.__name__}.errors").HostError

    try:
        if args.blend:
            blend = Path(args.blend)
            if not blend.is_file():
                raise HostError(f"{blend}: blend file not found")
            bpy.ops.wm.open_mainfile(filepath=str(blend.resolve()))
        scene = bpy.data.scenes.get(args.scene) if args.scene else bpy.context.scene
        if scene is None:
            raise HostError(f"no scene named '{args.scene}' in {bpy.data.filepath or 'the open file'}")
        if scene.camera is None:
            raise HostError(f"scene '{scene.name}' has no camera to render with")
        if args.equirect:
            _check_equirect(args, scene, render, HostError)
        elif args.cube_edge is not None or args.overlap is not None:
            raise HostError("--cube-edge and --overlap need --equirect")
        frames = args.frames or compositor.shot_frames(scene)
        flow, notes = compositor.choose_flow(scene, args.flow)
        layer, layer_note = render.stylized_layer(scene, args.view_layer)
        if layer_note:
            notes.append(layer_note)
        for note in notes:
            log.warning("%s", note)
        prefs = prefs_mod.HostPrefs(core_mode="IN_PROCESS" if args.in_process else "SUBPROCESS",
                                    python=args.python, core_path=args.core_path)
        options = options_mod.StylizeOptions(
            model=options_mod.resolve_model(args.model, ""),
            image_model=args.image_model if args.image_model in ("", "self")
            else options_mod.resolve_model(args.image_model, ""),
            flow=flow, raft_weights=args.raft_weights, min_filter=args.min_filter,
            median_filter=args.median_filter, fill=args.fill, backward=args.backward, device=args.device,
            precision=args.precision, resume=not args.no_resume,
        )
        out_dir: Path = args.out.resolve()
        render_dir = out_dir / (EQUIRECT_RENDER_DIR if args.equirect else RENDER_DIR)
        if options.resume and not args.reuse_renders and any(out_dir.glob(f"stylized_*.{args.format}")):
            options = dataclasses.replace(options, resume=False)  # new renders: old stylized frames are stale
            log.warning("%s (add --reuse-renders to continue an interrupted run)", compositor.RERENDER_NOTE)
        if args.reuse_renders:
            paths = render.existing_renders(render_dir, frames)
            if flow == "pass":
                render.check_vector_channels(paths[0])
        else:
            def on_frame(frame: int, path: Path) -> bool:
                log.warning("rendered frame %d -> %s", frame, path)
                return True

            with render.equirect_camera(scene) if args.equirect else nullcontext():
                render.render_frames(scene, frames, render_dir, on_frame=on_frame, layer=layer)
        spec = jobs.JobSpec(
            input=str(render_dir / render.RENDER_PATTERN),
            output=str(out_dir / f"stylized_%04d.{args.format}"),
            options=options,
            python=prefs.python_executable(),
            in_process=prefs.use_in_process(),
            core_path=args.core_path,
            log_path=out_dir / "fav.log",
        )
        if args.equirect:
            spec = sphere_job_spec(jobs, spec, sphere_args(args))
        return _stylize(jobs, spec)
    except HostError as exc:
        print(f"fav-blender: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:  # an output folder that cannot be written, a full disk ...
        print(f"fav-blender: error: {from_pkg(f'{pkg.__name__}.paths').os_error_line(exc)}", file=sys.stderr)
        return EXIT_ERROR


def _check_equirect(args: argparse.Namespace, scene: Any, render: Any, host_error: type[Exception]) -> None:
    """Refuse, before anything is rendered, what an ``--equirect`` run cannot do."""
    problem = render.equirect_problem(scene)
    if problem:
        raise host_error(f"--equirect: {problem}")
    if args.backward:
        raise host_error("--equirect: spherical stylization runs forward only (drop --backward)")
    if args.in_process:
        raise host_error("--equirect runs the core in a child process (drop --in-process)")


def _stylize(jobs: Any, spec: Any) -> int:
    """Run the core synchronously; Ctrl-C / SIGTERM cancel it cleanly."""
    job = jobs.Job(spec).start()

    def on_event(event: dict[str, Any]) -> None:
        if event.get("event") == "frame":
            log.warning("stylized frame %s (%s/%s)", event.get("index"), event.get("done"), event.get("total"))

    old = signal.signal(signal.SIGTERM, lambda signum, frame: job.cancel())
    try:
        try:
            result = job.wait(on_event)
        except KeyboardInterrupt:
            job.cancel()
            result = job.wait(on_event)
    finally:
        signal.signal(signal.SIGTERM, old)
    if result.status == "done":
        print(f"fav-blender: {result.message} -> {spec.output}", file=sys.stderr)
        return EXIT_OK
    if result.status == "cancelled":
        print(f"fav-blender: {result.message}; whole frames kept in {spec.output}", file=sys.stderr)
        return EXIT_CANCELLED
    hint = ""
    if "No module named" in result.message and not spec.in_process:
        hint = f" (is fast-artistic-videos installed in {spec.python}? set --python or $FAV_PYTHON)"
    print(f"fav-blender: error: {result.message}{hint}", file=sys.stderr)
    return EXIT_ERROR if result.returncode == EXIT_ERROR else EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(script_args(sys.argv if argv is None else argv))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="fav-blender: %(message)s", stream=sys.stderr)
    return run(args, load_package())


if __name__ == "__main__":
    sys.exit(main())
