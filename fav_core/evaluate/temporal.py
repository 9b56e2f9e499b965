"""Temporal error of a stylized sequence exactly as the reference's evaluation mode (algorithm.md §7).

For frame i > 1, with outputs in rgb01 (3·H·W elements, masked pixels count as zeros in the mean):

- default: ``E_i = mean((m ⊙ warp(out_{i-1}, w) − m ⊙ out_i)²)`` with w = backward flow i → i−1 and m = the
  reliability map of frame i;
- ``backward_eval`` (datasets with forward ground-truth flow only, e.g. Sintel): ``E_i = mean((m ⊙ warp(out_i, ŵ)
  − m ⊙ out_{i-1})²)`` with ŵ = forward flow i−1 → i and m = the reliability map of frame i−1.

Warping is :func:`fav_core.warp.warp_backward_np` (reference GPU sampler: out-of-image neighbours contribute 0).
Unlike the reference, the evaluation masks get no min filter (the reference applies none either) and frame 1 has
no value instead of a 0 that would be averaged in.

Where the motion comes from (:class:`EvalMotion`): flow/reliability files named by patterns, or — when no
ground-truth flow is given — flow computed on the *input* frames (DIS by default) with the reference consistency
check; the report says which.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from fav_core.errors import ConfigError, FlowFormatError, ShapeError, check_shape
from fav_core.flow.io import read_flo
from fav_core.flow.patterns import check_pattern, format_pattern
from fav_core.occlusion import fix_occlusions, invert
from fav_core.pgm import read_pgm
from fav_core.types import Frame
from fav_core.warp import warp_backward_np

log = logging.getLogger(__name__)


def temporal_error_map(
    prev_out: np.ndarray,
    cur_out: np.ndarray,
    flow: np.ndarray,
    mask: np.ndarray,
    *,
    backward_eval: bool = False,
) -> np.ndarray:
    """Per-pixel temporal error (mean over the 3 channels); its mean is :func:`temporal_error`.

    Args:
        prev_out: (H, W, 3) stylized frame i−1, rgb01 (unclamped if available).
        cur_out: (H, W, 3) stylized frame i.
        flow: (H, W, 2) backward flow i → i−1 (default) or forward flow i−1 → i (``backward_eval``).
        mask: (H, W) reliability in [0, 1] of frame i (default) or of frame i−1 (``backward_eval``).
        backward_eval: use the reference's ``-backward_eval`` convention.

    Returns:
        (H, W) float64: ``mean_c (m ⊙ warp(src) − m ⊙ dst)²``.

    Raises:
        ShapeError: the arrays do not share one (H, W).

    Convention:
        flow channel 0 = dx, 1 = dy, pixels; backward warping: ``warped(y, x) = src(y + dy, x + dx)``, bilinear,
        out-of-image neighbours contribute 0.
    """
    sizes = check_shape(cur_out, "H W 3", "stylized frame")
    for arr, spec, name in ((prev_out, "H W 3", "previous stylized frame"), (flow, "H W 2", "flow"),
                            (mask, "H W", "reliability mask")):
        if check_shape(arr, spec, name) != sizes:
            raise ShapeError(f"{name}: expected {(sizes['H'], sizes['W'])} like the stylized frame, got "
                             f"{tuple(arr.shape[:2])}")
    src, dst = (cur_out, prev_out) if backward_eval else (prev_out, cur_out)
    warped = warp_backward_np(np.asarray(src, dtype=np.float32), np.asarray(flow, dtype=np.float32))
    m = np.asarray(mask, dtype=np.float64)[..., None]
    diff = m * warped.astype(np.float64) - m * np.asarray(dst, dtype=np.float64)
    return np.mean(diff * diff, axis=2)


def temporal_error(
    prev_out: np.ndarray,
    cur_out: np.ndarray,
    flow: np.ndarray,
    mask: np.ndarray,
    *,
    backward_eval: bool = False,
) -> float:
    """The reference temporal error ``E_i`` of one frame pair (see the module docstring and
    :func:`temporal_error_map` for arguments)."""
    return float(np.mean(temporal_error_map(prev_out, cur_out, flow, mask, backward_eval=backward_eval)))


PGM_SUFFIXES = (".pgm", ".pnm")


def read_mask(path: str, size: tuple[int, int]) -> np.ndarray:
    """A reliability (or, before inverting, occlusion) map of ``size`` (H, W): a PGM read by
    :func:`fav_core.pgm.read_pgm`, any other image (e.g. Sintel's occlusion PNGs) by OpenImageIO, first channel.

    Returns:
        (H, W) float32 in [0, 1] (integer images divided by their maximum code).

    Raises:
        InputError: missing/unreadable file. FlowFormatError: the map's size differs from the frame's.
    """
    if path.lower().endswith(PGM_SUFFIXES):
        return read_pgm(path, expect_size=size)
    from fav_core.io.imagefile import read_image_frame

    grey = read_image_frame(path, 0, colorspace="srgb", alpha_mode="ignore").rgb[..., 0]
    if grey.shape != tuple(size):
        raise FlowFormatError(path, f"reliability map is {grey.shape[1]}x{grey.shape[0]}, frame is "
                              f"{size[1]}x{size[0]}")
    return np.ascontiguousarray(grey, dtype=np.float32)


@dataclass(frozen=True)
class PairMotion:
    """Flow and mask for one evaluated pair (already in the orientation the chosen convention needs)."""

    flow: np.ndarray
    mask: np.ndarray
    source: str


@dataclass(frozen=True)
class EvalMotionConfig:
    """Where the evaluation motion comes from.

    Attributes:
        flow_pattern: ``--flow-pattern-eval``; ``[%d]`` = frame the flow starts at, ``{%d}`` = the frame it points
            to (default mode: ``[i]``, ``{i-1}``; backward_eval: ``[i-1]``, ``{i}``); ``{%d}`` may be left out
            for files named by the start frame only (Sintel ``flow/frame_[%04d].flo``). None = compute flow.
        occlusions_pattern: ``--occlusions-pattern-eval`` (same placeholders; the map belongs to the start
            frame): 8/16-bit PGM, or any greyscale image (Sintel's occlusion PNGs). None with a flow pattern =
            every pixel reliable (plus ``fix`` if set).
        backward_eval: reference ``-backward_eval``.
        invert: reference ``-invert_occlusion_eval`` (maps are white = occluded).
        fix: reference ``-fix_occlusions_eval`` (zero pixels whose flow leaves the frame).
        flow_method: provider used when no flow pattern is given (``dis``, ``deepflow``, ``raft``).
        flow_preset: DIS preset.
        raft_weights: local RAFT weights file (needed when ``flow_method`` is ``raft``; never downloaded).
    """

    flow_pattern: str | None = None
    occlusions_pattern: str | None = None
    backward_eval: bool = False
    invert: bool = False
    fix: bool = False
    flow_method: str = "dis"
    flow_preset: str = "medium"
    raft_weights: str | None = None

    def __post_init__(self) -> None:
        if self.computed and self.flow_method == "raft" and not self.raft_weights:
            raise ConfigError("--flow raft needs --raft-weights PATH (weights are never downloaded)")
        if self.flow_pattern is not None:
            check_pattern(self.flow_pattern, need_target=False)
        if self.occlusions_pattern is not None:
            if self.flow_pattern is None:
                raise ConfigError("--occlusions-pattern-eval needs --flow-pattern-eval")
            check_pattern(self.occlusions_pattern, need_target=False)

    @property
    def computed(self) -> bool:
        """True when flow is estimated rather than read from (ground-truth) files."""
        return self.flow_pattern is None

    def describe(self) -> str:
        """One line for the report, saying plainly whether the flow is ground truth or estimated."""
        direction = "forward flow i-1 -> i, mask of i-1 (backward_eval)" if self.backward_eval else \
            "backward flow i -> i-1, mask of i"
        if self.computed:
            return (f"no ground-truth flow given: flow computed with {self.flow_method} on the input frames and "
                    f"reliability from the forward-backward consistency check; {direction}")
        masks = self.occlusions_pattern or "none (all pixels reliable)"
        return (f"flow files {self.flow_pattern}, reliability maps {masks}"
                f"{' inverted' if self.invert else ''}{', fixed at the borders' if self.fix else ''}; {direction}")


class EvalMotion:
    """Gives the flow and mask of each evaluated pair per :class:`EvalMotionConfig`.

    Args:
        config: the settings.
        provider: flow provider for computed motion (default: ``make_provider(config.flow_method)``).
    """

    def __init__(self, config: EvalMotionConfig, provider: object | None = None) -> None:
        self.config = config
        self._motion = None
        if config.computed:
            from fav_core.motion import ComputedMotion

            if provider is None:
                from fav_core.flow.providers import make_provider

                opts: dict[str, object] = {"preset": config.flow_preset} if config.flow_method == "dis" else {}
                if config.flow_method == "raft":
                    opts["weights_path"] = config.raft_weights
                provider = make_provider(config.flow_method, **opts)
            self._motion = ComputedMotion(provider)  # type: ignore[arg-type]

    def pair(self, prev: Frame, cur: Frame) -> PairMotion:
        """Motion for evaluating ``cur`` against ``prev`` (input frames; their ``index`` fills the patterns).

        Raises:
            InputError / FlowFormatError: a file is missing or malformed (named), or its size differs.
        """
        start, target = (prev, cur) if self.config.backward_eval else (cur, prev)
        if self._motion is not None:
            motion = self._motion.motion(start, target)
            mask = fix_occlusions(motion.reliable, motion.flow) if self.config.fix else motion.reliable
            return PairMotion(motion.flow, mask, motion.source)
        flow_path = format_pattern(self.config.flow_pattern or "", start.index, target.index, need_target=False)
        flow = read_flo(flow_path)
        if flow.shape[:2] != start.size:
            raise FlowFormatError(flow_path, f"flow is {flow.shape[1]}x{flow.shape[0]}, frames are "
                                  f"{start.size[1]}x{start.size[0]}")
        if self.config.occlusions_pattern is not None:
            mask = read_mask(format_pattern(self.config.occlusions_pattern, start.index, target.index,
                                            need_target=False), start.size)
            if self.config.invert:
                mask = invert(mask)
        else:
            mask = np.ones(start.size, np.float32)
        if self.config.fix:
            mask = fix_occlusions(mask, flow)
        return PairMotion(flow, mask, f"file:{flow_path}")
