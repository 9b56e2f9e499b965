"""The recursive video stylization loop (algorithm.md §6), with the reference's bugs fixed.

Frame 1 (in processing order) is stylized on its own: with the image model, or with the video model fed an
"everything occluded" prior (``image_model="self"``). Every later frame t gets the previous *unclamped* output
warped into t with the flow t → prev, masked by the reliability map (after the min filter), filled where
unreliable, and the video net sees ``[frame, masked prior + fill, mask]`` (7 channels, pre-space).

Fixed against the reference: ``direction="backward"`` processes the last frame first with the flow t → t+1;
``continue_with`` resumes from a saved prior; the median filter is applied to the delivered output only (never to
the prior), as in the reference's VR script and fast-neural-style.

Device path (``Stylizer.device_ops``, on by default on CUDA), overlap and staging (``Stylizer.stage_ahead``):
the recursion kept on the device, frame t+1 uploaded and staged while the network runs frame t; they live in
:mod:`fav_core.device_loop` (:class:`~fav_core.device_loop.DeviceLoop`, owned by the Stylizer; its module
docstring has the shapes and streams). The frames handed out are the same :class:`StylizedFrame` numpy arrays as
on the numpy path, which stays the default on the CPU.

Precision on CUDA: ``fp32`` means fp32 — the nets run with TF32 convolutions off (cuDNN allows them by default;
they differ from the CPU by ~0.002 rgb01 per net call, which the recursion carries on); ``Stylizer.tf32=True``
allows them (faster fp32). ``fp16`` is the fast path and what the default ``"auto"`` picks on CUDA. ``cudnn.benchmark`` is switched on for CUDA runs.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch

from fav_core.budget import check_stylize
from fav_core.device_loop import DeviceLoop, PendingFrame, StagedFrame
from fav_core.device_loop import no_tf32 as _no_tf32
from fav_core.errors import Cancelled, ConfigError, ShapeError
from fav_core.inference import EngineOptions, InferenceEngine
from fav_core.median import median_filter
from fav_core.modelfile import StyleModel, load_model
from fav_core.motion import Motion, MotionSource, PendingMotion
from fav_core.nets.grammar import parse_arch
from fav_core.nets.preprocess import deprocess, preprocess
from fav_core.nets.transformer import TransformerNet
from fav_core.occlusion import fix_occlusions, invert, min_filter
from fav_core.tiling import auto_tile, check_stylize_tiled, forward_any_size, is_out_of_memory
from fav_core.transfer_torch import Transfers
from fav_core.types import CancelToken, Frame, Progress
from fav_core.warp import warp_backward

log = logging.getLogger(__name__)

FILLS = ("vgg-mean", "uniform-random")
DIRECTIONS = ("forward", "backward")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
TILE_STATS = ("exact", "downscaled")


@dataclass(frozen=True)
class StylizerConfig:
    """Everything that decides what the stylized frames look like (validated on construction).

    Attributes:
        model: video model (name or path of a ``.safetensors`` model file, 7-channel input).
        image_model: model for the first frame (3-channel), or ``"self"`` for the video model with an empty prior.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        precision: ``"auto"`` (default: fp16 on CUDA, fp32 elsewhere; see :func:`resolve_precision`),
            ``"fp32"``; ``"fp16"``/``"bf16"`` run the nets under autocast (fp16 needs CUDA).
        min_filter: k of the k×k erosion of the reliability map (reference 7; 1 = off).
        median_filter: k of the k×k median on the delivered output (reference 3; 1 = off).
        fill: how unreliable prior pixels are filled; None = the video model's own training fill.
        direction: ``"forward"`` (first to last) or ``"backward"`` (last to first, flow t → t+1).
        per_frame: stylize every frame independently with the image model (the reference's
            ``create_inconsistent`` baseline).
        invert_occlusion: the reliability maps are white = occluded (e.g. Sintel ground truth).
        fix_occlusions: also mark pixels whose flow leaves the frame unreliable (§5.3).
        seed: seed of the ``uniform-random`` fill (per frame: ``(seed, frame index)``, so split runs agree).
        tile: run the nets in overlapping tiles of at most this many px per side (:mod:`fav_core.tiling`;
            instance-norm statistics from the frame scaled down to one tile); None = automatic: untiled unless
            the memory budget says a frame does not fit or the device runs out of memory.
        tile_stats: instance-norm statistics of tiled frames: ``"exact"`` (the untiled statistics computed tile
            by tile: tiled frames look exactly like untiled ones) or ``"downscaled"`` (from the frame scaled
            down to one tile: faster, a slightly different look).
    """

    model: str
    image_model: str = "self"
    device: str = "auto"
    precision: str = "auto"
    min_filter: int = 7
    median_filter: int = 3
    fill: str | None = None
    direction: str = "forward"
    per_frame: bool = False
    invert_occlusion: bool = False
    fix_occlusions: bool = False
    seed: int = 0
    tile: int | None = None
    tile_stats: str = "exact"

    def __post_init__(self) -> None:
        if not str(self.model):
            raise ConfigError("model: a video model name or path is required")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.direction not in DIRECTIONS:
            raise ConfigError(f"direction must be forward or backward, got {self.direction!r}")
        if self.fill is not None and self.fill not in FILLS:
            raise ConfigError(f"fill must be one of {', '.join(FILLS)}, got {self.fill!r}")
        for name in ("min_filter", "median_filter"):
            k = getattr(self, name)
            if not isinstance(k, int) or k < 1 or k > 31 or k % 2 == 0:
                raise ConfigError(f"{name.replace('_', '-')} must be an odd integer in 1..31, got {k!r}")
        if self.tile is not None and (isinstance(self.tile, bool) or not isinstance(self.tile, int) or self.tile < 16):
            raise ConfigError(f"tile must be an integer >= 16 (px per tile side) or None, got {self.tile!r}")
        if self.tile_stats not in TILE_STATS:
            raise ConfigError(f"tile-stats must be one of {', '.join(TILE_STATS)}, got {self.tile_stats!r}")
        if self.per_frame and self.image_model == "self":
            log.debug("per-frame mode with image_model=self: frames use the video net with an empty prior")
        resolve_device(self.device)  # raises ConfigError for an unknown device


def resolve_precision(name: str, device: torch.device) -> str:
    """The precision the nets run in: ``"auto"`` is fp16 on CUDA and fp32 elsewhere; others pass through.

    fp16 is the fast path on NVIDIA GPUs (2.4× the true-fp32 net at 1080p on an H200) and stays within 3.2e-3
    rgb01 of the CPU after 12 recursive frames with the shipped models (bench/RESULTS.md, GPU run 2); on the CPU
    fp32 is both the exact and the fastest path.
    """
    if name == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    return name


def resolve_device(name: str) -> torch.device:
    """Map ``auto|cpu|cuda|cuda:N|mps`` to a torch device, with a clear error when it is not there."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but this torch build sees no CUDA GPU (use --device cpu)")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)")
    return dev


