"""Benchmark: end-to-end ``fav stylize`` throughput vs bare-network throughput, on the same frames.

One run of this script:

1. writes a synthetic clip (a textured image translated by (2, 1) px per frame, PNG sequence), its exact
   backward flow and reliability maps as ``.flo``/``.pgm`` files (the "precomputed / render-pass" case), and a
   random-weight paper-arch video model (``.safetensors``);
2. times the bare network: the :class:`~fav_core.inference.InferenceEngine` that ``fav stylize`` uses, on the
   7-channel inputs of these frames, one frame at a time (mean over the frames after one warm-up);
3. runs ``fav stylize`` as a child process (``--progress json``) with ``--flow files`` and with ``--flow dis``
   (medium preset, the default), and takes its steady-state per-frame time from the JSON ``frame`` events
   (the frames after the first two, so model loading and the first-frame warm-up are excluded);
4. times the serial loop in-process (same Stylizer, no read-ahead, writes inline) for comparison.

Ratios printed: end-to-end fps / bare-network fps per flow mode (target >= 0.9).

Usage: ``python bench/end_to_end.py [--frames 12] [--size 1024x436] [--flows files,dis] [--threads N]``
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

# As the fav console entry point does (fav_core.process_memory; before torch is imported): torch's CPU allocator
# on transparent huge pages, and glibc keeping freed memory, so the bare network runs like the fav process.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "0" if "--no-thp" in sys.argv else "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fav_core.process_memory import retain_freed_memory  # noqa: E402

retain_freed_memory()

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from network import machine  # noqa: E402

from fav_core.flow.io import write_flo  # noqa: E402
from fav_core.inference import EngineOptions, InferenceEngine  # noqa: E402
from fav_core.modelfile import ModelMeta, load_model, save_model  # noqa: E402
from fav_core.nets import PAPER_VIDEO_ARCH, build_transformer, preprocess  # noqa: E402
from fav_core.pgm import write_pgm  # noqa: E402

SHIFT = (2, 1)  # content moves right/down by this many px per frame


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """(H + pad, W + pad, 3) uint8 BGR texture: multi-octave value noise plus colour gradients."""
    rng = np.random.default_rng(seed)
    out = np.zeros((h, w, 3), np.float32)
    for octave, amp in ((8, 0.5), (32, 0.3), (128, 0.2)):
        small = rng.random((max(2, h // octave), max(2, w // octave), 3), dtype=np.float32)
        out += amp * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out[..., 0] += 0.3 * xx / w
    out[..., 2] += 0.3 * yy / h
    return np.clip(out / out.max() * 255.0, 0, 255).astype(np.uint8)


def write_clip(folder: Path, n: int, h: int, w: int) -> None:
    """Frames frame_0001..n.png and exact backward flow / reliability files in ``folder``."""
    dx, dy = SHIFT
    big = texture(h + dy * n + 8, w + dx * n + 8)
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0], flow[..., 1] = -dx, -dy  # pixel (x, y) of frame t is at (x - dx, y - dy) in frame t - 1
    reliable = np.ones((h, w), np.float32)
    reliable[:dy, :] = 0.0
    reliable[:, :dx] = 0.0
    for t in range(1, n + 1):
        oy, ox = dy * (n - t), dx * (n - t)
        cv2.imwrite(str(folder / f"frame_{t:04d}.png"), big[oy : oy + h, ox : ox + w])
        if t > 1:
            write_flo(folder / f"backward_{t}_{t - 1}.flo", flow)
            write_pgm(folder / f"reliable_{t}_{t - 1}.pgm", reliable)


def bare_network(model_path: Path, folder: Path, n: int, threads: int | None) -> float:
    """Mean seconds per frame of the engine on the clip's 7-channel inputs (after one warm-up frame)."""
    model = load_model(model_path)
    engine = InferenceEngine(model.net, "cpu", options=EngineOptions(threads=threads))
    xs = []
    for t in range(1, n + 1):
        rgb = cv2.imread(str(folder / f"frame_{t:04d}.png"))[..., ::-1].astype(np.float32) / 255.0
        x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]
        pre = preprocess(x, "vgg")
        xs.append(torch.cat([pre, pre, torch.ones_like(pre[:, :1])], dim=1))
    engine(xs[0])
    times = []
    for x in xs[1:]:
        t0 = time.perf_counter()
        engine(x)
        times.append(time.perf_counter() - t0)
    return statistics.fmean(times)


