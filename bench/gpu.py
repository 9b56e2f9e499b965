"""GPU benchmark (issue 9, benchmark 4): CUDA parity, network fps, end-to-end fps at 1080p, training smoke.

ONE run of this script measures everything it reports, so every ratio comes from the same machine and run:

a. environment: GPU, torch / CUDA / cuDNN versions, bf16 matmul TFLOP/s on 8192³ (the ceiling the network
   rates are compared to), ``cudnn.benchmark`` on;
b. parity: the paper video arch (random seeded weights) on a 256×192 7-channel input, CPU fp32 vs CUDA fp32
   (TF32 convolutions as torch defaults them, and TF32 off), fp16 and bf16; then a whole Stylizer run of 6
   frames with known synthetic flow, CPU (numpy path) vs CUDA (device path): max |diff| per frame and mask
   equality (row ``stylizer_fp32`` = TF32 allowed, ``stylizer_fp32_no_tf32`` = the Stylizer's default now);
p. the same whole-Stylizer parity with the SHIPPED trained models (models/stained-glass-{video,image}) over 12
   frames at 256×192 — CPU fp32 vs CUDA fp32 (TF32 off / allowed) and fp16 — with random weights of the same
   arch as the control: how much does the recursion amplify device differences with a trained net?
c. network fps: paper arch, 7 inputs, 1080p and 4K, fp32/fp16/bf16, the engine (``fav stylize``'s path) eager vs
   channels_last, CUDA graphs (captured here) and torch.compile at the best precision; ms/frame, fps and
   TFLOP/s (FLOPs counted analytically from the layer shapes, as ``bench/network.py``) vs the ceiling;
d. end to end at 1080p: frames + backward/forward host flows in memory (as the in-process Blender/Nuke hosts
   pass them) through the real Stylizer loop on the device path (consistency check, min filter, warp, net,
   median, copy back), with and without the read-ahead pipeline, vs the bare network of (c); a per-step
   breakdown; host<->device copy rates; then the same clip from files on disk (PNG + .flo + .pgm written to
   /tmp; .flo/.pgm read by the fav_core readers, PNG by cv2 because fav_core.io needs OpenImageIO), read by
   the pipeline with 1 and ``--readers`` (default 4) reader threads, alone and under the Stylizer; the
   variants: run 1's four (pipeline x overlap), + staging (the read-ahead thread copies into pinned memory,
   uploads on a side stream and runs the check + min filter there), + torch.compile; the bare fp32 engine with
   and without TF32; a verdict line against the 60 fps target;
e. training smoke on the device: a few iterations of an image and a video model (training.Trainer, bf16
   autocast on CUDA) on tiny data made here; iterations/s, losses finite.

Each section is in its own try/except; results are appended to ``OUT/gpu.json`` and ``OUT/gpu.md`` as they
complete; ``--budget-s`` (default 300) skips what no longer fits.

Usage (device machine): ``cd repo && PYTHONPATH=. python3 bench/gpu.py --out $OUT``
Run 2 (what changed after run 1, < 150 s): ``--sections a,p,d --e2e-precision fp16 --budget-s 140``
Smoke test of every code path (CPU, tiny sizes, < 60 s): ``python bench/gpu.py --smoke --device cpu --out /tmp/x``
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from network import conv_flops  # noqa: E402

from fav_core.inference import EngineOptions, InferenceEngine, is_out_of_memory  # noqa: E402
from fav_core.modelfile import ModelMeta, StyleModel  # noqa: E402
from fav_core.motion import FileMotion, Motion, PassMotion  # noqa: E402
from fav_core.nets import PAPER_VIDEO_ARCH, build_transformer  # noqa: E402
from fav_core.pipeline import FramePipeline  # noqa: E402
from fav_core.stylizer import StylizedFrame, Stylizer, StylizerConfig  # noqa: E402
from fav_core.types import Frame  # noqa: E402

TINY_ARCH = "c3s1-8,d8,R8,U2,c3s1-3"  # --smoke: small enough for a CPU, still has an up-convolution
SHIFT = (2, 1)  # synthetic clips: content moves right / down by this many px per frame


# ------------------------------------------------------------------------------------------------ recording
class Recorder:
    """Collects results; rewrites OUT/gpu.json and appends to OUT/gpu.md after every entry."""

    def __init__(self, out: Path, budget_s: float) -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.t0 = time.perf_counter()
        self.budget_s = budget_s
        self.data: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                                     "command": " ".join([sys.executable, *sys.argv])}
        (out / "gpu.md").write_text(f"# bench/gpu.py\n\n- started: {self.data['started']}\n"
                                    f"- command: `{self.data['command']}`\n")
        self._flush()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        return self.budget_s - self.elapsed()

    def _flush(self) -> None:
        tmp = self.out / "gpu.json.tmp"
        tmp.write_text(json.dumps(self.data, indent=1, default=str))
        tmp.replace(self.out / "gpu.json")

    def put(self, section: str, key: str, value: Any, line: str | None = None) -> None:
        """Store ``value`` under data[section][key]; print and append ``line`` (default ``key: value``)."""
        self.data.setdefault(section, {})[key] = value
        self._flush()
        text = line if line is not None else f"{key}: {value}"
        print(f"[{self.elapsed():6.1f}s] {section}: {text}", flush=True)
        with (self.out / "gpu.md").open("a") as f:
            f.write(f"- {text}\n")

    def heading(self, title: str) -> None:
        print(f"\n== {title}", flush=True)
        with (self.out / "gpu.md").open("a") as f:
            f.write(f"\n## {title}\n\n")

    @contextmanager
    def section(self, name: str, title: str, need_s: float) -> Iterator[bool]:
        """Run a section unless less than ``need_s`` of the budget is left; record any failure and go on."""
        self.heading(title)
        if self.left() < need_s:
            self.put(name, "skipped", f"budget: {self.left():.0f} s left, section needs about {need_s:.0f} s")
            yield False
            return
        t = time.perf_counter()
        try:
            yield True
        except Exception as exc:  # noqa: BLE001 - one section's failure must not lose the others
            self.put(name, "error", f"{type(exc).__name__}: {exc}".splitlines()[0][:400])
            print(traceback.format_exc(), flush=True)
        self.put(name, "section_s", round(time.perf_counter() - t, 1), f"section took {time.perf_counter() - t:.1f} s")


def guarded(rec: Recorder, section: str, key: str, fn: Callable[[], Any]) -> Any:
    """``fn()``; on an exception record it under ``key`` and return None (the section goes on)."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - a variant's failure must not lose the section
        rec.put(section, key, f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}")
        print(traceback.format_exc(), flush=True)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return None


# ------------------------------------------------------------------------------------------------ timing
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_fn(fn: Callable[[], object], device: torch.device, warmup: int, min_iters: int, min_s: float) -> float:
    """Mean seconds per call after ``warmup`` calls: at least ``min_iters`` calls and ``min_s`` seconds, synced."""
    for _ in range(warmup):
        fn()
    sync(device)
    n, t0 = 0, time.perf_counter()
    while n < min_iters or time.perf_counter() - t0 < min_s:
        fn()
        n += 1
        if n >= 10 * max(min_iters, 1):
            break
    sync(device)
    return (time.perf_counter() - t0) / n


@contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """Temporarily allow / forbid TF32 in cuDNN convolutions and cuBLAS matmuls (restored afterwards)."""
    old = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = enabled
    torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


# ------------------------------------------------------------------------------------------------ data
def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """(h, w, 3) float32 in [0, 1]: multi-octave value noise (smooth and textured, like a real frame)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((h, w, 3), np.float32)
    for octave, amp in ((4, 0.35), (16, 0.35), (64, 0.3)):
        small = rng.random((max(2, h // octave), max(2, w // octave), 3), dtype=np.float32)
        out += amp * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(out, 0.0, 1.0)


@dataclass
class Clip:
    """An in-memory clip panning by SHIFT px per frame, with exact host vectors on every frame."""

    frames: dict[int, Frame]
    flow_bwd: np.ndarray
    flow_fwd: np.ndarray

    @property
    def indices(self) -> list[int]:
        return sorted(self.frames)

    def read(self, index: int) -> Frame:
        return self.frames[index]


def make_clip(n: int, h: int, w: int, seed: int = 0) -> Clip:
    """n contiguous frames (H, W, 3) float32 with backward (-dx, -dy) and forward (+dx, +dy) flows."""
    dx, dy = SHIFT
    big = texture(h + dy * n + 4, w + dx * n + 4, seed)
    bwd = np.empty((h, w, 2), np.float32)
    bwd[..., 0], bwd[..., 1] = -dx, -dy
    fwd = -bwd
    frames = {}
    for t in range(1, n + 1):
        oy, ox = dy * (n - t), dx * (n - t)
        frames[t] = Frame(t, np.ascontiguousarray(big[oy : oy + h, ox : ox + w]), flow_to_prev=bwd,
                          flow_to_next=fwd, source=f"<memory {t}>")
    return Clip(frames, bwd, fwd)


class NoFallback:
    """PassMotion fallback that must never run (the host vectors are complete)."""

    def motion(self, cur: Frame, prev: Frame) -> Motion:
        raise RuntimeError("the synthetic host vectors are complete; the fallback must not run")


def video_model(arch: str, seed: int = 0) -> StyleModel:
    torch.manual_seed(seed)
    net = build_transformer(arch, 7).eval()
    return StyleModel(net, ModelMeta(kind="video", arch=arch, in_channels=7, style_name="bench"), Path("<bench>"))


def stylizer(model: StyleModel, device: str, precision: str, channels_last: bool = False,
             defer: bool = True, structure: bool = True, allow_tf32: bool = False) -> Stylizer:
    config = StylizerConfig(model="<bench>", image_model="self", device=device, precision=precision)
    motion = PassMotion(NoFallback(), structure_term=structure, defer_check=defer)
    return Stylizer(config, motion, models=(model, None), engine=EngineOptions(channels_last=channels_last),
                    tf32=allow_tf32)


# ------------------------------------------------------------------------------------------------ a
def section_env(rec: Recorder, dev: torch.device, smoke: bool) -> float:
    """Environment and the bf16 matmul ceiling (TFLOP/s)."""
    torch.backends.cudnn.benchmark = True
    rec.put("env", "python", platform.python_version())
    rec.put("env", "torch", torch.__version__)
    rec.put("env", "numpy", np.__version__)
    rec.put("env", "opencv", cv2.__version__)
    rec.put("env", "cpu", _cpu_name() + f", {os.cpu_count()} logical CPUs, torch threads {torch.get_num_threads()}")
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        rec.put("env", "gpu", f"{props.name}, {props.total_memory / 2**30:.1f} GiB, capability "
                              f"{props.major}.{props.minor}, {props.multi_processor_count} SMs")
        rec.put("env", "cuda", str(torch.version.cuda))
        rec.put("env", "cudnn", str(torch.backends.cudnn.version()))
        rec.put("env", "cudnn_benchmark", torch.backends.cudnn.benchmark)
        rec.put("env", "tf32_default", f"cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}, "
                                       f"matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32}")
    n = 512 if smoke else 8192
    dtype = torch.bfloat16
    a = torch.randn(n, n, device=dev, dtype=dtype)
    b = torch.randn(n, n, device=dev, dtype=dtype)
    t = time_fn(lambda: a @ b, dev, warmup=3, min_iters=5 if smoke else 20, min_s=0.05 if smoke else 1.0)
    ceiling = 2 * n**3 / t / 1e12
    rec.put("env", "bf16_matmul_tflops", round(ceiling, 2), f"bf16 matmul {n}^3: {ceiling:.1f} TFLOP/s (ceiling)")
    return ceiling


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


# ------------------------------------------------------------------------------------------------ b
def frame_diffs(ref: list[StylizedFrame], outs: list[StylizedFrame]) -> dict[str, list[float]]:
    """Per frame: max and mean |raw diff|, max |rgb diff| (rgb01) and the fraction of equal mask pixels."""
    pairs = list(zip(ref, outs, strict=True))
    return {
        "raw_max": [float(np.abs(a.raw - b.raw).max()) for a, b in pairs],
        "raw_mean": [float(np.abs(a.raw - b.raw).mean()) for a, b in pairs],
        "rgb_max": [float(np.abs(a.rgb - b.rgb).max()) for a, b in pairs],
        "mask_equal": [1.0 if a.reliable is None else float(np.mean(a.reliable == b.reliable)) for a, b in pairs],
    }


def section_parity(rec: Recorder, dev: torch.device, smoke: bool, arch: str) -> None:
    """Network and whole-Stylizer parity, CPU fp32 vs the device."""
    h, w = (24, 32) if smoke else (192, 256)
    torch.manual_seed(0)
    net = build_transformer(arch, 7).eval()
    x = torch.randn(1, 7, h, w) * 60.0
    ref = InferenceEngine(copy.deepcopy(net), "cpu")(x)
    rec.put("parity", "net_size", f"{w}x{h}, {arch}, output range ±150 pre-space (rgb01 = pre-space / 255)")
    precisions = ["fp32", "bf16"] + (["fp16"] if dev.type == "cuda" else [])
    for p in precisions:
        for tf in ([True, False] if dev.type == "cuda" and p == "fp32" else [None]):
            def run(p: str = p, tf: bool | None = tf) -> float:
                engine = InferenceEngine(copy.deepcopy(net), dev, p)
                if tf is None:
                    y = engine(x.to(dev))
                else:
                    with tf32(tf):
                        y = engine(x.to(dev))
                return float((y.cpu() - ref).abs().max())
            key = f"net_{p}" + ("" if tf is None else ("_tf32" if tf else "_no_tf32"))
            d = guarded(rec, "parity", key, run)
            if d is not None:
                rec.put("parity", key, d, f"net {dev.type} {key[4:]} vs CPU fp32: max|diff| = {d:.3g} pre-space "
                                          f"= {d / 255:.2g} rgb01")
    # whole Stylizer, 6 frames with known flow
    n = 6
    clip = make_clip(n, h, w, seed=1)
    model_cpu = video_model(arch, seed=2)
    cpu_out = list(stylizer(model_cpu, "cpu", "fp32", defer=False).run(clip))
    runs = [("fp32", None)] + ([("fp32", False)] if dev.type == "cuda" else []) + [("bf16", None)] + (
        [("fp16", None)] if dev.type == "cuda" else [])
    for p, tf in runs:
        def run_dev(p: str = p, tf: bool | None = tf) -> list[StylizedFrame]:
            # fp32 row: TF32 allowed (torch's cuDNN default, the Stylizer's before run 2); _no_tf32: the default now
            st = stylizer(video_model(arch, seed=2), str(dev), p, defer=True, allow_tf32=tf is None)
            return list(st.run(clip))
        key = f"stylizer_{p}" + ("" if tf is None else "_no_tf32")
        outs = guarded(rec, "parity", key, run_dev)
        if outs is None:
            continue
        d = frame_diffs(cpu_out, outs)
        raw, rgb, masks = d["raw_max"], d["rgb_max"], d["mask_equal"]
        rec.put("parity", key, {"raw_maxdiff_rgb01": raw, "rgb_maxdiff_rgb01": rgb, "mask_equal_fraction": masks},
                f"Stylizer {n} frames {dev.type} {key[9:]} (device path) vs CPU fp32 (numpy path): max|raw diff| per "
                f"frame (rgb01) {', '.join(f'{v:.2g}' for v in raw)}; delivered (median) "
                f"{', '.join(f'{v:.2g}' for v in rgb)}; mask equal fraction {', '.join(f'{v:.4f}' for v in masks)}")
    # the device ops alone on the device vs the numpy functions (exactness on this GPU)
    guarded(rec, "parity", "device_ops", lambda: _device_ops_parity(rec, dev, clip))


def _device_ops_parity(rec: Recorder, dev: torch.device, clip: Clip) -> None:
    from fav_core.median import median_filter
    from fav_core.median_torch import median_filter_t
    from fav_core.occlusion import consistency_check, min_filter
    from fav_core.occlusion_torch import consistency_check_t, min_filter_t

    rng = np.random.default_rng(5)
    h, w = clip.flow_bwd.shape[:2]
    bwd = rng.normal(0, 2, (h, w, 2)).astype(np.float32)
    fwd = (-bwd + rng.normal(0, 0.4, (h, w, 2))).astype(np.float32)
    img = clip.frames[1].rgb * np.float32(255.0)

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].to(dev)

    a = consistency_check(bwd, fwd)
    b = consistency_check_t(t(bwd), t(fwd))[0, 0].cpu().numpy()
    a2 = consistency_check(bwd, fwd, image=img)
    b2 = consistency_check_t(t(bwd), t(fwd), t(img))[0, 0].cpu().numpy()
    m = min_filter(a, 7)
    m2 = min_filter_t(torch.from_numpy(a)[None, None].to(dev), 7)[0, 0].cpu().numpy()
    med = median_filter(clip.frames[2].rgb, 3)
    med2 = median_filter_t(t(clip.frames[2].rgb), 3)[0].permute(1, 2, 0).cpu().numpy()
    rec.put("parity", "device_ops", {
        "check_no_image_equal": float(np.mean(a == b)), "check_image_equal": float(np.mean(a2 == b2)),
        "min_filter_equal": bool(np.array_equal(m, m2)), "median_equal": bool(np.array_equal(med, med2))},
        f"device ops on {dev.type} vs numpy: check (no image) equal fraction {np.mean(a == b):.6f}, with image "
        f"{np.mean(a2 == b2):.6f} (near ties may flip), min filter identical {np.array_equal(m, m2)}, "
        f"median identical {np.array_equal(med, med2)}")


# ------------------------------------------------------------------------------------------------ p
TRAINED_VIDEO = ROOT / "models" / "stained-glass-video.safetensors"
TRAINED_IMAGE = ROOT / "models" / "stained-glass-image.safetensors"


def section_trained_parity(rec: Recorder, dev: torch.device, smoke: bool) -> None:
    """Whole-Stylizer parity with the SHIPPED trained models (image model first frame, then the video model),
    CPU fp32 (numpy path) vs the device path: does the recursion amplify differences with trained weights as it
    does with random ones? The same run with random weights of the same arch is the control."""
    from fav_core.modelfile import load_model

    h, w = (24, 32) if smoke else (192, 256)
    n = 4 if smoke else 12
    clip = make_clip(n, h, w, seed=1)

    def models(weights: str) -> tuple[StyleModel, StyleModel]:
        video, image = load_model(str(TRAINED_VIDEO)), load_model(str(TRAINED_IMAGE))
        if weights == "random":  # same arch and metadata, seeded random weights
            torch.manual_seed(2)
            video = StyleModel(build_transformer(video.meta.arch, 7).eval(), video.meta, video.path)
            image = StyleModel(build_transformer(image.meta.arch, 3).eval(), image.meta, image.path)
        return video, image

    def run(weights: str, device: str, precision: str, allow_tf32: bool = False) -> list[StylizedFrame]:
        config = StylizerConfig(model=str(TRAINED_VIDEO), image_model=str(TRAINED_IMAGE), device=device,
                                precision=precision)
        motion = PassMotion(NoFallback(), structure_term=True, defer_check=device != "cpu")
        st = Stylizer(config, motion, models=models(weights), tf32=allow_tf32,
                      device_ops=None if device != "cpu" else False)
        with tf32(allow_tf32):  # explicit either way (the Stylizer turns TF32 off itself unless allow_tf32)
            return list(st.run(clip))

    arch = load_model(str(TRAINED_VIDEO)).meta.arch
    rec.put("trained", "settings", f"{w}x{h}, {n} frames panning {SHIFT} px/frame, {TRAINED_VIDEO.name} + "
                                   f"{TRAINED_IMAGE.name} ({arch}), structure term on, min filter 7, median 3")
    variants = ([("fp32_no_tf32", "fp32", False), ("fp32_tf32", "fp32", True), ("fp16", "fp16", False)]
                if dev.type == "cuda" else [("fp32_no_tf32", "fp32", False), ("bf16", "bf16", False)])
    for weights in ("trained", "random"):
        ref = guarded(rec, "trained", f"{weights}_cpu", lambda weights=weights: run(weights, "cpu", "fp32"))
        if ref is None:
            continue
        top = max(float(np.abs(o.raw).max()) for o in ref)
        rec.put("trained", f"{weights}_cpu_range", round(top, 3), f"{weights} weights: CPU fp32 output max|raw| "
                                                                  f"{top:.3g} rgb01")
        for key, precision, allow in variants:
            outs = guarded(rec, "trained", f"{weights}_{key}",
                           lambda weights=weights, precision=precision, allow=allow: run(
                               weights, str(dev), precision, allow))
            if outs is None:
                continue
            d = frame_diffs(ref, outs)
            raw, mean, masks = d["raw_max"], d["raw_mean"], d["mask_equal"]
            growth = (raw[-1] / raw[0]) ** (1.0 / (n - 1)) if raw[0] > 0 else float("nan")
            rec.put("trained", f"{weights}_{key}", {"raw_maxdiff_rgb01": raw, "raw_meandiff_rgb01": mean,
                                                    "mask_equal_fraction": masks, "growth_per_frame": growth},
                    f"{weights} weights, {dev.type} {key} vs CPU fp32: max|raw diff| per frame (rgb01) "
                    f"{', '.join(f'{v:.2g}' for v in raw)}; mean|diff| first/last {mean[0]:.2g}/{mean[-1]:.2g}; "
                    f"growth x{growth:.2f} per frame; masks equal (min) {min(masks):.4f}")


# ------------------------------------------------------------------------------------------------ c
def section_network(rec: Recorder, dev: torch.device, smoke: bool, arch: str, ceiling: float | None
                    ) -> dict[str, Any]:
    """Network fps per size / precision / variant. Returns the best 1080p settings and their fps."""
    sizes = [("small", 48, 64), ("smaller", 36, 52)] if smoke else [("1080p", 1080, 1920), ("4K", 2160, 3840)]
    precisions = ["fp32", "bf16"] + (["fp16"] if dev.type == "cuda" else [])
    warm, iters, min_s = (1, 2, 0.0) if smoke else (3, 10, 0.5)
    torch.manual_seed(0)
    net = build_transformer(arch, 7).eval()
    results: dict[str, float] = {}
    for label, h, w in sizes:
        flops = conv_flops(net, (1, 7, h, w))
        rec.put("network", f"{label}_gflop", round(flops / 1e9, 1), f"{label} ({w}x{h}): {flops / 1e9:.1f} GFLOP "
                                                                   "per frame (arch as built, analytic)")
        x = (torch.randn(1, 7, h, w) * 60.0).to(dev)
        for p in precisions:
            for cl in (False, True):
                if rec.left() < 20:
                    rec.put("network", f"{label}_{p}_{'cl' if cl else 'eager'}", "skipped (budget)")
                    continue
                key = f"{label}_{p}_{'channels_last' if cl else 'engine'}"
                got = guarded(rec, "network", key, lambda p=p, cl=cl, x=x: _time_engine(
                    net, x, dev, p, EngineOptions(channels_last=cl), warm, iters, min_s))
                if got is None:
                    continue
                t, note = got
                results[key] = 1.0 / t
                _put_rate(rec, key, t, flops, ceiling, note)
        del x
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    best = _best(results, sizes[0][0])
    rec.put("network", "best_first_size", best, f"best at {sizes[0][0]}: {best}")
    label, h, w = sizes[0]
    flops = conv_flops(net, (1, 7, h, w))
    x = (torch.randn(1, 7, h, w) * 60.0).to(dev)
    p, cl = best["precision"], best["channels_last"]
    if dev.type == "cuda" and rec.left() > 30:
        key = f"{label}_{p}_{'channels_last' if cl else 'engine'}_cuda_graph"
        got = guarded(rec, "network", key, lambda: _time_graph(net, x, dev, p, cl, warm, iters, min_s))
        if got is not None:
            results[key] = 1.0 / got
            _put_rate(rec, key, got, flops, ceiling, "CUDA graph of the engine's forward, captured once, replayed")
    elif dev.type != "cuda":
        rec.put("network", "cuda_graph", "not run: CUDA graphs need a CUDA device")
    if dev.type == "cuda" and rec.left() > 30:  # fav stylize does not set cudnn.benchmark: what does it cost?
        key = f"{label}_{p}_{'channels_last' if cl else 'engine'}_no_cudnn_benchmark"
        torch.backends.cudnn.benchmark = False
        try:
            got2 = guarded(rec, "network", key, lambda: _time_engine(
                net, x, dev, p, EngineOptions(channels_last=cl), warm, iters, min_s))
        finally:
            torch.backends.cudnn.benchmark = True
        if got2 is not None:
            _put_rate(rec, key, got2[0], flops, ceiling, "torch.backends.cudnn.benchmark = False (torch's default)")
    best["fps"] = results.get(f"{label}_{p}_{'channels_last' if cl else 'engine'}")
    return best


def section_compile(rec: Recorder, dev: torch.device, smoke: bool, arch: str, ceiling: float | None,
                    best: dict[str, Any]) -> None:
    """torch.compile of the engine at the first size and the best settings of (c) (run last: compiling is slow)."""
    label, h, w = ("small", 48, 64) if smoke else ("1080p", 1080, 1920)
    warm, iters, min_s = (1, 2, 0.0) if smoke else (3, 10, 0.5)
    p, cl = best.get("precision", "bf16"), bool(best.get("channels_last", False))
    torch.manual_seed(0)
    net = build_transformer(arch, 7).eval()
    flops = conv_flops(net, (1, 7, h, w))
    x = (torch.randn(1, 7, h, w) * 60.0).to(dev)
    key = f"{label}_{p}_{'channels_last' if cl else 'engine'}_compile"
    with tempfile.TemporaryDirectory(prefix="fav-compile-") as cache:
        got = guarded(rec, "network", key, lambda: _time_engine(
            net, x, dev, p, EngineOptions(channels_last=cl, compile=True, cache_dir=cache), warm, iters, min_s))
    if got is not None:
        _put_rate(rec, key, got[0], flops, ceiling, got[1])
        if best.get("fps"):
            rec.put("network", "compile_speedup", round(1 / got[0] / best["fps"], 3),
                    f"torch.compile vs eager engine at {label} {p}: {1 / got[0] / best['fps']:.2f}x")


def _best(results: dict[str, float], label: str) -> dict[str, Any]:
    """Fastest (precision, channels_last) at ``label`` among the engine rows; bf16 / eager if none measured."""
    rows = [(fps, k) for k, fps in results.items() if k.startswith(label + "_")]
    if not rows:
        return {"precision": "bf16", "channels_last": False}
    _, key = max(rows)
    parts = key.split("_")
    return {"precision": parts[1], "channels_last": parts[2] == "channels"}


def _put_rate(rec: Recorder, key: str, t: float, flops: float, ceiling: float | None, note: str) -> None:
    tflops = flops / t / 1e12
    frac = f", {100 * tflops / ceiling:.1f}% of the bf16 matmul ceiling" if ceiling else ""
    rec.put("network", key, {"ms": round(1000 * t, 3), "fps": round(1 / t, 2), "tflops": round(tflops, 2),
                             "note": note},
            f"{key}: {1000 * t:.2f} ms/frame = {1 / t:.1f} fps, {tflops:.1f} TFLOP/s{frac}{'; ' + note if note else ''}")


def _time_engine(net: torch.nn.Module, x: torch.Tensor, dev: torch.device, precision: str, options: EngineOptions,
                 warm: int, iters: int, min_s: float) -> tuple[float, str]:
    """Seconds per frame of an InferenceEngine (first call timed apart: compile / cudnn autotune)."""
    engine = InferenceEngine(copy.deepcopy(net), dev, precision, options)
    note = ""
    try:
        t0 = time.perf_counter()
        engine(x)
        sync(dev)
        first = time.perf_counter() - t0
        if options.compile:
            compiled = engine._run is not engine._module  # noqa: SLF001 - did compile succeed?
            note = f"first call {first:.1f} s" + ("" if compiled else "; COMPILE FAILED, ran uncompiled")
        return time_fn(lambda: engine(x), dev, warm, iters, min_s), note
    except RuntimeError as exc:
        if not is_out_of_memory(exc):
            raise
        del engine
        torch.cuda.empty_cache()
        return _time_tiled(net, x, dev, precision, warm, iters, min_s)


def _time_tiled(net: torch.nn.Module, x: torch.Tensor, dev: torch.device, precision: str, warm: int, iters: int,
                min_s: float) -> tuple[float, str]:
    """Out of memory untiled: the tiled path fav stylize falls back to (exact instance-norm statistics)."""
    from fav_core.tiling import forward_any_size

    model = copy.deepcopy(net).to(dev).eval()
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
    tile = 1024

    def run() -> torch.Tensor:
        with torch.inference_mode(), torch.autocast(dev.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            return forward_any_size(model, x, tile, str(dev), 2 if dtype else 4)

    return time_fn(run, dev, warm, iters, min_s), f"OUT OF MEMORY untiled: tiles of {tile} px, exact statistics"


def _time_graph(net: torch.nn.Module, x: torch.Tensor, dev: torch.device, precision: str, cl: bool, warm: int,
                iters: int, min_s: float) -> float:
    """The engine's forward captured as one CUDA graph (static input), replayed per frame."""
    engine = InferenceEngine(copy.deepcopy(net), dev, precision, EngineOptions(channels_last=cl))
    module = engine._module  # noqa: SLF001 - the engine's forward, captured here
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
    static_x = x.clone().contiguous(memory_format=torch.channels_last) if cl else x.clone()

    def body() -> torch.Tensor:
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None, cache_enabled=False):
            return module(static_x).float()

    with torch.inference_mode():
        side = torch.cuda.Stream(dev)
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(side):
            for _ in range(3):
                body()
        torch.cuda.current_stream(dev).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_y = body()
        ref = engine(x)
        graph.replay()
        sync(dev)
        diff = float((static_y - ref).abs().max())
    if diff > 1e-2 * 150:
        raise RuntimeError(f"CUDA graph output differs from the engine by {diff}")
    return time_fn(graph.replay, dev, warm, iters, min_s)


