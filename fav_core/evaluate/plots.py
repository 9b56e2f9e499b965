"""Pictures of an evaluation (matplotlib, Agg canvas; no pyplot, so no global figure state).

- :func:`plot_frame_errors`: temporal error per frame for each evaluated sequence, and the content / style
  losses when they were computed.
- :func:`plot_heatmap`: the per-pixel temporal error of one frame next to the stylized frame.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fav_core.errors import OutputError, check_shape
from fav_core.evaluate.report import FrameRecord

_LABELS = {"stylized": "stylized", "per_frame": "per-frame baseline"}


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(str(path), dpi=100)
    except OSError as e:
        raise OutputError(path, f"cannot write the chart ({e.strerror or e})") from None
    return path


def plot_frame_errors(path: str | Path, sequences: dict[str, list[FrameRecord]], title: str = "") -> Path:
    """Per-frame chart: temporal error (top) and, when present, content and style loss (below).

    Args:
        path: output PNG.
        sequences: name -> frame records (``"stylized"``, optionally ``"per_frame"``).
        title: figure title.

    Raises:
        OutputError: the file cannot be written.
    """
    has_loss = any(r.content_loss is not None for recs in sequences.values() for r in recs)
    rows = 3 if has_loss else 1
    fig = Figure(figsize=(9, 2.8 * rows), layout="constrained")
    axes = [fig.add_subplot(rows, 1, i + 1) for i in range(rows)]
    for name, recs in sequences.items():
        label = _LABELS.get(name, name)
        pts = [(r.frame, r.temporal_error) for r in recs if r.temporal_error is not None]
        if pts:
            xs, ys = zip(*pts, strict=True)
            axes[0].plot(xs, ys, marker=".", label=f"{label} (mean {np.mean(ys):.3g})")
        if has_loss:
            for ax, key in ((axes[1], "content_loss"), (axes[2], "style_loss")):
                pts = [(r.frame, getattr(r, key)) for r in recs if getattr(r, key) is not None]
                if pts:
                    xs, ys = zip(*pts, strict=True)
                    ax.plot(xs, ys, marker=".", label=label)
    axes[0].set_ylabel("temporal error (MSE)")
    if has_loss:
        axes[1].set_ylabel("content loss")
        axes[2].set_ylabel("style loss")
    axes[-1].set_xlabel("frame")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize="small")
    if title:
        fig.suptitle(title)
    return _save(fig, Path(path))


def plot_heatmap(
    path: str | Path,
    error_map: np.ndarray,
    frame: int,
    stylized_rgb: np.ndarray | None = None,
    vmax: float | None = None,
) -> Path:
    """Heat map of one frame's per-pixel temporal error (mean over channels of the squared masked difference).

    Args:
        path: output PNG.
        error_map: (H, W) from :func:`fav_core.evaluate.temporal.temporal_error_map`.
        frame: the frame number shown in the title.
        stylized_rgb: (H, W, 3) the stylized frame, drawn to the left when given.
        vmax: top of the colour scale (default: the 99.5th percentile, so a few outliers do not wash it out).

    Raises:
        OutputError: the file cannot be written.
    """
    check_shape(error_map, "H W", "error map")
    top = vmax if vmax is not None else float(np.percentile(error_map, 99.5)) or float(error_map.max()) or 1.0
    cols = 2 if stylized_rgb is not None else 1
    h, w = error_map.shape
    fig = Figure(figsize=(4.5 * cols * max(w / h, 0.5), 4.2), layout="constrained")
    if stylized_rgb is not None:
        ax0 = fig.add_subplot(1, cols, 1)
        ax0.imshow(np.clip(stylized_rgb, 0.0, 1.0))
        ax0.set_title(f"stylized frame {frame}")
        ax0.axis("off")
    ax = fig.add_subplot(1, cols, cols)
    im = ax.imshow(error_map, cmap="inferno", vmin=0.0, vmax=top)
    ax.set_title(f"temporal error, frame {frame} (mean {float(error_map.mean()):.3g})")
    ax.axis("off")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return _save(fig, Path(path))
