"""Benchmark: flow providers (time and end-point error) on a synthetic frame pair with an exactly known flow.

Frame 1 is a multi-octave value-noise texture with colour gradients; frame 2 is frame 1 moved by a known
forward flow F (rotation 1.5°, zoom 1.02, translation (8, −4)·s, plus a smooth sinusoid of 5·s / 4·s px;
s = width / 1024), rendered through the exact inverse map (fixed-point iteration, bicubic remap) — the set-up
of measurements.md §3. Each provider computes frame 1 → frame 2; EPE is the mean end-point error over the
pixels whose target stays inside the frame. Times are medians of ``--repeats`` runs, all in ONE run of this
script on the same frames, plus the per-frame motion cost of ``fav stylize --flow dis`` (two flows and the
consistency check, :class:`fav_core.motion.ComputedMotion`).

Usage: ``python bench/flow_providers.py [--sizes 1024x436,1920x1080] [--repeats 3] [--no-deepflow]``
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from end_to_end import texture  # noqa: E402
from network import machine  # noqa: E402

from fav_core.flow import make_provider  # noqa: E402
from fav_core.motion import ComputedMotion  # noqa: E402
from fav_core.types import Frame  # noqa: E402


def known_flow(h: int, w: int) -> np.ndarray:
    """(H, W, 2) forward flow F at every pixel of frame 1 (dx, dy)."""
    s = w / 1024.0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    a = np.deg2rad(1.5)
    z = 1.02
    x0, y0 = xx - cx, yy - cy
    xa = z * (np.cos(a) * x0 - np.sin(a) * y0) + cx + 8 * s
    ya = z * (np.sin(a) * x0 + np.cos(a) * y0) + cy - 4 * s
    fx = xa - xx + 5 * s * np.sin(2 * np.pi * yy / (h / 1.5))
    fy = ya - yy + 4 * s * np.sin(2 * np.pi * xx / (w / 2.0))
    return np.stack([fx, fy], axis=-1)


def render_pair(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame1, frame2) RGB float32 [0, 1] and the GT forward flow (H, W, 2) float32."""
    f1 = texture(h, w, seed=3)[..., ::-1].astype(np.float32) / 255.0
    flow = known_flow(h, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    # frame2(y) = frame1(x) with y = x + F(x): solve x = y - F(x) by fixed-point iteration
    px, py = xx.copy(), yy.copy()
    for _ in range(30):
        fx = cv2.remap(flow[..., 0].astype(np.float32), px.astype(np.float32), py.astype(np.float32),
                       cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        fy = cv2.remap(flow[..., 1].astype(np.float32), px.astype(np.float32), py.astype(np.float32),
                       cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        px, py = xx - fx, yy - fy
    f2 = cv2.remap(f1, px.astype(np.float32), py.astype(np.float32), cv2.INTER_CUBIC,
                   borderMode=cv2.BORDER_REFLECT)
    return f1, np.clip(f2, 0, 1).astype(np.float32), flow.astype(np.float32)


def epe(est: np.ndarray, gt: np.ndarray) -> float:
    """Mean end-point error over pixels whose GT target is inside the frame."""
    h, w = gt.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    tx, ty = xx + gt[..., 0], yy + gt[..., 1]
    inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    return float(np.linalg.norm(est - gt, axis=-1)[inside].mean())


def timed(fn, repeats: int) -> tuple[float, object]:  # noqa: ANN001
    """(median seconds, last result) of ``fn()``."""
    out, times = None, []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one line per provider and size."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1024x436,1920x1080")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-deepflow", action="store_true")
    args = p.parse_args(argv)
    print(f"machine: {machine()}, cv2 {cv2.__version__} with {cv2.getNumThreads()} threads")
    print(f"command: python bench/flow_providers.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    providers = [("dis", {"preset": "ultrafast"}), ("dis", {"preset": "fast"}), ("dis", {"preset": "medium"})]
    if not args.no_deepflow:
        providers.append(("deepflow", {}))
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.lower().split("x"))
        f1, f2, gt = render_pair(h, w)
        zero = epe(np.zeros_like(gt), gt)
        print(f"\n== {w}x{h}: GT |flow| mean {np.linalg.norm(gt, axis=-1).mean():.1f} px, zero-flow EPE {zero:.2f}")
        base = None
        for name, opts in providers:
            prov = make_provider(name, **opts)
            reps = 1 if name == "deepflow" else args.repeats
            prov.compute(f1, f2)  # warm-up
            t, est = timed(lambda prov=prov, f1=f1, f2=f2: prov.compute(f1, f2), reps)
            base = t if base is None else base
            print(f"{prov.name:16s} {1000 * t:8.1f} ms  EPE {epe(est, gt):6.3f}  ({t / base:5.1f}x the time of "
                  f"the first)")
        motion = ComputedMotion(make_provider("dis", preset="medium"))
        cur, prev = Frame(2, f2), Frame(1, f1)
        t, _ = timed(lambda m=motion, c=cur, p=prev: m.motion(c, p), args.repeats)
        print(f"fav stylize --flow dis (medium) motion per frame: two flows + consistency check {1000 * t:.1f} ms")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