# ------------------------------------------------------------------------------------------------ d
def section_end_to_end(rec: Recorder, dev: torch.device, smoke: bool, arch: str, best: dict[str, Any],
                       ceiling: float | None, with_compile: bool = True, with_files: bool = True,
                       readers: int = 4) -> None:
    """The Stylizer loop at 1080p with in-memory host flows and from files, vs the bare network."""
    h, w = (48, 64) if smoke else (1080, 1920)
    n_warm, n_timed = (2, 3) if smoke else (5, 60)
    p, cl = best.get("precision", "bf16"), bool(best.get("channels_last", False))
    if dev.type != "cuda" and p == "fp16":
        p = "fp32"
    rec.put("e2e", "settings", f"{w}x{h}, {arch}, precision {p}, channels_last {cl}, min filter 7, median 3, "
                               f"structure term on, {n_warm} warm-up + {n_timed} timed frames")
    clip = make_clip(n_warm + n_timed, h, w, seed=3)
    model = video_model(arch, seed=4)
    bare = best.get("fps")
    if bare is None:  # (c) skipped: measure the bare engine here
        x = (torch.randn(1, 7, h, w) * 60.0).to(dev)
        t, _ = _time_engine(model.net, x, dev, p, EngineOptions(channels_last=cl), 2, 5, 0.2)
        bare = 1.0 / t
        rec.put("e2e", "bare_fps", round(bare, 2), f"bare network measured here: {bare:.1f} fps")
    else:
        rec.put("e2e", "bare_fps", round(bare, 2), f"bare network (section c, same precision/layout): {bare:.1f} fps")
    if dev.type == "cuda":  # what "fp32 means fp32" (the Stylizer's default now) costs against TF32 convolutions
        guarded(rec, "e2e", "fp32_tf32", lambda: _tf32_cost(rec, dev, model, h, w))

    def loop(pipelined: bool, overlap: bool, staged: bool, compiled: bool, cache: str) -> tuple[float, str]:
        # device_ops=True: the smoke run exercises the device path on the CPU too
        options = EngineOptions(channels_last=cl, compile=compiled, cache_dir=cache if compiled else None)
        motion = PassMotion(NoFallback(), structure_term=True, defer_check=True)
        config = StylizerConfig(model="<bench>", image_model="self", device=str(dev), precision=p)
        order = clip.indices
        stamps: list[float] = []
        if pipelined:
            pipe = FramePipeline(clip, motion, depth=2)
            st = Stylizer(config, pipe.motion_view, models=(model, None), engine=options, device_ops=True,
                          overlap=overlap, stage_ahead=staged)
            if staged:
                pipe.set_stage(st.stage)  # from the first frame on (run() would attach it a few frames later)
            pipe.start(order)
            with pipe:
                for out in st.run(pipe.source_view, indices=order):
                    stamps.append(time.perf_counter())
                    lasts[(staged, compiled)] = out.raw
        else:
            st = Stylizer(config, motion, models=(model, None), engine=options, device_ops=True, overlap=overlap,
                          stage_ahead=False)
            for out in st.run(clip, indices=order):
                stamps.append(time.perf_counter())
                lasts[(staged, compiled)] = out.raw
        steps = np.diff(stamps[n_warm - 1 :])
        note = ""
        if compiled:
            engine = st._engines[id(model.net)]  # noqa: SLF001 - did compile succeed, and the bare compiled net
            ok = engine._run is not engine._module  # noqa: SLF001
            note = "compiled" if ok else "COMPILE FAILED, ran uncompiled"
            x = (torch.randn(1, 7, h, w) * 60.0).to(dev)
            tb = time_fn(lambda: engine(x), dev, 2, 5 if not smoke else 1, 0.3 if not smoke else 0.0)
            rec.put("e2e", "bare_compiled_fps", round(1 / tb, 2),
                    f"bare network, the Stylizer's compiled engine ({note}): {1000 * tb:.2f} ms = {1 / tb:.1f} fps")
        return float(np.mean(steps)), note

    variants = [  # (pipelined, overlap, staged, compiled): run 1's four, then staging, then staging + compile
        (False, False, False, False), (True, False, False, False), (False, True, False, False),
        (True, True, False, False), (True, True, True, False)]
    if with_compile:
        variants.append((True, True, True, True))
    results: dict[str, float] = {}
    lasts: dict[tuple[bool, bool], np.ndarray] = {}  # the last raw output (staged, compiled) -> a race detector
    with tempfile.TemporaryDirectory(prefix="fav-compile-") as cache:
        for pipelined, overlap, staged, compiled in variants:
            key = (f"memory_{'pipeline' if pipelined else 'nopipeline'}_{'overlap' if overlap else 'oneframe'}"
                   + ("_staged" if staged else "") + ("_compile" if compiled else ""))
            if compiled and rec.left() < (5 if smoke else 60):  # a cold compile takes 15-30 s on the H200
                rec.put("e2e", key, f"skipped (budget: {rec.left():.0f} s left)")
                continue
            got = guarded(rec, "e2e", key, lambda a=pipelined, b=overlap, c=staged, d=compiled: loop(a, b, c, d, cache))
            if got is None:
                continue
            t, note = got
            results[key] = 1 / t
            how = ("read-ahead pipeline (motion checks in its thread)" if pipelined else "no pipeline") + ", " + (
                "overlap (frame t+1 uploaded/queued before t is handed out; side streams)" if overlap
                else "one frame at a time")
            if staged:
                how += ", staged (read-ahead thread: pinned copies, side-stream upload, check + min filter)"
            if compiled:
                how += f", torch.compile ({note})"
            rec.put("e2e", key, {"ms": round(1000 * t, 2), "fps": round(1 / t, 2),
                                 "ratio_to_bare": round(1 / t / bare, 3), "note": note},
                    f"in-memory host flows, {how}: {1000 * t:.2f} ms/frame = {1 / t:.1f} fps; end_to_end/bare "
                    f"(eager) = {1 / t / bare:.3f}; target 60 fps: {'MET' if 1 / t >= 60 else 'not met'}")
    if (False, False) in lasts and (True, False) in lasts:
        diff = float(np.abs(lasts[(False, False)] - lasts[(True, False)]).max())
        rec.put("e2e", "staged_vs_unstaged_maxdiff", diff,
                f"last frame ({len(clip.indices)} recursive frames), staged vs unstaged eager: max|raw diff| = {diff:.3g} "
                "rgb01 (0 expected: same ops on the same data; non-zero = a stream-sync bug or nondeterministic convs)")
    if results:
        key, fps = max(results.items(), key=lambda kv: kv[1])
        gpu = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU (smoke)"
        rec.put("e2e", "verdict", {"best": key, "fps": round(fps, 2), "met": fps >= 60, "gpu": gpu},
                f"VERDICT: best end to end at {w}x{h} {p}: {fps:.1f} fps ({key}) on {gpu}: target 60 fps "
                f"{'MET' if fps >= 60 else 'NOT met'} (the issue names an H100)")
    guarded(rec, "e2e", "breakdown", lambda: _breakdown(rec, dev, clip, model, p, cl))
    guarded(rec, "e2e", "copies", lambda: _copy_rates(rec, dev, h, w))
    if not with_files:
        rec.put("e2e", "files", "not run (--no-files)")
    elif rec.left() > (5 if smoke else 40):
        guarded(rec, "e2e", "files", lambda: _from_files(rec, dev, clip, model, p, cl, n_warm, bare, readers))
    else:
        rec.put("e2e", "files", "skipped (budget)")


