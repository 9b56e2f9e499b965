"""Long-run memory benchmark: many small frames through ``fav stylize``; the CLI's memory must stay flat.

Writes N tiny PNG frames (a texture panning right) and two tiny random model files (video + image, the
``c3s1-8,d8,R8,u8,c3s1-3`` architecture of the e2e tests) into a work folder, runs
``python -m fav_core.cli stylize ... --progress json`` as a child process and samples the child's resident
memory (``VmRSS`` in ``/proc/<pid>/status``) every ``--every`` frames, when the JSON ``frame`` event arrives.

The slope is the least-squares fit of RSS (KiB) against the frame count, over the samples after the warm-up
(``--warmup`` frames: allocator pools, OpenCV/torch lazy init). Verdict: ``FLAT`` when the slope is below
``--max-slope`` KiB/frame (default 0.5; leaking one 32x32 float frame per frame would be about 12 KiB/frame).

Usage::

    python bench/longrun_memory.py                      # 2000 frames of 32x32, sample every 100
    python bench/longrun_memory.py --frames 300 --every 50 --keep /tmp/fav-longrun

Exit status: 0 flat, 1 growing, 2 the run failed.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ARCH = "c3s1-8,d8,R8,u8,c3s1-3"


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` in KiB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def write_frames(folder: Path, n: int, size: int, seed: int = 0) -> str:
    """N frames ``frame_%05d.png`` of size×size: a smoothed random texture panning 1 px per frame (wraps)."""
    import OpenImageIO as oiio

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    big = rng.random((size, 4 * size, 3)).astype(np.float32)
    big = (big + np.roll(big, 1, 1) + np.roll(big, 1, 0)) / 3
    for i in range(1, n + 1):
        x0 = i % (3 * size)
        data = np.clip(np.round(big[:, x0:x0 + size] * 255), 0, 255).astype(np.uint8)
        path = folder / f"frame_{i:05d}.png"
        out = oiio.ImageOutput.create(str(path))
        out.open(str(path), oiio.ImageSpec(size, size, 3, oiio.UINT8))
        out.write_image(data)
        out.close()
    return str(folder / "frame_%05d.png")


def write_models(folder: Path) -> tuple[str, str]:
    """Tiny random video (7 in) and image (3 in) model files; returns their paths."""
    import torch

    from fav_core.modelfile import ModelMeta, save_model
    from fav_core.nets import build_transformer

    torch.manual_seed(0)
    video = save_model(folder / "longrun-video.safetensors", build_transformer(ARCH, 7),
                       ModelMeta(kind="video", arch=ARCH, in_channels=7, style_name="longrun"))
    image = save_model(folder / "longrun-image.safetensors", build_transformer(ARCH, 3),
                       ModelMeta(kind="image", arch=ARCH, in_channels=3, style_name="longrun"))
    return str(video), str(image)


def slope(xs: list[int], ys: list[int]) -> float:
    """Least-squares slope of ys against xs."""
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    return float(np.polyfit(x, y, 1)[0]) if len(x) >= 2 else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--size", type=int, default=32, help="frame side in pixels (default 32)")
    ap.add_argument("--every", type=int, default=100, help="sample RSS every N frames (default 100)")
    ap.add_argument("--warmup", type=int, default=200, help="frames excluded from the slope (default 200)")
    ap.add_argument("--max-slope", type=float, default=0.5, help="KiB/frame still called flat (default 0.5)")
    ap.add_argument("--flow-preset", default="medium", choices=("ultrafast", "fast", "medium"))
    ap.add_argument("--keep", type=Path, default=None, help="work folder to use and keep (default: temp)")
    args = ap.parse_args(argv)

    work = args.keep or Path(tempfile.mkdtemp(prefix="fav-longrun-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return run(args, work)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> int:
    """Write the inputs into ``work``, run the CLI, sample and report; returns the exit status."""
    t0 = time.perf_counter()
    pattern = write_frames(work / "in", args.frames, args.size)
    video, image = write_models(work)
    print(f"wrote {args.frames} frames of {args.size}x{args.size} in {time.perf_counter() - t0:.1f} s", flush=True)

    cmd = [sys.executable, "-m", "fav_core.cli", "stylize", pattern, "-o", str(work / "out"),
           "--model", video, "--image-model", image, "--flow-preset", args.flow_preset,
           "--no-resume", "--progress", "json"]
    print("command:", " ".join(cmd), flush=True)
    t1 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    samples: list[tuple[int, int]] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == "start":
            samples.append((0, rss_kib(proc.pid)))
        elif event["event"] == "frame" and event["done"] % args.every == 0:
            samples.append((event["done"], rss_kib(proc.pid)))
            print(f"  frame {event['done']:>6}  RSS {samples[-1][1] / 1024:8.1f} MiB", flush=True)
    rc = proc.wait()
    seconds = time.perf_counter() - t1
    if rc != 0:
        err = proc.stderr.read() if proc.stderr else ""
        print(f"fav stylize failed with exit code {rc}: {err.strip()[-2000:]}", file=sys.stderr)
        return 2
    done = [(n, r) for n, r in samples if n >= args.warmup]
    s = slope([n for n, _ in done], [r for _, r in done])
    rss = [r for _, r in done]
    flat = bool(s < args.max_slope)
    print(f"machine: {platform.node()} {platform.machine()}, python {platform.python_version()}")
    print(f"frames: {args.frames} of {args.size}x{args.size}, {seconds:.1f} s ({args.frames / seconds:.1f} frames/s)")
    print(f"RSS at start: {samples[0][1] / 1024:.1f} MiB; after warm-up ({args.warmup} frames): "
          f"min {min(rss) / 1024:.1f} MiB, max {max(rss) / 1024:.1f} MiB, last {rss[-1] / 1024:.1f} MiB")
    print(f"slope after warm-up: {s:.3f} KiB/frame (limit {args.max_slope})")
    print(f"verdict: {'FLAT' if flat else 'GROWING'}")
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
