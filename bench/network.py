"""Benchmark: the network path ``fav stylize`` uses vs plain eager PyTorch vs the machine's fp32 matmul rate.

All numbers come from ONE run of this script on the same input tensors: the machine's fp32 matmul rate
(4096×4096 @ 4096×4096), then per size (1024×436 and 1920×1080) the plain eager ``TransformerNet.forward``
and :class:`fav_core.inference.InferenceEngine` with the options ``fav stylize`` uses by default (plus
variants), each the median of ``--repeats`` runs after one warm-up.

FLOPs are counted analytically from the layer shapes of the network as built (2 × multiply-adds of every
conv / transposed conv, at the sizes the layers really run at — for the default ``reflect-start`` padding
that includes the 40-px border the reference pads the input with). The rewritten engine does fewer
multiply-adds for the same result (polyphase up-convolutions), so its "fraction of matmul" is the
architecture's FLOPs per second of the path, relative to the matmul rate: an effective rate, which is what
an artist's frame time depends on. The count under the convention of measurements.md §4 (every conv
reflection-padded to the frame size: 137.1 GFLOP at 1024×436) is printed too.

The last line is ``fraction_of_matmul=<x>`` for the paper arch, 7 inputs, 1024×436, default path, with the FLOPs
counted as the issue / measurements.md count them (every conv at frame size): the lower of two estimates, (a) the
table's median against the higher of the matmul rates at the start and at the end of the run, and (b) the median
over interleaved pairs (each network call timed between two matmul timings, against the higher of the two rates),
because this VM's speed drifts by ±10 % within minutes; the line before gives it by the built count.

Run it as the ``fav`` process runs: the script applies ``fav_core.process_memory`` (huge pages, glibc keeping
freed memory) before torch is imported; ``--no-thp`` / ``--no-malloc-tuning`` measure without them.

Usage: ``python bench/network.py [--repeats 3] [--sizes 1024x436,1920x1080] [--threads N] [--compile]
[--layers]``
"""
from __future__ import annotations

import argparse
import copy
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

# As the fav console entry point does (fav_core.process_memory; before torch is imported): torch's CPU allocator
# on transparent huge pages, and glibc keeping freed memory for the next frame's tensors.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "0" if "--no-thp" in sys.argv else "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fav_core.process_memory import retain_freed_memory  # noqa: E402

MALLOC_TUNED = "--no-malloc-tuning" not in sys.argv and retain_freed_memory()

import torch  # noqa: E402
from torch import nn  # noqa: E402

from fav_core.inference import EngineOptions, InferenceEngine  # noqa: E402
from fav_core.nets import PAPER_VIDEO_ARCH, TransformerNet, build_transformer  # noqa: E402

log = logging.getLogger("bench.network")