def _tf32_cost(rec: Recorder, dev: torch.device, model: StyleModel, h: int, w: int) -> None:
    """The bare engine in fp32 at (h, w) with TF32 convolutions allowed and forbidden."""
    x = (torch.randn(1, 7, h, w) * 60.0).to(dev)
    out = {}
    for allow in (True, False):
        with tf32(allow):
            t, _ = _time_engine(model.net, x, dev, "fp32", EngineOptions(), 2, 5, 0.3)
        out["tf32" if allow else "no_tf32"] = round(1000 * t, 2)
    rec.put("e2e", "fp32_tf32_ms", out, f"bare engine fp32 at {w}x{h}: TF32 allowed {out['tf32']:.2f} ms, TF32 off "
                                        f"(the Stylizer's fp32 now) {out['no_tf32']:.2f} ms")


def _breakdown(rec: Recorder, dev: torch.device, clip: Clip, model: StyleModel, p: str, cl: bool) -> None:
    """Synced time of each step of one device-path frame (sum > loop time: syncs stop the overlap)."""
    from fav_core.median_torch import median_filter_t
    from fav_core.occlusion_torch import consistency_check_t, min_filter_t
    from fav_core.transfer_torch import Transfers, pinned_copy
    from fav_core.warp import warp_backward

    st = Stylizer(StylizerConfig(model="<bench>", device=str(dev), precision=p), PassMotion(NoFallback()),
                  models=(model, None), engine=EngineOptions(channels_last=cl), device_ops=True)
    f1, f2 = clip.frames[1], clip.frames[2]
    prev = st.stylize_first(f1)
    transfers = Transfers(dev, side_streams=False)
    up = transfers.upload
    x, flow, fwd = up(f2.rgb), up(clip.flow_bwd), up(clip.flow_fwd)
    rel = consistency_check_t(flow, fwd, x * 255.0)
    mask = min_filter_t(rel, 7)
    prior = st._prior_tensor(prev, transfers)  # noqa: SLF001 - timing the steps of the device path
    warped = warp_backward(prior, flow)
    raw = st.video_step(x, warped, mask, fill_key=(2,))
    images = torch.cat([raw, median_filter_t(raw, 3)]).permute(0, 2, 3, 1).contiguous()
    motion = PassMotion(NoFallback(), defer_check=True)
    pending = motion.motion(f2, f1)
    staged = st.stage(f2, pending, 1)
    sync(dev)
    steps: dict[str, Callable[[], object]] = {
        "PassMotion.motion (CPU: host-vector checks, deferred check)": lambda: motion.motion(f2, f1),
        "upload frame + 2 flows (pageable)": lambda: (up(f2.rgb), up(clip.flow_bwd), up(clip.flow_fwd)),
        "consistency check (structure term on)": lambda: consistency_check_t(flow, fwd, x * 255.0),
        "min filter 7": lambda: min_filter_t(rel, 7),
        "warp": lambda: warp_backward(prior, flow),
        "net (video_step: pre/deprocess, fill, engine)": lambda: st.video_step(x, warped, mask, fill_key=(2,)),
        "median 3": lambda: median_filter_t(raw, 3),
        "download raw + rgb + mask (pinned on CUDA) and wait": lambda: transfers.download(
            [images, mask[0, 0].contiguous()]).wait(),
        "whole stylize_next (one frame, no overlap)": lambda: st.stylize_next(f2, f1, prev),
        "read-ahead thread: Stylizer.stage (pinned copies, side-stream upload, check, min filter)":
            lambda: st.stage(f2, pending, 1),
        "main thread with a staged frame: _device_frame (wait event, warp, net, median, download issued)":
            lambda: st._device_frame(f2, pending, prior, transfers, staged),  # noqa: SLF001
    }
    if dev.type == "cuda":
        steps["read-ahead thread: pinned copies of frame + 2 flows (CPU)"] = lambda: [
            pinned_copy(a) for a in (f2.rgb, clip.flow_bwd, clip.flow_fwd)]
    out = {}
    for name, fn in steps.items():
        t = time_fn(fn, dev, warmup=2, min_iters=5, min_s=0.2)
        out[name] = round(1000 * t, 3)
    rec.put("e2e", "breakdown_ms", out, "per-step ms (each synced): " + "; ".join(f"{k} {v:.2f}" for k, v in out.items()))


