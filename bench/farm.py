"""Farm benchmark: ``fav farm`` speed-up against the worker count, on a private local Ray cluster.

Writes a synthetic clip (a texture panning right) and two random model files of ``--arch`` (default: the
paper's video arch), then for each worker count starts a local Ray cluster on 127.0.0.1 with that many CPUs,
runs the farm job (flows for all pairs + chunked stylization) into a fresh folder and times it. The single-
process baseline (``fav flow`` + ``fav stylize --flow files`` in this process) runs in the same invocation.
Ray start-up (and, unless ``--cold``, the workers' first import of torch and the core) is timed separately
and not included in the farm times.

On this project's 2-core machine only 1 and 2 workers make sense (more workers than cores only time-slice);
the machine is shared, so repeat runs and read the ratios, not the absolute seconds.

Usage::

    python bench/farm.py                                   # 24 frames of 144x256, workers 1 2
    python bench/farm.py --frames 48 --workers 1 2 4 --chunk-size 8 --warmup 4
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fav_core.cli.main import main as fav  # noqa: E402
from fav_core.farm import ShotSpec  # noqa: E402
from fav_core.farm.ray_runner import run_farm  # noqa: E402
from fav_core.modelfile import ModelMeta, save_model  # noqa: E402
from fav_core.nets import PAPER_VIDEO_ARCH, build_transformer  # noqa: E402
from fav_core.stylizer import StylizerConfig  # noqa: E402


def write_clip(folder: Path, n: int, h: int, w: int) -> str:
    """n PNG frames of a smooth texture panning right by 2 px per frame."""
    import OpenImageIO as oiio

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    small = rng.random((h // 8, (w + 2 * n) // 8 + 1, 3)).astype(np.float32)
    big = np.kron(small, np.ones((8, 8, 1), np.float32))[:h]
    for i in range(1, n + 1):
        data = np.clip(np.round(big[:, 2 * i : 2 * i + w] * 255), 0, 255).astype(np.uint8)
        out = oiio.ImageOutput.create(str(folder / f"frame_{i:04d}.png"))
        out.open(str(folder / f"frame_{i:04d}.png"), oiio.ImageSpec(w, h, 3, oiio.UINT8))
        out.write_image(data)
        out.close()
    return str(folder / "frame_%04d.png")


def _warm() -> int:
    """Import what the tasks import (runs in a Ray worker)."""
    import fav_core.cli.flow  # noqa: F401
    import fav_core.stylizer  # noqa: F401

    time.sleep(0.5)  # keep the worker busy so the next warm-up task goes to another one
    return os.getpid()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--height", type=int, default=144)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--arch", default=PAPER_VIDEO_ARCH)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--chunk-size", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--cold", action="store_true", help="include the workers' first imports in the farm time")
    ap.add_argument("--keep", default=None, help="work folder to keep (default: a temporary one)")
    args = ap.parse_args()

    import ray

    work = Path(args.keep or tempfile.mkdtemp(prefix="fav-bench-farm-"))
    torch.manual_seed(0)
    video = save_model(work / "v.safetensors", build_transformer(args.arch, 7),
                       ModelMeta(kind="video", arch=args.arch, in_channels=7, style_name="bench"))
    image = save_model(work / "i.safetensors", build_transformer(args.arch, 3),
                       ModelMeta(kind="image", arch=args.arch, in_channels=3, style_name="bench"))
    inp = write_clip(work / "in", args.frames, args.height, args.width)
    print(f"machine: {platform.node()} {platform.machine()} cores={os.cpu_count()} torch={torch.__version__} "
          f"ray={ray.__version__}")
    print(f"clip: {args.frames} frames {args.width}x{args.height}, arch {args.arch}, chunk {args.chunk_size}, "
          f"warm-up {args.warmup}")

    t0 = time.perf_counter()
    flow0 = work / "single-flow"
    fav(["flow", inp, "-o", str(flow0), "--progress", "none"])
    t_flow = time.perf_counter() - t0
    fav(["stylize", inp, "-o", str(work / "single"), "--model", str(video), "--image-model", str(image),
         "--flow", "files", "--flow-pattern", str(flow0 / "backward_[%d]_{%d}.flo"),
         "--occlusions-pattern", str(flow0 / "reliable_[%d]_{%d}.pgm"), "--progress", "none", "--threads", "1"])
    single = time.perf_counter() - t0
    print(f"single process (1 thread for the net): flow {t_flow:.2f} s, total {single:.2f} s")

    config = StylizerConfig(model=str(video), image_model=str(image), device="cpu")
    base = None
    for n in args.workers:
        t0 = time.perf_counter()
        ray.init(address="local", num_cpus=n, include_dashboard=False, log_to_driver=False,
                 _node_ip_address="127.0.0.1")
        t_start = time.perf_counter() - t0
        if not args.cold:  # every worker process imports torch and the core once before the clock starts
            ray.get([ray.remote(num_cpus=1)(_warm).remote() for _ in range(n)])
        out = work / f"farm-{n}"
        shot = ShotSpec(inp, str(out), str(out), str(out / "flow"), config)
        report = run_farm([shot], workers=n, chunk_size=args.chunk_size, warmup=args.warmup)
        ray.shutdown()
        base = base or report.total_seconds
        print(f"workers={n}: ray start {t_start:.1f} s, flows {report.flow_seconds:.2f} s, total "
              f"{report.total_seconds:.2f} s ({report.flow_tasks} flow + {report.chunk_tasks} chunk tasks), "
              f"speed-up vs 1 worker {base / report.total_seconds:.2f}x, vs single process "
              f"{single / report.total_seconds:.2f}x")
    if args.keep:
        print(f"work folder: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
