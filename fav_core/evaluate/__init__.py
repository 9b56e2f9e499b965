"""Evaluation like the paper: temporal error (algorithm.md §7), content/style losses, reports and pictures.

- :mod:`~fav_core.evaluate.temporal` — ``temporal_error``/``temporal_error_map`` and the evaluation motion.
- :mod:`~fav_core.evaluate.perceptual` — per-frame content and style losses with a chosen loss network.
- :mod:`~fav_core.evaluate.sequence` — the loop over a clip (one or several stylizations of the same input).
- :mod:`~fav_core.evaluate.report` — records, summaries, JSON and CSV.
- :mod:`~fav_core.evaluate.plots` — per-frame chart and temporal-error heat map (PNG).
- :mod:`~fav_core.evaluate.compare_video` — side-by-side comparison video.
"""
from __future__ import annotations

from fav_core.evaluate.report import EvalReport, FrameRecord, summarize, write_csv, write_json
from fav_core.evaluate.temporal import (
    EvalMotion,
    EvalMotionConfig,
    PairMotion,
    temporal_error,
    temporal_error_map,
)

__all__ = [
    "EvalMotion",
    "EvalMotionConfig",
    "EvalReport",
    "FrameRecord",
    "PairMotion",
    "summarize",
    "temporal_error",
    "temporal_error_map",
    "write_csv",
    "write_json",
]