def _copy_rates(rec: Recorder, dev: torch.device, h: int, w: int) -> None:
    """Host<->device GB/s for one (H, W, 3) float32 frame, pageable vs pinned."""
    if dev.type != "cuda":
        rec.put("e2e", "copies", "not run: host<->device copies need a CUDA device")
        return
    host = np.random.default_rng(0).random((h, w, 3), dtype=np.float32)
    pageable = torch.from_numpy(host)
    pinned = pageable.pin_memory()
    d = pageable.to(dev)
    out_pin = torch.empty_like(pinned).pin_memory()
    nbytes = host.nbytes
    rates = {
        "h2d_pageable": time_fn(lambda: pageable.to(dev), dev, 2, 10, 0.2),
        "h2d_pinned": time_fn(lambda: pinned.to(dev, non_blocking=True), dev, 2, 10, 0.2),
        "d2h_pageable": time_fn(lambda: d.cpu(), dev, 2, 10, 0.2),
        "d2h_pinned": time_fn(lambda: out_pin.copy_(d, non_blocking=True), dev, 2, 10, 0.2),
    }
    gbs = {k: round(nbytes / v / 1e9, 2) for k, v in rates.items()}
    rec.put("e2e", "copy_gb_per_s", gbs, f"copies of one {w}x{h} float32 RGB frame ({nbytes / 1e6:.1f} MB), GB/s: "
                                         + ", ".join(f"{k} {v}" for k, v in gbs.items()))