def cli_run(args: list[str], skip: int = 2) -> tuple[float, float]:
    """Run ``fav stylize`` (JSON progress); (mean s/frame after ``skip`` frames, total wall s)."""
    cmd = [sys.executable, "-m", "fav_core.cli", "stylize", *args, "--no-resume", "--progress", "json"]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"fav stylize failed ({res.returncode}): {res.stderr.strip()[-2000:]}")
    events = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    secs = [e["seconds"] for e in events if e["event"] == "frame"]
    return statistics.fmean(secs[skip:]), wall


def serial_loop(model_path: Path, folder: Path, out: Path, n: int, flow: str, threads: int | None) -> float:
    """Mean s/frame (frames after the first two) of the stylizer loop with inline reads, flow and writes."""
    from fav_core.cli.stylize import build_motion
    from fav_core.io import make_sink, open_frames
    from fav_core.stylizer import Stylizer, StylizerConfig
    from fav_core.types import Frame

    ns = argparse.Namespace(flow=flow, flow_preset="medium", flow_pattern=None, occlusions_pattern=None,
                            raft_weights=None)
    if flow == "files":
        ns.flow_pattern = str(folder / "backward_[%d]_{%d}.flo")
        ns.occlusions_pattern = str(folder / "reliable_[%d]_{%d}.pgm")
    source = open_frames(str(folder / "frame_%04d.png"), colorspace="srgb")
    st = Stylizer(StylizerConfig(model=str(model_path), image_model="self", device="cpu"), build_motion(ns),
                  engine=EngineOptions(threads=threads))
    out.mkdir(exist_ok=True)
    sink = make_sink(str(out / "frame_%04d.png"), like=source)
    stamps = []
    for o in st.run(source, indices=list(range(1, n + 1))):
        sink.write(Frame(o.index, o.rgb, o.alpha))
        stamps.append(time.perf_counter())
    sink.close()
    steps = np.diff(stamps)
    return float(np.mean(steps[1:]))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print absolute numbers and ratios."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--size", default="1024x436", help="WxH")
    p.add_argument("--flows", default="files,dis", help="comma list of --flow modes: files, dis")
    p.add_argument("--no-thp", action="store_true", help="leave torch's allocator without transparent huge pages")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-serial", action="store_true", help="skip the in-process serial loop")
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"machine: {machine()}")
    print(f"command: python bench/end_to_end.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    with tempfile.TemporaryDirectory(prefix="fav-bench-") as tmp:
        folder = Path(tmp) / "clip"
        folder.mkdir()
        write_clip(folder, args.frames, h, w)
        torch.manual_seed(0)
        net = build_transformer(PAPER_VIDEO_ARCH, 7)
        model_path = Path(tmp) / "bench-video.safetensors"
        save_model(model_path, net, ModelMeta(kind="video", arch=PAPER_VIDEO_ARCH, in_channels=7,
                                              style_name="bench"))
        print(f"clip: {args.frames} frames {w}x{h} PNG, paper arch video model (random weights), --image-model self")
        bare = bare_network(model_path, folder, args.frames, args.threads)
        print(f"bare network (InferenceEngine, default options): {bare:.3f} s/frame = {1 / bare:.3f} fps")
        threads = ["--threads", str(args.threads)] if args.threads is not None else []
        for flow in args.flows.split(","):
            extra = ["--flow", flow]
            if flow == "files":
                extra += ["--flow-pattern", str(folder / "backward_[%d]_{%d}.flo"),
                          "--occlusions-pattern", str(folder / "reliable_[%d]_{%d}.pgm")]
            out = Path(tmp) / f"out_{flow}"
            per_frame, wall = cli_run([str(folder / "frame_%04d.png"), "-o", str(out / "frame_%04d.png"),
                                       "--model", str(model_path), "--image-model", "self", *extra, *threads])
            line = (f"fav stylize --flow {flow:5s}: {per_frame:.3f} s/frame = {1 / per_frame:.3f} fps "
                    f"(whole run incl. start-up {wall:.1f} s); end_to_end/bare = {bare / per_frame:.3f}")
            if not args.no_serial:
                serial = serial_loop(model_path, folder, Path(tmp) / f"serial_{flow}", args.frames, flow,
                                     args.threads)
                line += f"; serial loop {serial:.3f} s/frame (serial/bare = {bare / serial:.3f})"
            print(line)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