def machine() -> str:
    """One line describing the CPU, cores, torch build and current load."""
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return (
        f"{model}, {os.cpu_count()} logical CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"python {platform.python_version()}, THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE')}, "
        f"glibc keeps freed memory: {'yes' if MALLOC_TUNED else 'no'}, "
        f"load average {load[0]:.2f}"
    )


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def matmul_rate(repeats: int, n: int = 4096) -> float:
    """fp32 GFLOP/s of an n×n @ n×n matmul (median)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    with torch.inference_mode():
        t = median_time(lambda: a @ b, repeats)
    return 2 * n**3 / t / 1e9


def conv_flops(net: nn.Module, x_shape: tuple[int, ...]) -> float:
    """2 × multiply-adds of every (transposed) conv for an input of ``x_shape``, from the layer shapes.

    Runs the network on the meta device (no arithmetic) and reads each conv's input/output sizes.
    """
    meta_net = copy.deepcopy(net).to("meta")
    total = 0

    def hook(m: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups
            total += k * out.numel()
        elif isinstance(m, nn.ConvTranspose2d):
            k = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            total += k * inp[0].numel()

    handles = [m.register_forward_hook(hook) for m in meta_net.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    with torch.inference_mode():
        meta_net(torch.empty(x_shape, device="meta"))
    for h in handles:
        h.remove()
    return 2.0 * total


def frame_size_flops(arch: str, in_channels: int, h: int, w: int) -> float:
    """FLOPs under the measurements.md §4 convention: the net with ``reflect`` padding (every conv at frame size)."""
    return conv_flops(build_transformer(arch, in_channels, padding="reflect"), (1, in_channels, h, w))


def layer_times(engine: InferenceEngine, x: torch.Tensor) -> list[tuple[str, float]]:
    """Wall time per top-level module of the engine's body (one run, after the timed ones)."""
    body = engine._module.body  # noqa: SLF001 - benchmark introspection
    stamps: list[tuple[str, float]] = []
    handles = []
    for name, m in body.named_children():
        handles.append(m.register_forward_pre_hook(lambda m, i, n=name: stamps.append((">" + n, time.perf_counter()))))
        handles.append(m.register_forward_hook(lambda m, i, o, n=name: stamps.append(("<" + n, time.perf_counter()))))
    engine(x)
    for h in handles:
        h.remove()
    out = []
    starts = {}
    for tag, t in stamps:
        if tag[0] == ">":
            starts[tag[1:]] = t
        else:
            out.append((f"{tag[1:]} ({type(getattr(body, tag[1:])).__name__})", t - starts[tag[1:]]))
    return out