class PngSource:
    """PNG frames read with cv2 (fav_core.io reads PNGs through OpenImageIO, which this machine lacks)."""

    concurrent_reads = True  # each read opens its own file: FramePipeline's readers may read several at once

    def __init__(self, folder: Path, indices: list[int]) -> None:
        self.folder = folder
        self._indices = indices

    @property
    def indices(self) -> list[int]:
        return list(self._indices)

    def read(self, index: int) -> Frame:
        path = self.folder / f"frame_{index:04d}.png"
        bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if bgr is None:
            raise RuntimeError(f"{path}: cv2 could not read it")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) * np.float32(1.0 / 255.0)
        return Frame(index, rgb, source=str(path))


def _from_files(rec: Recorder, dev: torch.device, clip: Clip, model: StyleModel, p: str, cl: bool, n_warm: int,
                bare: float, readers: int = 4) -> None:
    """The clip from PNG + .flo + .pgm files on disk (FileMotion + read-ahead pipeline with 1 and ``readers``
    reader threads; the pipeline alone and with the Stylizer)."""
    from fav_core.flow.io import read_flo, write_flo
    from fav_core.occlusion import consistency_check
    from fav_core.pgm import read_pgm, write_pgm

    order = clip.indices[: min(len(clip.indices), n_warm + 20)]
    with tempfile.TemporaryDirectory(prefix="fav-gpu-bench-", dir="/tmp") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        reliable = consistency_check(clip.flow_bwd, clip.flow_fwd)
        for t in order:
            rgb8 = np.clip(np.round(clip.frames[t].rgb * 255), 0, 255).astype(np.uint8)
            cv2.imwrite(str(folder / f"frame_{t:04d}.png"), cv2.cvtColor(rgb8, cv2.COLOR_RGB2BGR))
            if t > order[0]:
                write_flo(folder / f"backward_{t}_{t - 1}.flo", clip.flow_bwd)
                write_pgm(folder / f"reliable_{t}_{t - 1}.pgm", reliable)
        rec.put("e2e", "files_written_s", round(time.perf_counter() - t0, 1),
                f"wrote {len(order)} PNG + .flo + .pgm in {time.perf_counter() - t0:.1f} s to {folder}")
        source = PngSource(folder, order)
        motion = FileMotion(str(folder / "backward_[%d]_{%d}.flo"), str(folder / "reliable_[%d]_{%d}.pgm"))
        t2 = order[1]
        reads = {
            "read PNG (cv2) + to float": lambda: source.read(t2),
            "read .flo (fav_core)": lambda: read_flo(folder / f"backward_{t2}_{t2 - 1}.flo"),
            "read .pgm (fav_core)": lambda: read_pgm(folder / f"reliable_{t2}_{t2 - 1}.pgm"),
        }
        cpu = torch.device("cpu")
        read_ms = {k: round(1000 * time_fn(fn, cpu, 1, 3, 0.1), 2) for k, fn in reads.items()}
        rec.put("e2e", "file_read_ms", read_ms, "per-frame reads on the CPU (ms): "
                + "; ".join(f"{k} {v}" for k, v in read_ms.items()))
        config = StylizerConfig(model="<bench>", image_model="self", device=str(dev), precision=p)
        reader_counts = sorted({1, readers})
        for n_readers in reader_counts:  # read-only: how fast the pipeline alone delivers frames + motion
            src_only = PngSource(folder, order)
            pipe = FramePipeline(src_only, motion, readers=n_readers, depth=2 if n_readers == 1 else None)
            pipe.start(order)
            t0 = time.perf_counter()
            with pipe:
                prev = None
                for i in order:
                    f = pipe.source_view.read(i)
                    if prev is not None and pipe.motion_view is not None:
                        pipe.motion_view.motion(f, prev)
                    prev = f
            fps_read = len(order) / (time.perf_counter() - t0)
            rec.put("e2e", f"files_read_only_readers{n_readers}", round(fps_read, 2),
                    f"from files, the pipeline alone (no network), {n_readers} reader thread(s): {fps_read:.1f} "
                    "frames/s (PNG + .flo + .pgm)")
        for n_readers in reader_counts:
            pipe = FramePipeline(source, motion, readers=n_readers, depth=2 if n_readers == 1 else None)
            st = Stylizer(config, pipe.motion_view, models=(model, None), engine=EngineOptions(channels_last=cl),
                          device_ops=True)
            stamps: list[float] = []
            pipe.start(order)
            with pipe:
                for _ in st.run(pipe.source_view, indices=order):
                    stamps.append(time.perf_counter())
            t = float(np.mean(np.diff(stamps[n_warm - 1 :])))
            limit = (f"the reader thread(s) (PNG decode + .flo/.pgm reads, {n_readers} in parallel)"
                     if 1000 * t * n_readers <= 1.15 * sum(read_ms.values()) else "the device loop")
            key = "files_pipelined" if n_readers == 1 else f"files_pipelined_readers{n_readers}"  # run 2's key: 1
            rec.put("e2e", key, {"ms": round(1000 * t, 2), "fps": round(1 / t, 2), "readers": n_readers,
                                 "depth": pipe.depth, "ratio_to_bare": round(1 / t / bare, 3)},
                    f"from files (PNG + .flo + .pgm, FileMotion, read-ahead pipeline, {n_readers} reader thread(s), "
                    f"depth {pipe.depth}): {1000 * t:.2f} ms/frame = {1 / t:.1f} fps; end_to_end/bare = "
                    f"{1 / t / bare:.3f}; limited by {limit}")


