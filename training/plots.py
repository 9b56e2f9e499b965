"""Loss-curve picture of a training run (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fav_core.errors import OutputError

#: Curves drawn, if present in the history: training parts and their validation counterparts.
CURVES = ("total", "content", "style", "pixel", "tv")


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Running mean over `window` points (shorter at the start), same length as `values`."""
    if window <= 1 or len(values) == 0:
        return values.astype(np.float64)
    cumulative = np.cumsum(np.insert(values.astype(np.float64), 0, 0.0))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    return (cumulative[1:] - cumulative[np.maximum(np.arange(1, len(values) + 1) - window, 0)]) / counts


def plot_history(history: dict[str, list[list[float]]], path: str | Path) -> Path:
    """Draw one log-scale panel per loss part (training smoothed, validation as dots) and save a PNG.

    Args:
        history: name -> [[iteration, value], ...] (training names and `val_<name>`).
        path: Output PNG.

    Raises:
        OutputError: the PNG cannot be written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in CURVES if n in history or f"val_{n}" in history]
    fig, axes = plt.subplots(1, max(len(names), 1), figsize=(3.2 * max(len(names), 1), 2.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=False):
        if name in history:
            data = np.asarray(history[name], dtype=np.float64)
            ax.plot(data[:, 0], smooth(data[:, 1], 25), lw=1.2, label="train")
        if f"val_{name}" in history:
            data = np.asarray(history[f"val_{name}"], dtype=np.float64)
            ax.plot(data[:, 0], data[:, 1], "o-", ms=3, lw=0.8, label="val")
        ax.set_title(name)
        ax.set_xlabel("iteration")
        if np.all(np.asarray([v for _, v in history.get(name, [[0, 1.0]])]) > 0):
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=90)
    except OSError as exc:
        raise OutputError(path, f"cannot write the loss curve ({exc.strerror})") from None
    finally:
        plt.close(fig)
    return path
