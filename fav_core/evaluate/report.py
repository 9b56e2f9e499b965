"""Evaluation results as data, and their JSON / CSV files.

Rows are labelled by column name (the reference writes its rows in the wrong order, algorithm.md §7) and every
mean is taken over the frames that actually have the value: temporal error over frames 2..N of the evaluated
range, losses over all evaluated frames (the reference divides by ``-num_frames`` instead).
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fav_core.errors import OutputError

CSV_COLUMNS = ("sequence", "frame", "stylized_frame", "temporal_error", "content_loss", "style_loss")


@dataclass(frozen=True)
class FrameRecord:
    """Numbers of one stylized frame.

    Attributes:
        frame: the input frame number.
        stylized_frame: the stylized file's frame number (may be numbered differently).
        temporal_error: E_i (None for the first evaluated frame).
        content_loss: None when no loss network was used.
        style_loss: None without a style image.
    """

    frame: int
    stylized_frame: int
    temporal_error: float | None = None
    content_loss: float | None = None
    style_loss: float | None = None


def _stats(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "mean": None, "max": None, "min": None, "sum": None}
    return {"count": len(values), "mean": math.fsum(values) / len(values), "max": max(values),
            "min": min(values), "sum": math.fsum(values)}


def summarize(records: list[FrameRecord]) -> dict[str, Any]:
    """Per-metric count/mean/max/min/sum over the frames that have the metric."""
    out: dict[str, Any] = {"frames": len(records)}
    for key in ("temporal_error", "content_loss", "style_loss"):
        out[key] = _stats([getattr(r, key) for r in records if getattr(r, key) is not None])
    return out


@dataclass
class EvalReport:
    """The whole evaluation: settings, per-sequence frame records and summaries, ratios."""

    settings: dict[str, Any] = field(default_factory=dict)
    sequences: dict[str, list[FrameRecord]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Summaries per sequence, plus ``temporal_error_ratio`` = mean(main) / mean(per_frame) when both exist."""
        out: dict[str, Any] = {name: summarize(recs) for name, recs in self.sequences.items()}
        main = out.get("stylized", {}).get("temporal_error", {}).get("mean")
        base = out.get("per_frame", {}).get("temporal_error", {}).get("mean")
        if main is not None and base:
            out["temporal_error_ratio"] = main / base
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "summary": self.summary(),
            "frames": {name: [asdict(r) for r in recs] for name, recs in self.sequences.items()},
        }


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutputError(path, f"cannot write ({e.strerror or e})") from None


def write_json(path: str | Path, report: EvalReport) -> Path:
    """Write the report as JSON (atomically). Raises OutputError."""
    p = Path(path)
    _write_text(p, json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n")
    return p


def write_csv(path: str | Path, report: EvalReport) -> Path:
    """Write one CSV row per (sequence, frame) with the columns ``CSV_COLUMNS``. Raises OutputError."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for name, recs in report.sequences.items():
        for r in recs:
            writer.writerow([name, r.frame, r.stylized_frame,
                             *("" if v is None else repr(float(v)) for v in (r.temporal_error, r.content_loss,
                                                                             r.style_loss))])
    p = Path(path)
    _write_text(p, buf.getvalue())
    return p