# ------------------------------------------------------------------------------------------------ e
def section_training(rec: Recorder, dev: torch.device, smoke: bool) -> None:
    """A few Trainer iterations of an image and a video model on tiny data made here."""
    from training.config import TrainConfig
    from training.datasets import build_image_hdf5
    from training.loop import Trainer

    size = 32 if smoke else 256
    arch = TINY_ARCH if smoke else "c9s1-32,d64,d128,R128,R128,R128,R128,R128,u64,u32,c9s1-3"
    varch = TINY_ARCH if smoke else PAPER_VIDEO_ARCH
    n_warm, n_timed = (1, 1) if smoke else (2, 8)
    with tempfile.TemporaryDirectory(prefix="fav-gpu-train-") as tmp:
        root = Path(tmp)
        images = {f"im{i}": (texture(size + 16, size + 16, seed=10 + i) * 255).astype(np.uint8) for i in range(6)}
        h5 = build_image_hdf5(images, {"v": images["im0"]}, root / "img.h5", size, size, max_resize=8)
        style = root / "style.png"
        cv2.imwrite(str(style), (texture(64, 64, seed=99) * 255).astype(np.uint8))
        base: dict[str, Any] = dict(
            style_image=str(style), h5_file=str(h5), loss_network="random-multiscale", content_weights="1",
            style_weights="2", style_image_size=64, image_size=f"{size}:{size}", batch_size=2 if smoke else 4,
            num_iterations=100, learning_rate="1e-3", checkpoint_every=1000, images_every=1000, val_every=1000,
            num_val_batches=1, device=str(dev))
        runs = {
            "image": dict(mode="image", arch=arch),
            "video": dict(mode="video", arch=varch, image_model="self", data_mix="shift:1",
                          num_frame_steps="0:2", fill_occlusions="vgg-mean"),
        }
        for name, opts in runs.items():
            def train(name: str = name, opts: dict[str, Any] = opts) -> None:
                config = TrainConfig(**{**base, **opts, "output_dir": str(root / name)})
                trainer = Trainer(config, show_progress=False)
                losses: list[float] = []
                for i in range(1, n_warm + 1):
                    losses.append(trainer.step(i).losses["total"])
                sync(dev)
                t0 = time.perf_counter()
                for i in range(n_warm + 1, n_warm + n_timed + 1):
                    losses.append(trainer.step(i).losses["total"])
                sync(dev)
                t = (time.perf_counter() - t0) / n_timed
                finite = all(math.isfinite(v) for v in losses)
                rec.put("training", name, {"it_per_s": round(1 / t, 3), "losses": [round(v, 4) for v in losses],
                                           "finite": finite},
                        f"{name} model ({opts['arch']}, {size}x{size}, batch {config.batch_size}, random-multiscale "
                        f"loss net, autocast {'bf16' if dev.type == 'cuda' else 'off'}): {1 / t:.2f} it/s, losses "
                        f"{'finite' if finite else 'NOT FINITE'} ({losses[0]:.4g} -> {losses[-1]:.4g})")
            guarded(rec, "training", name, train)


