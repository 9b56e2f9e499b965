"""The evaluation loop: walk input and stylized frames in step and collect the per-frame numbers.

Frames are paired by position (the k-th input frame with the k-th stylized frame of each sequence), so the
stylized files may be numbered differently from the inputs; flow/mask patterns are filled with the *input* frame
numbers. Only one frame per sequence is held in memory at a time. Flow is computed (or read) once per frame pair
and shared by all evaluated sequences (e.g. the temporally consistent and the per-frame stylization).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from fav_core.errors import Cancelled, ConfigError, InputError, ShapeError
from fav_core.evaluate.perceptual import PerceptualEvaluator
from fav_core.evaluate.report import EvalReport, FrameRecord
from fav_core.evaluate.temporal import EvalMotion, temporal_error_map
from fav_core.io import FrameSource
from fav_core.types import CancelToken, Frame, Progress

log = logging.getLogger(__name__)

MAIN = "stylized"


@dataclass
class EvalResult:
    """The report plus the heat-map data of the chosen frame of the main sequence.

    Attributes:
        report: settings, records, summaries.
        heatmap: (H, W) per-pixel temporal error of ``heatmap_frame`` (None without temporal evaluation).
        heatmap_frame: the input frame number of the heat map.
        heatmap_rgb: the stylized frame at ``heatmap_frame``.
    """

    report: EvalReport
    heatmap: np.ndarray | None = None
    heatmap_frame: int | None = None
    heatmap_rgb: np.ndarray | None = None


def _check_sizes(inp: Frame, out: Frame, name: str) -> None:
    if inp.size != out.size:
        raise ShapeError(f"{name} frame {out.index} is {out.size[1]}x{out.size[0]}, input frame {inp.index} is "
                         f"{inp.size[1]}x{inp.size[0]}")


def evaluate_sequences(
    inputs: FrameSource,
    stylized: Mapping[str, FrameSource],
    *,
    motion: EvalMotion | None,
    perceptual: PerceptualEvaluator | None = None,
    heatmap_frame: int | None = None,
    max_frames: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: CancelToken | None = None,
) -> EvalResult:
    """Evaluate one or more stylizations of ``inputs``.

    Args:
        inputs: the original frames (content targets; flow is computed on them).
        stylized: name -> stylized frames; ``"stylized"`` is the main one (heat map, ratio numerator),
            ``"per_frame"`` the baseline.
        motion: evaluation motion, or None to skip the temporal error.
        perceptual: content/style losses, or None to skip them.
        heatmap_frame: input frame number for the heat map; default the main sequence's worst frame.
        max_frames: evaluate at most the first this many frames (None = all); sequences shorter than that are
            evaluated as far as all of them go, with a warning.
        on_progress: called after every frame.
        cancel: checked between frames.

    Returns:
        :class:`EvalResult`.

    Raises:
        Cancelled: ``cancel`` was set. InputError: a stylized sequence's size differs from the input's (before
            anything is read), unreadable frames/flows. ShapeError: a frame's size differs.
    """
    if max_frames is not None and max_frames < 1:
        raise ConfigError(f"the number of frames to evaluate must be >= 1, got {max_frames}")
    for name, src in stylized.items():
        if tuple(src.size) != tuple(inputs.size):
            raise InputError(src.path, f"{name.replace('_', '-')} frames are {src.size[1]}x{src.size[0]}, the "
                             f"input {inputs.path} is {inputs.size[1]}x{inputs.size[0]}; evaluate at the input's size")
    lengths = {"input": len(inputs), **{name: len(src) for name, src in stylized.items()}}
    capped = {name: v if max_frames is None else min(v, max_frames) for name, v in lengths.items()}
    n = min(capped.values())
    if len(set(capped.values())) > 1:
        log.warning("sequences differ in length %s; evaluating the first %d frames", lengths, n)
    report = EvalReport(settings={"frame_counts": lengths, "evaluated_frames": n})
    records: dict[str, list[FrameRecord]] = {name: [] for name in stylized}
    prev_in: Frame | None = None
    prev_out: dict[str, np.ndarray] = {}
    result = EvalResult(report)
    worst = -1.0
    for k in range(n):
        if cancel is not None and cancel.cancelled:
            raise Cancelled(f"evaluation cancelled after {k} of {n} frames")
        cur_in = inputs.read(inputs.indices[k])
        pair = motion.pair(prev_in, cur_in) if motion is not None and prev_in is not None else None
        if pair is not None and k == 1:
            log.info("evaluation motion: %s", pair.source)
        for name, src in stylized.items():
            out = src.read(src.indices[k])
            _check_sizes(cur_in, out, name)
            err: float | None = None
            if pair is not None:
                emap = temporal_error_map(prev_out[name], out.rgb, pair.flow, pair.mask,
                                          backward_eval=motion.config.backward_eval)  # type: ignore[union-attr]
                err = float(emap.mean())
                chosen = cur_in.index == heatmap_frame if heatmap_frame is not None else err > worst
                if name == MAIN and chosen:
                    worst = err
                    result.heatmap, result.heatmap_frame, result.heatmap_rgb = emap, cur_in.index, out.rgb
            losses = perceptual(out.rgb, cur_in.rgb) if perceptual is not None else {}
            records[name].append(FrameRecord(
                frame=cur_in.index, stylized_frame=out.index, temporal_error=err,
                content_loss=losses.get("content_loss"), style_loss=losses.get("style_loss"),
            ))
            prev_out[name] = out.rgb
        prev_in = cur_in
        if on_progress is not None:
            on_progress(Progress(done=k + 1, total=n, frame=cur_in.index))
    report.sequences = records
    return result