@dataclass
class StylizedFrame:
    """One output frame.

    Attributes:
        index: the input frame's number.
        rgb: (H, W, 3) float32, delivered image (median filtered), unclamped, network encoding.
        raw: (H, W, 3) float32, the unclamped, unfiltered network output: the prior of the next frame and the
            state saved for ``continue_with`` / resume.
        alpha: the input's alpha, passed through.
        reliable: (H, W) float32 mask actually used (after min filter), None for a first frame.
    """

    index: int
    rgb: np.ndarray
    raw: np.ndarray
    alpha: np.ndarray | None = None
    reliable: np.ndarray | None = None
    source: str = ""


@dataclass
class _Nets:
    video: StyleModel
    image: StyleModel | None  # None = "self"


@dataclass
class Stylizer:
    """Runs the recursive loop over a frame source.

    Args:
        config: the frozen settings.
        motion: where flow + reliability for (cur, prev) come from; may be None only for ``per_frame``.
        models: already-loaded models (video, image-or-None) — tests and hosts that cache models pass them;
            default loads ``config.model`` / ``config.image_model``.
        engine: how untiled frames run through the nets (:class:`~fav_core.inference.EngineOptions`: threads,
            torch.compile, ...); None = the defaults (the fast, numerically equivalent path).
        device_ops: keep the recursion on the torch device (reliability check, min filter, warp, median and
            the previous output as device tensors; see the module docstring); None = on for CUDA, off for the
            CPU (where the numpy path is the default; ``True`` there gives the same frames, see
            ``tests/unit/test_stylizer_device.py``).
        overlap: on the device path, :meth:`run` reads and uploads frame t+1 and queues its network before it
            hands out frame t (copies on side streams on CUDA), so copies, host work and the GPU overlap; the
            frames, their order, progress, cancel and error behaviour are those of the serial loop (a frame
            read ahead is dropped on cancel). False = one frame at a time.
        stage_ahead: on the overlapped device path, when the source is a
            :class:`~fav_core.pipeline.FramePipeline` view, have its read-ahead thread run :meth:`stage` (uploads
            through pinned memory, check and min filter on a side stream); None = on for CUDA, off otherwise
            (``True`` on a CPU runs the same staging there, for tests).
        tf32: on CUDA with precision ``fp32``, allow TF32 convolutions in the nets (faster, ~0.002 rgb01 per
            net call from the CPU's fp32); False (default) = fp32 means fp32.
    """

    config: StylizerConfig
    motion: MotionSource | None = None
    models: tuple[StyleModel, StyleModel | None] | None = None
    engine: EngineOptions | None = None
    device_ops: bool | None = None
    overlap: bool = True
    stage_ahead: bool | None = None
    tf32: bool = False
    _nets: _Nets = field(init=False, repr=False)
    _device: torch.device = field(init=False, repr=False)
    _precision: str = field(init=False, repr=False, default="fp32")  # config.precision with "auto" resolved
    _tiles: dict[tuple[int, int, int], int | None] = field(init=False, repr=False, default_factory=dict)
    _on_device: bool = field(init=False, repr=False, default=False)
    _device_loop: DeviceLoop = field(init=False, repr=False, compare=False)  # the device path and its state

    def __post_init__(self) -> None:
        cfg = self.config
        self._device = resolve_device(cfg.device)
        if self._device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed frame size: autotuned convolutions (process-wide)
        self._device_loop = DeviceLoop(self, self._device)  # on CUDA: creates the staging stream
        self._precision = resolve_precision(cfg.precision, self._device)
        if self._precision == "fp16" and self._device.type != "cuda":
            raise ConfigError("precision fp16 needs a CUDA device; use fp32 (or bf16) on the CPU")
        if self.models is None:
            video = load_model(cfg.model, device=str(self._device))
            image = None if cfg.image_model == "self" else load_model(cfg.image_model, device=str(self._device))
        else:
            video, image = self.models
            video.net.to(self._device)
            if image is not None:
                image.net.to(self._device)
        if video.meta.in_channels != 7:
            raise ConfigError(
                f"{video.path}: model has {video.meta.in_channels} input channels; the video model needs 7 "
                "(pass 3-channel image models as --image-model)"
            )
        if image is not None and image.meta.in_channels != 3:
            raise ConfigError(
                f"{image.path}: image model has {image.meta.in_channels} input channels, expected 3"
            )
        if self.motion is None and not cfg.per_frame:
            raise ConfigError("a motion source (flow) is needed unless per_frame is set")
        self._nets = _Nets(video, image)
        self._on_device = self._device.type == "cuda" if self.device_ops is None else bool(self.device_ops)
        # Inference engines for untiled frames, by id of the net (tiled frames run the net itself).
        self._engines: dict[int, InferenceEngine] = {
            id(m.net): InferenceEngine(m.net, self._device, self._precision, self.engine)
            for m in (video, image)
            if m is not None and isinstance(m.net, TransformerNet)
        }

    @property
    def precision(self) -> str:
        """The precision the nets run in on this device (``config.precision`` with ``"auto"`` resolved)."""
        return self._precision

    @property
    def fill(self) -> str:
        """The fill actually used: the config's, else the video model's training fill."""
        return self.config.fill or self._nets.video.meta.fill

    def check(self, source: object, order: Sequence[int], *, prior_index: int | None = None) -> None:
        """Validate what can be validated before any work starts (:meth:`run` calls it first).

        Checks that frames of the source's size fit in the device memory for both nets (estimated from the
        architectures, before anything is allocated) and, when the motion source offers ``check(pairs, size)``
        (e.g. :class:`~fav_core.motion.FileMotion`), that every motion file the run will read exists and fits.

        Args:
            source: the frame source (``size`` = (H, W) and ``path`` are used when present).
            order: the frames to process, in processing order.
            prior_index: the frame processed just before ``order[0]`` (continue/resume), or None.

        Raises:
            ConfigError: the frames are too large for the device.
            InputError / FlowFormatError: a motion file is missing, malformed or of the wrong size.
        """
        size = getattr(source, "size", None)
        what = getattr(source, "path", None) or "input"
        if size is not None:
            bpv = 4 if self._precision == "fp32" else 2
            for model in (self._nets.video, self._nets.image):
                if model is not None and isinstance(model.net, TransformerNet):  # tiling can shrink the need
                    check_stylize_tiled(what, tuple(size), model.net, str(self._device), bpv, self.config.tile)
                elif model is not None:
                    check_stylize(what, tuple(size), parse_arch(model.meta.arch), model.meta.in_channels,
                                  str(self._device), bpv)
        check_motion = getattr(self.motion, "check", None)
        if self.config.per_frame or not callable(check_motion):
            return
        pairs: list[tuple[int, int]] = []
        prev = prior_index
        for index in order:
            if prev is not None:
                pairs.append((index, prev))
            prev = index
        check_motion(pairs, tuple(size) if size is not None else None)

    def order(self, indices: Sequence[int]) -> list[int]:
        """Processing order of the given frame numbers (ascending for forward, descending for backward)."""
        ordered = sorted(indices)
        return ordered[::-1] if self.config.direction == "backward" else ordered

    # ------------------------------------------------------------------ the loop
    def run(
        self,
        source: object,
        *,
        indices: Sequence[int] | None = None,
        prior: StylizedFrame | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[StylizedFrame]:
        """Stylize frames in processing order; yields one output per frame.

        Args:
            source: anything with ``indices: list[int]`` and ``read(index) -> Frame`` (fav_core.io.FrameSource).
            indices: the frames to process, already in processing order (default: all, ordered by direction).
            prior: the output of the frame processed just before ``indices[0]`` (continue_with / resume); when
                None, ``indices[0]`` is treated as a first frame.
            on_progress: called after every frame.
            cancel: checked before every frame; raises :class:`Cancelled` when set.

        Raises:
            ConfigError / InputError: from :meth:`check`, before the first frame is produced.
        """
        order = list(indices) if indices is not None else self.order(source.indices)  # type: ignore[attr-defined]
        self.check(source, order, prior_index=prior.index if prior is not None else None)
        prev_out = prior
        prev_in: Frame | None = None
        if prior is not None and not self.config.per_frame:
            prev_in = source.read(prior.index)  # type: ignore[attr-defined]
        if self._on_device and self.overlap:
            yield from self._device_loop.run_overlapped(source, order, prior, prev_in, on_progress, cancel)
            return
        for n, index in enumerate(order):
            if cancel is not None and cancel.cancelled:
                raise Cancelled(f"cancelled after {n} of {len(order)} frames")
            frame = source.read(index)  # type: ignore[attr-defined]
            if self.config.per_frame or prev_out is None or prev_in is None:
                out = self.stylize_first(frame)
            else:
                out = self.stylize_next(frame, prev_in, prev_out)
            prev_in, prev_out = frame, out
            if on_progress is not None:
                on_progress(Progress(done=n + 1, total=len(order), frame=index))
            yield out

    # ------------------------------------------------------------------ single steps
    @property
    def on_device(self) -> bool:
        """True when frames run the device path (see ``device_ops``)."""
        return self._on_device

    def stylize_first(self, frame: Frame) -> StylizedFrame:
        """Frame with no prior (§6.2): image model, or the video model with an all-occluded prior."""
        if self._on_device:
            return self._device_loop.deliver(self._device_frame(frame, None, None, Transfers(self._device, False)))
        return self._finish(frame, self._first_raw(frame, self._to_tensor(frame.rgb)), None)

    def _first_raw(self, frame: Frame, x: torch.Tensor) -> torch.Tensor:
        """(1, 3, H, W) raw output in rgb01 of a first frame from its (1, 3, H, W) rgb01 tensor ``x``."""
        h, w = frame.size
        image = self._nets.image
        if image is not None:
            kind = image.meta.preprocessing
            out = self._forward(image, preprocess(x, kind))
            raw = deprocess(out, kind)
        else:
            video = self._nets.video
            kind = video.meta.preprocessing
            mask = torch.zeros(1, 1, h, w, device=self._device)
            fill = self._fill((frame.index,), mask, kind)
            out = self._forward(video, torch.cat([preprocess(x, kind), fill, mask], dim=1))
            raw = deprocess(out, kind)
        return raw

    def stylize_next(self, frame: Frame, prev_in: Frame, prev_out: StylizedFrame) -> StylizedFrame:
        """Frame t with the prior from the previous output (§6.3)."""
        if prev_out.raw.shape[:2] != frame.rgb.shape[:2]:
            raise ShapeError(
                f"{frame.source or frame.index}: frame is {frame.size[1]}x{frame.size[0]} but the previous output "
                f"is {prev_out.raw.shape[1]}x{prev_out.raw.shape[0]}"
            )
        assert self.motion is not None
        motion: Motion | PendingMotion = self.motion.motion(frame, prev_in)
        if self._on_device:
            transfers = Transfers(self._device, False)
            prior = self._device_loop.prior_tensor(prev_out, transfers)
            return self._device_loop.deliver(self._device_frame(frame, motion, prior, transfers))
        mask_np = self.prepare_mask(motion)
        prev = self._to_tensor(prev_out.raw)
        flow = torch.from_numpy(np.ascontiguousarray(motion.flow.transpose(2, 0, 1)))[None].to(self._device)
        mask = torch.from_numpy(mask_np)[None, None].to(self._device)
        warped = warp_backward(prev, flow)  # rgb01: outside the image → 0 (black), as the reference
        raw = self.video_step(self._to_tensor(frame.rgb), warped, mask, fill_key=(frame.index,))
        return self._finish(frame, raw, mask_np)

    def video_step(
        self,
        x: torch.Tensor,
        prior: torch.Tensor,
        certainty: torch.Tensor,
        net_mask: torch.Tensor | None = None,
        *,
        fill_key: tuple[int, ...],
    ) -> torch.Tensor:
        """The video net on ``[frame, prior·certainty + fill, mask]`` with an explicit prior (§6.3 steps 3–6).

        Args:
            x: (1, 3, H, W) frame, rgb01 (network encoding).
            prior: (1, 3, H, W) prior in rgb01 (e.g. the warped previous output, or a cube-face border).
            certainty: (1, 1, H, W) in [0, 1]; the prior is multiplied by it, the fill by its complement.
            net_mask: (1, 1, H, W) mask channel the net sees (default ``certainty``).
            fill_key: integers that, with the config's seed, seed the ``uniform-random`` fill.

        Returns:
            (1, 3, H, W) raw output in rgb01 (unclamped).
        """
        kind = self._nets.video.meta.preprocessing
        masked = preprocess(prior, kind) * certainty + self._fill(fill_key, certainty, kind)
        mask = certainty if net_mask is None else net_mask
        out = self._forward(self._nets.video, torch.cat([preprocess(x, kind), masked, mask], dim=1))
        return deprocess(out, kind)

    # ------------------------------------------------------------------ the device path (fav_core.device_loop)
    def stage(self, frame: Frame, motion: Motion | PendingMotion | None, prev_index: int | None) -> StagedFrame:
        """Upload ``frame`` (and its motion) and make its mask on a side stream; callable from any thread.

        The read-ahead thread of a :class:`~fav_core.pipeline.FramePipeline` runs this (see
        :mod:`fav_core.device_loop`); :meth:`run` uses the result for exactly this frame and ``prev_index``.
        Without ``motion`` only the frame is uploaded.

        Args:
            frame: the frame (its ``rgb`` (H, W, 3) float32).
            motion: its motion against frame ``prev_index`` (a :class:`PendingMotion`: the consistency check
                runs here, on the device), or None.
            prev_index: the frame ``motion`` points to (None without motion).

        Returns:
            The :class:`StagedFrame` (on CUDA its ``ready`` event marks the end of the staging work).
        """
        return self._device_loop.stage(frame, motion, prev_index)

    def _own_staged(self, staged: object, frame: Frame) -> StagedFrame | None:
        """``staged`` when it is this Stylizer's staging of exactly ``frame``, else None."""
        return self._device_loop.own_staged(staged, frame)

    def _device_frame(
        self,
        frame: Frame,
        motion: Motion | PendingMotion | None,
        prior: torch.Tensor | None,
        transfers: Transfers,
        staged: StagedFrame | None = None,
    ) -> PendingFrame:
        """One frame on the device, download started (:meth:`DeviceLoop.device_frame`; the loop calls it here)."""
        return self._device_loop.device_frame(frame, motion, prior, transfers, staged)

    def prepare_mask_t(self, reliable: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """:meth:`prepare_mask` on tensors: (1, 1, H, W) reliability before the min filter and (1, 2, H, W)
        flow in, (1, 1, H, W) float32 mask as the net sees it out (same device)."""
        return self._device_loop.prepare_mask_t(reliable, flow)

    def _prior_tensor(self, prev_out: StylizedFrame, transfers: Transfers) -> torch.Tensor:
        """The previous raw output as a (1, 3, H, W) device tensor (:meth:`DeviceLoop.prior_tensor`)."""
        return self._device_loop.prior_tensor(prev_out, transfers)

    def prepare_mask(self, motion: Motion | PendingMotion) -> np.ndarray:
        """Reliability map as the net sees it: optional invert / fix, then the k×k min filter. (H, W) float32."""
        mask = motion.reliable.astype(np.float32)
        if self.config.invert_occlusion:
            mask = invert(mask)
        if self.config.fix_occlusions:
            mask = fix_occlusions(mask, motion.flow)
        return min_filter(mask, self.config.min_filter)

    # ------------------------------------------------------------------ helpers
    def _fill(self, key: tuple[int, ...], mask: torch.Tensor, kind: str) -> torch.Tensor:
        """Fill for unreliable pixels, in pre-space: 0 (= VGG mean colour) or preprocessed U[0,1]³ noise · (1 − m).

        The noise is seeded by ``(config.seed, *key)`` (key = frame index, or (frame, face)), so split runs agree.
        """
        _, _, h, w = mask.shape
        if self.fill == "vgg-mean":  # 0 in pre-space is the mean colour
            return torch.zeros(1, 3, h, w, device=self._device)
        rng = np.random.default_rng([self.config.seed, *(k & 0xFFFFFFFF for k in key)])
        noise = torch.from_numpy(rng.random((1, 3, h, w), dtype=np.float32)).to(self._device)
        return preprocess(noise, kind) * (1.0 - mask)

    def _to_tensor(self, rgb: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32))[None].to(
            self._device
        )

    def _forward(self, model: StyleModel, x: torch.Tensor) -> torch.Tensor:
        with self._conv_precision():
            return self._forward_any(model, x)

    def _conv_precision(self) -> AbstractContextManager[object]:
        """fp32 on CUDA: TF32 convolutions off for the call (unless ``tf32``), restored afterwards."""
        if self._device.type != "cuda" or self._precision != "fp32" or self.tf32:
            return nullcontext()
        return _no_tf32()

    def _forward_any(self, model: StyleModel, x: torch.Tensor) -> torch.Tensor:
        engine = self._engines.get(id(model.net))
        if engine is not None and self.config.tile is None:
            key = (id(model.net), int(x.shape[-2]), int(x.shape[-1]))
            if key not in self._tiles:  # the same automatic decision (and cache) as tiling.forward_any_size
                bpv = 4 if self._precision == "fp32" else 2
                self._tiles[key] = auto_tile(model.net, key[1:], str(self._device), bpv)
            if self._tiles[key] is None:
                try:
                    return engine(x)
                except RuntimeError as exc:  # out of memory: the tiling path below retries in tiles
                    if not is_out_of_memory(exc):
                        raise
                    del self._tiles[key]
                    if torch.cuda.is_available():
                        torch.cuda.empty_cache()
        with torch.inference_mode():
            if self._precision == "fp32":
                return self._net_call(model, x, 4)
            dtype = torch.float16 if self._precision == "fp16" else torch.bfloat16
            with torch.autocast(self._device.type, dtype=dtype):
                return self._net_call(model, x, 2).float()

    def _net_call(self, model: StyleModel, x: torch.Tensor, bytes_per_value: int) -> torch.Tensor:
        """The net on ``x``: tiled when ``config.tile`` asks, the budget says the frame does not fit, or on OOM."""
        if not isinstance(model.net, TransformerNet):
            return model.net(x)
        return forward_any_size(model.net, x, self.config.tile, str(self._device), bytes_per_value, self._tiles,
                                stats=self.config.tile_stats)  # type: ignore[arg-type]

    def _finish(self, frame: Frame, raw_t: torch.Tensor, mask: np.ndarray | None) -> StylizedFrame:
        raw = raw_t[0].permute(1, 2, 0).float().cpu().numpy()
        raw = np.ascontiguousarray(raw)
        rgb = median_filter(raw, self.config.median_filter) if self.config.median_filter > 1 else raw
        return StylizedFrame(frame.index, rgb, raw, frame.alpha, mask, frame.source)