# ------------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    """Run the sections; results in OUT/gpu.json and OUT/gpu.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for gpu.json and gpu.md")
    ap.add_argument("--budget-s", type=float, default=300.0, help="skip sections once this much time is spent")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu (with --smoke)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and a tiny arch: exercise every code path")
    ap.add_argument("--sections", default="a,b,p,c,d,e",
                    help="comma list of sections to run: a env, b parity (random paper net), p parity with the "
                         "shipped trained models, c network fps, d end to end, e training smoke")
    ap.add_argument("--no-compile", action="store_true",
                    help="skip the torch.compile row of (c), run last, and the compiled end-to-end row of (d)")
    ap.add_argument("--e2e-precision", choices=("fp32", "fp16", "bf16"), default=None,
                    help="precision of (d); default: the best of (c), else fp16 on CUDA (fp32 on a CPU)")
    ap.add_argument("--no-files", action="store_true", help="skip the from-files part of (d)")
    ap.add_argument("--readers", type=int, default=4,
                    help="reader threads of the from-files rows of (d), measured next to 1 (default 4)")
    args = ap.parse_args(argv)
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: use --device cpu --smoke", flush=True)
        return 2
    arch = TINY_ARCH if args.smoke else PAPER_VIDEO_ARCH
    rec = Recorder(Path(args.out), args.budget_s)
    todo = set(args.sections.split(","))
    unknown = todo - set("abcdep")
    if unknown:
        print(f"unknown sections {sorted(unknown)}: use a comma list of a, b, p, c, d, e", flush=True)
        return 2
    torch.backends.cudnn.benchmark = True
    ceiling: float | None = None
    best: dict[str, Any] = {"precision": "fp16" if dev.type == "cuda" else "fp32", "channels_last": False}
    if "a" in todo:
        with rec.section("env", "a. environment", 5) as go:
            if go:
                ceiling = section_env(rec, dev, args.smoke)
    if "b" in todo:
        with rec.section("parity", "b. parity CPU vs device", 20 if not args.smoke else 2) as go:
            if go:
                section_parity(rec, dev, args.smoke, arch)
    if "p" in todo:
        with rec.section("trained", "p. parity with the shipped trained models", 15 if not args.smoke else 2) as go:
            if go:
                section_trained_parity(rec, dev, args.smoke)
    if "c" in todo:
        with rec.section("network", "c. network fps", 30 if not args.smoke else 2) as go:
            if go:
                best = section_network(rec, dev, args.smoke, arch, ceiling)
    if "d" in todo:
        with rec.section("e2e", "d. end to end at 1080p", 20 if not args.smoke else 2) as go:
            if go:
                if args.e2e_precision is not None and args.e2e_precision != best.get("precision"):
                    best = {"precision": args.e2e_precision, "channels_last": False}  # its bare fps is measured in d
                section_end_to_end(rec, dev, args.smoke, arch, best, ceiling, with_compile=not args.no_compile,
                                   with_files=not args.no_files, readers=args.readers)
    if "e" in todo:
        with rec.section("training", "e. training smoke", 15 if not args.smoke else 2) as go:
            if go:
                section_training(rec, dev, args.smoke)
    if "c" in todo and not args.no_compile:
        with rec.section("compile", "c (last). torch.compile of the network", 100 if not args.smoke else 2) as go:
            if go:
                section_compile(rec, dev, args.smoke, arch, ceiling, best)
    rec.put("done", "total_s", round(rec.elapsed(), 1), f"total {rec.elapsed():.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