def run_size(net: TransformerNet, h: int, w: int, args: argparse.Namespace, peak: float
             ) -> dict[str, tuple[float, float]]:
    """Time every variant at one size; print and return {variant: (fraction of matmul by the built count,
    fraction by the frame-size count of measurements.md / the issue)}."""
    torch.manual_seed(1)
    x = torch.randn(1, net.in_channels, h, w) * 60.0
    flops = conv_flops(net, tuple(x.shape))
    flops_frame = frame_size_flops(net.arch, net.in_channels, h, w)
    print(f"\n== {w}x{h}, {net.arch}, {net.in_channels} inputs, padding {net.padding}")
    print(f"analytic conv FLOPs as built: {flops / 1e9:.1f} GFLOP "
          f"(measurements.md convention, every conv at frame size: {flops_frame / 1e9:.1f} GFLOP)")
    with torch.inference_mode():
        ref = net(x)
    variants: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}

    def eager(t: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return net(t)

    variants["eager (plain TransformerNet.forward)"] = eager
    default = InferenceEngine(net, "cpu", options=EngineOptions(threads=args.threads))
    variants["fav stylize default (InferenceEngine)"] = default
    # A copy: converting a module to channels_last converts the weights it shares with ``net`` in place, which
    # would slow the eager and default rows down by ~15 % (every conv then reorders its weights).
    variants["engine + channels_last"] = InferenceEngine(
        copy.deepcopy(net), "cpu", options=EngineOptions(threads=args.threads, channels_last=True))
    if args.compile:
        variants["engine + torch.compile"] = InferenceEngine(
            net, "cpu", options=EngineOptions(threads=args.threads, compile=True))
    results: dict[str, tuple[float, float]] = {}
    eager_t = None
    for name, fn in variants.items():
        t0 = time.perf_counter()
        out = fn(x)  # first call (compile happens here)
        first = time.perf_counter() - t0
        err = (out - ref).abs().max().item()
        t = median_time(lambda fn=fn: fn(x), args.repeats, warmup=0)
        eager_t = t if eager_t is None else eager_t
        frac = flops / t / 1e9 / peak
        results[name] = (frac, flops_frame / t / 1e9 / peak)
        print(f"{name:40s} {t:7.3f} s  {flops / t / 1e9:6.1f} GFLOP/s  {100 * frac:5.1f}% of matmul "
              f"({100 * flops_frame / t / 1e9 / peak:5.1f}% by the frame-size count)  "
              f"speed-up vs eager {eager_t / t:4.2f}x  first call {first:6.2f} s  max|diff| vs eager "
              f"{err:.2e} pre-space = {err / 255:.1e} rgb01")
    if args.layers:
        print("per-module times of the default path (one run):")
        for name, t in layer_times(default, x):
            print(f"  {name:40s} {1000 * t:8.1f} ms")
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the last printed line is ``fraction_of_matmul=<x>``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sizes", default="1024x436,1920x1080", help="WxH list; the first is the headline size")
    p.add_argument("--no-thp", action="store_true", help="leave torch's allocator without transparent huge pages")
    p.add_argument("--no-malloc-tuning", action="store_true",
                   help="leave glibc's mmap / trim defaults (fav_core.process_memory)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    p.add_argument("--compile", action="store_true", help="also time the engine with torch.compile")
    p.add_argument("--layers", action="store_true", help="per-module times of the default path")
    p.add_argument("--arch", default=PAPER_VIDEO_ARCH)
    args = p.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"machine: {machine()}")
    print(f"command: python bench/network.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    matmul_rate(1)  # warm the threads, allocator and clocks: a cold first measurement reads low
    peak = matmul_rate(args.repeats)
    print(f"fp32 matmul 4096x4096 @ 4096x4096: {peak:.1f} GFLOP/s (median of {args.repeats})")
    torch.manual_seed(0)
    net = build_transformer(args.arch, 7).eval()
    headline = None
    first_size: tuple[int, int] | None = None
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.lower().split("x"))
        res = run_size(net, h, w, args, peak)
        if headline is None:
            headline, first_size = res["fav stylize default (InferenceEngine)"], (h, w)
    assert first_size is not None
    pairs = interleaved_fractions(net, *first_size, args)
    peak_after = matmul_rate(args.repeats)
    ceiling = max(peak, peak_after)
    print(f"\nfp32 matmul again at the end: {peak_after:.1f} GFLOP/s (the fractions above use the first)")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    # A ceiling is the best rate the machine showed: when the two matmul measurements differ (a VM's clock or a
    # neighbour), the headline is taken against the higher one, so drift can only lower it.
    assert headline is not None
    built, frame = (f * peak / ceiling for f in headline)
    print(f"against the max of start and end ({ceiling:.1f} GFLOP/s): default path {frame:.3f} by the frame-size "
          f"count, {built:.3f} by the built count")
    print("interleaved pairs (matmul, network, matmul; each network call against the higher of the two matmul "
          "rates around it), fraction by the frame-size count: " + " ".join(f"{f:.3f}" for f in pairs))
    # The two estimates answer the same question under different drift and allocator histories (the pairs
    # interleave 64 MB matmul buffers with the network's); the headline is the lower one.
    headline_frame = min(frame, statistics.median(pairs))
    print(f"fraction_of_matmul_built_count={headline_frame * built / frame:.3f}")
    print(f"fraction_of_matmul={headline_frame:.3f}  (the lower of the two estimates above; FLOPs by the issue's "
          f"frame-size count, default path, first size)")
    return 0


def interleaved_fractions(net: TransformerNet, h: int, w: int, args: argparse.Namespace) -> list[float]:
    """The headline, robust to a VM whose speed drifts: the default path timed between two matmul timings, per
    pair the frame-size FLOPs per second over the higher matmul rate of the two; ``max(5, repeats)`` pairs."""
    torch.manual_seed(1)
    x = torch.randn(1, net.in_channels, h, w) * 60.0
    flops_frame = frame_size_flops(net.arch, net.in_channels, h, w)
    engine = InferenceEngine(net, "cpu", options=EngineOptions(threads=args.threads))
    engine(x)
    out = []
    rate_before = matmul_rate(1)
    for _ in range(max(5, args.repeats)):
        t = median_time(lambda: engine(x), 1, warmup=0)
        rate_after = matmul_rate(1)
        out.append(flops_frame / t / 1e9 / max(rate_before, rate_after))
        rate_before = rate_after
    return out


if __name__ == "__main__":
    raise SystemExit(main())
