"""Where the motion between two frames comes from: computed flow, flow/reliability files, or host vectors.

Each source returns a :class:`Motion` for a pair (cur, prev): the backward flow cur -> prev and the reliability
map of cur *before* the min filter (the stylizer applies ``occlusion.min_filter`` itself, algorithm.md §6.3).

Sources that derive the map from two flows (:class:`ComputedMotion`, :class:`PassMotion`) can defer the
consistency check (``defer_check``): they then return a :class:`PendingMotion` that carries both flows, so a
stylizer on a GPU runs the check there (:mod:`fav_core.occlusion_torch`); its ``reliable`` is computed on the
CPU, with the same numpy check as before, the first time anyone reads it, so every consumer keeps working.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol, runtime_checkable

import numpy as np

from fav_core.errors import FlowFormatError, InputError, check_shape
from fav_core.flow.io import read_flo, read_flo_header
from fav_core.flow.patterns import check_pattern, format_pattern
from fav_core.flow.providers import FlowProvider
from fav_core.occlusion import consistency_check, fix_occlusions, invert
from fav_core.pgm import read_pgm, read_pgm_header
from fav_core.types import Frame

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Motion:
    """Motion of frame ``cur`` relative to ``prev``.

    Attributes:
        flow: :math:`(H, W, 2)` float32 backward flow cur -> prev (dx, dy): pixel (x, y) of cur is at
            (x + dx, y + dy) in prev; warping prev with it gives cur.
        reliable: :math:`(H, W)` float32 in [0, 1], 1 = reliable, *before* the min filter.
        source: where it came from, for logs (``"computed:dis-medium"``, ``"file:flow/backward_5_4.flo"``, ...).
    """

    flow: np.ndarray
    reliable: np.ndarray
    source: str


@dataclass(frozen=True)
class PendingMotion:
    """Motion whose reliability map is still to be computed from two flows (the deferred consistency check).

    Has the attributes of :class:`Motion` (``flow``, ``reliable``, ``source``); ``reliable`` runs
    :func:`~fav_core.occlusion.consistency_check` on the CPU the first time it is read (then cached), so it
    equals what the source would have returned with ``defer_check=False``. A device-side consumer reads
    ``flow``, ``flow_fwd`` and ``image`` instead and never touches ``reliable``.

    Attributes:
        flow: :math:`(H, W, 2)` float32 backward flow cur -> prev (w).
        flow_fwd: :math:`(H, W, 2)` float32 forward flow prev -> cur (ŵ).
        image: :math:`(H, W, 3)` float32 frame cur in the network encoding [0, 1] for the structure term
            (the check sees it ×255), or None for the check without it.
        source: where it came from, for logs.
    """

    flow: np.ndarray
    flow_fwd: np.ndarray
    image: np.ndarray | None
    source: str

    @cached_property
    def reliable(self) -> np.ndarray:
        """:math:`(H, W)` float32 {0, 1}: the numpy consistency check of the two flows (computed once)."""
        image = np.asarray(self.image, dtype=np.float32) * 255.0 if self.image is not None else None
        return consistency_check(self.flow, self.flow_fwd, image=image)


@runtime_checkable
class MotionSource(Protocol):
    """Gives the motion between a frame and its predecessor."""

    def motion(self, cur: Frame, prev: Frame) -> Motion:
        """Backward flow cur -> prev and the reliability map of cur (before min filter)."""
        ...


def _check_pair(cur: Frame, prev: Frame) -> tuple[int, int]:
    if cur.size != prev.size:
        (h, w), (ph, pw) = cur.size, prev.size
        raise InputError(cur.source or f"frame {cur.index}", f"frame is {w}x{h}, previous frame is {pw}x{ph}")
    return cur.size


class ComputedMotion:
    """Flow computed with a :class:`~fav_core.flow.FlowProvider` in both directions, then the reference check.

    Args:
        provider: the flow back-end.
        structure_term: pass frame cur (0..255) to :func:`~fav_core.occlusion.consistency_check` (as the
            reference inference pipeline does); False = the training-set variant without it.
        defer_check: return a :class:`PendingMotion` (the check runs where it is consumed: ask for it when the
            Stylizer runs on CUDA, as ``fav stylize`` does). Results are the same either way.
    """

    def __init__(self, provider: FlowProvider, structure_term: bool = True, defer_check: bool = False) -> None:
        self.provider = provider
        self.structure_term = structure_term
        self.defer_check = bool(defer_check)

    def flow_pair(self, cur: Frame, prev: Frame) -> tuple[np.ndarray, np.ndarray]:
        """(flow cur -> prev, flow prev -> cur), each (H, W, 2) float32."""
        _check_pair(cur, prev)
        return self.provider.compute(cur.rgb, prev.rgb), self.provider.compute(prev.rgb, cur.rgb)

    def motion(self, cur: Frame, prev: Frame) -> Motion | PendingMotion:
        """See :class:`MotionSource` (a :class:`PendingMotion` when the check is deferred)."""
        flow_bwd, flow_fwd = self.flow_pair(cur, prev)
        source = f"computed:{self.provider.name}"
        if self.defer_check:
            return PendingMotion(flow_bwd, flow_fwd, cur.rgb if self.structure_term else None, source)
        image = np.asarray(cur.rgb, dtype=np.float32) * 255.0 if self.structure_term else None
        reliable = consistency_check(flow_bwd, flow_fwd, image=image)
        return Motion(flow=flow_bwd, reliable=reliable, source=source)


class FileMotion:
    """Flow and reliability maps read from files named by patterns (``[%d]`` = cur, ``{%d}`` = prev).

    Args:
        flow_pattern: e.g. ``flow/backward_[%d]_{%d}.flo``.
        occlusions_pattern: e.g. ``flow/reliable_[%d]_{%d}.pgm``.
        invert: the maps mark occluded pixels white (e.g. Sintel ground truth): use ``1 - m``.
        fix: also zero pixels whose flow leaves the frame (reference ``-fix_occlusions``).

    Raises:
        ConfigError: a pattern lacks a placeholder (at construction).
    """

    def __init__(
        self, flow_pattern: str, occlusions_pattern: str, invert: bool = False, fix: bool = False
    ) -> None:
        check_pattern(flow_pattern)
        check_pattern(occlusions_pattern)
        self.flow_pattern = flow_pattern
        self.occlusions_pattern = occlusions_pattern
        self.invert = invert
        self.fix = fix

    def flow_pair(self, cur: Frame, prev: Frame) -> tuple[np.ndarray, np.ndarray]:
        """(flow cur -> prev, flow prev -> cur) read with the flow pattern in both directions."""
        return self._read_flow(cur, prev), self._read_flow(prev, cur)

    def check(self, pairs: Sequence[tuple[int, int]], size: tuple[int, int] | None) -> None:
        """Check, before any work, that the files :meth:`motion` will read exist and fit the frames.

        Only headers are read (and the lengths checked), so this is cheap even for long clips; flow values
        (NaN/Inf) are checked when a frame is processed.

        Args:
            pairs: (cur, prev) frame numbers in processing order.
            size: (H, W) of the frames, or None to skip the size comparison.

        Raises:
            InputError: a file is missing (the message names it).
            FlowFormatError: a file is malformed, or its size differs from the frames'.
        """
        for cur, prev in pairs:
            flow_path = format_pattern(self.flow_pattern, cur, prev)
            pgm_path = format_pattern(self.occlusions_pattern, cur, prev)
            flow_size = read_flo_header(flow_path)
            pgm_size = read_pgm_header(pgm_path)
            if size is None:
                continue
            for path, (h, w), what in ((flow_path, flow_size, "flow"), (pgm_path, pgm_size, "reliability map")):
                if (h, w) != tuple(size):
                    raise FlowFormatError(path, f"{what} is {w}x{h}, frame is {size[1]}x{size[0]}")

    def _read_flow(self, cur: Frame, prev: Frame) -> np.ndarray:
        height, width = _check_pair(cur, prev)
        path = format_pattern(self.flow_pattern, cur.index, prev.index)
        flow = read_flo(path)
        if flow.shape[:2] != (height, width):
            raise FlowFormatError(path, f"flow is {flow.shape[1]}x{flow.shape[0]}, frame is {width}x{height}")
        return flow

    def motion(self, cur: Frame, prev: Frame) -> Motion:
        """See :class:`MotionSource`.

        Raises:
            InputError: a file is missing (the message names it).
            FlowFormatError: a file is malformed or its size differs from the frame's.
        """
        flow = self._read_flow(cur, prev)
        flow_path = format_pattern(self.flow_pattern, cur.index, prev.index)
        pgm_path = format_pattern(self.occlusions_pattern, cur.index, prev.index)
        reliable = read_pgm(pgm_path, expect_size=cur.size)
        if self.invert:
            reliable = invert(reliable)
        if self.fix:
            reliable = fix_occlusions(reliable, flow)
        return Motion(flow=flow, reliable=reliable, source=f"file:{flow_path}")


def _fallback_pair(fallback: MotionSource, cur: Frame, prev: Frame) -> tuple[np.ndarray, np.ndarray]:
    """(cur -> prev, prev -> cur) from any MotionSource; one provider call pair when it offers ``flow_pair``."""
    pair = getattr(fallback, "flow_pair", None)
    if callable(pair):
        bwd, fwd = pair(cur, prev)
        return bwd, fwd
    # A MotionSource gives the flow from its first frame to its second, so swapping the frames gives forward.
    return fallback.motion(cur, prev).flow, fallback.motion(prev, cur).flow


def _all_true(ok: np.ndarray) -> bool:
    """``ok.all()``, in O(1) for the all-strides-zero broadcast :meth:`PassMotion._usable` returns for complete
    vectors (``.all()`` on it still walks every pixel: ~0.6 ms per 1080p map)."""
    if ok.size and all(st == 0 for st in ok.strides):
        return bool(ok.flat[0])
    return bool(ok.all())


class PassMotion:
    """Host motion vectors (``Frame.flow_to_prev`` / ``flow_to_next``) with computed flow where they fail.

    Uses ``cur.flow_to_prev`` (backward flow of cur) and ``prev.flow_to_next`` (forward flow of prev) for the
    reference consistency check, which always runs (host vectors do not encode occlusion, hosts.md §A2). In a
    backward run the frame processed before ``cur`` is the next one (``prev.index > cur.index``): then
    ``cur.flow_to_next`` and ``prev.flow_to_prev`` are used, the flow cur → t+1 the prior is warped with. Where
    ``cur.flow_valid`` / ``prev.flow_valid`` is False, the vectors are non-finite, or a frame has no vectors,
    the fallback's flow is used instead; the fallback is only run when at least one pixel needs it.

    Args:
        fallback: source for the missing / invalid pixels (usually a :class:`ComputedMotion`).
        structure_term: pass frame cur (0..255) to the consistency check.
        defer_check: return a :class:`PendingMotion` (the check runs where it is consumed: ask for it when the
            Stylizer runs on CUDA, as ``fav stylize`` does). Results are the same either way.
    """

    def __init__(self, fallback: MotionSource, structure_term: bool = True, defer_check: bool = False) -> None:
        self.fallback = fallback
        self.structure_term = structure_term
        self.defer_check = bool(defer_check)

    @staticmethod
    def _usable(
        flow: np.ndarray | None, valid: np.ndarray | None, size: tuple[int, int], name: str
    ) -> np.ndarray:
        """(H, W) bool (possibly a read-only broadcast): where this host flow can be used."""
        if flow is None:
            return np.zeros(size, dtype=bool)
        check_shape(flow, f"{size[0]} {size[1]} 2", name)
        with np.errstate(over="ignore", invalid="ignore"):
            all_finite = bool(np.isfinite(np.sum(flow)))  # any NaN/Inf makes the sum non-finite (~1 ms at 1080p)
        if all_finite:
            ok = np.broadcast_to(np.True_, size)  # read-only, nothing allocated
        else:  # per pixel (a sum of finite values that overflows also lands here, and is judged right)
            ok = np.isfinite(flow[..., 0]) & np.isfinite(flow[..., 1])
        if valid is not None:
            check_shape(valid, f"{size[0]} {size[1]}", f"{name} valid")
            ok = ok & np.asarray(valid, dtype=bool)
        return ok

    def motion(self, cur: Frame, prev: Frame) -> Motion | PendingMotion:
        """See :class:`MotionSource` (a :class:`PendingMotion` when the check is deferred)."""
        size = _check_pair(cur, prev)
        # flow_bwd: cur -> the frame processed before it; flow_fwd: that frame -> cur.
        if prev.index > cur.index:  # backward run: the frame before is t+1
            host_bwd, name_bwd = cur.flow_to_next, "cur.flow_to_next"
            host_fwd, name_fwd = prev.flow_to_prev, "prev.flow_to_prev"
        else:
            host_bwd, name_bwd = cur.flow_to_prev, "cur.flow_to_prev"
            host_fwd, name_fwd = prev.flow_to_next, "prev.flow_to_next"
        ok_bwd = self._usable(host_bwd, cur.flow_valid, size, name_bwd)
        ok_fwd = self._usable(host_fwd, prev.flow_valid, size, name_fwd)
        flow_bwd = np.zeros((*size, 2), np.float32) if host_bwd is None else host_bwd
        flow_fwd = np.zeros((*size, 2), np.float32) if host_fwd is None else host_fwd
        flow_bwd = np.asarray(flow_bwd, dtype=np.float32)
        flow_fwd = np.asarray(flow_fwd, dtype=np.float32)
        source = "pass"
        if not (_all_true(ok_bwd) and _all_true(ok_fwd)):
            fb_bwd, fb_fwd = _fallback_pair(self.fallback, cur, prev)
            flow_bwd = np.where(ok_bwd[..., None], flow_bwd, fb_bwd).astype(np.float32)
            flow_fwd = np.where(ok_fwd[..., None], flow_fwd, fb_fwd).astype(np.float32)
            share = 1.0 - (ok_bwd.mean() + ok_fwd.mean()) / 2.0
            logger.debug(
                "frame %d: %.1f%% of the host vectors replaced by the fallback", cur.index, 100 * share
            )
            source = "pass+fallback"
        if self.defer_check:
            return PendingMotion(flow_bwd, flow_fwd, cur.rgb if self.structure_term else None, source)
        image = np.asarray(cur.rgb, dtype=np.float32) * 255.0 if self.structure_term else None
        reliable = consistency_check(flow_bwd, flow_fwd, image=image)
        return Motion(flow=flow_bwd, reliable=reliable, source=source)
