"""Per-frame temporal-error curves (flicker made visible), drawn with QPainter.

One curve per stylization (per-frame vs temporal); x = frame number, y = the temporal error of that frame
against the previous one (see :mod:`fav_gui.preview`). A flickering result is a high, jagged curve.
"""
from __future__ import annotations

from collections.abc import Sequence

from fav_core.errors import ShapeError
from fav_gui.qt import QtCore, QtGui, QtWidgets

COLOURS = ((230, 120, 60), (70, 170, 230), (140, 200, 90), (200, 90, 200))
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 12, 22, 26
MAX_TICKS = 12
"""Up to this many plotted frames every one is labelled; beyond, about six evenly spaced ones."""


class FlickerPlot(QtWidgets.QWidget):
    """Line plot of named series over frame numbers."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._series: dict[str, list[tuple[int, float]]] = {}
        self.setMinimumSize(240, 140)
        self.setToolTip("temporal error per frame: mean squared difference between the output and the previous "
                        "output warped by the flow, over reliable pixels (lower = steadier)")

    # ------------------------------------------------------------------ data
    def set_series(self, frames: Sequence[int], series: dict[str, Sequence[float]]) -> None:
        """Plot ``series[name][k]`` at frame ``frames[k]`` for every name.

        Raises:
            ShapeError: a series does not have one value per frame.
        """
        data: dict[str, list[tuple[int, float]]] = {}
        for name, values in series.items():
            if len(values) != len(frames):
                raise ShapeError(f"flicker plot: series {name!r} has {len(values)} values for {len(frames)} frames")
            data[name] = [(int(f), float(v)) for f, v in zip(frames, values, strict=True)]
        self._series = data
        self.update()

    def clear(self) -> None:
        self._series = {}
        self.update()

    def series(self) -> dict[str, list[tuple[int, float]]]:
        """The plotted ``(frame, value)`` points per series (a copy)."""
        return {k: list(v) for k, v in self._series.items()}

    def point_count(self, name: str) -> int:
        return len(self._series.get(name, []))

    def x_ticks(self) -> list[int]:
        """The frame numbers written under the axis: all plotted frames, or ~6 of them when there are many."""
        xs = sorted({x for pts in self._series.values() for x, _ in pts})
        if len(xs) <= MAX_TICKS:
            return xs
        step = (len(xs) - 1) / 5
        return [xs[round(k * step)] for k in range(6)]

    # ------------------------------------------------------------------ drawing
    def _ranges(self) -> tuple[float, float, float]:
        xs = [x for pts in self._series.values() for x, _ in pts]
        ys = [y for pts in self._series.values() for _, y in pts]
        x0, x1 = (min(xs), max(xs)) if xs else (0, 1)
        y1 = max(ys) if ys and max(ys) > 0 else 1.0
        if x1 == x0:  # one pair (a 2-frame preview): its point in the middle
            return x0 - 0.5, x0 + 0.5, y1 * 1.1
        return float(x0), float(x1), y1 * 1.1

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QtGui.QPainter(self)
        try:
            p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
            p.fillRect(self.rect(), QtGui.QColor(250, 250, 250))
            plot = QtCore.QRectF(MARGIN_LEFT, MARGIN_TOP, max(1, self.width() - MARGIN_LEFT - MARGIN_RIGHT),
                                 max(1, self.height() - MARGIN_TOP - MARGIN_BOTTOM))
            p.setPen(QtGui.QPen(QtGui.QColor(120, 120, 120), 1))
            p.drawRect(plot)
            p.setPen(QtGui.QColor(40, 40, 40))
            p.drawText(QtCore.QRectF(0, 2, self.width(), MARGIN_TOP - 4),
                       int(QtCore.Qt.AlignmentFlag.AlignCenter), "temporal error per frame")
            if not self._series:
                p.drawText(plot, int(QtCore.Qt.AlignmentFlag.AlignCenter), "run a preview of 2+ frames")
                return
            x0, x1, ymax = self._ranges()

            def at(x: float, y: float) -> QtCore.QPointF:
                return QtCore.QPointF(plot.left() + (x - x0) / (x1 - x0) * plot.width(),
                                      plot.bottom() - y / ymax * plot.height())

            p.drawText(QtCore.QRectF(0, plot.top() - 8, MARGIN_LEFT - 4, 16),
                       int(QtCore.Qt.AlignmentFlag.AlignRight), f"{ymax:.3g}")
            p.drawText(QtCore.QRectF(0, plot.bottom() - 8, MARGIN_LEFT - 4, 16),
                       int(QtCore.Qt.AlignmentFlag.AlignRight), "0")
            for frame in self.x_ticks():
                tx = at(frame, 0).x()
                p.drawLine(QtCore.QPointF(tx, plot.bottom()), QtCore.QPointF(tx, plot.bottom() + 3))
                p.drawText(QtCore.QRectF(tx - 30, plot.bottom() + 3, 60, 20),
                           int(QtCore.Qt.AlignmentFlag.AlignHCenter), str(frame))
            for n, (name, pts) in enumerate(self._series.items()):
                colour = QtGui.QColor(*COLOURS[n % len(COLOURS)])
                p.setPen(QtGui.QPen(colour, 2))
                points = [at(x, y) for x, y in pts]
                for a, b in zip(points[:-1], points[1:], strict=True):
                    p.drawLine(a, b)
                p.setBrush(colour)
                for q in points:
                    p.drawEllipse(q, 3, 3)
                legend = QtCore.QRectF(plot.right() - 130, plot.top() + 4 + 16 * n, 122, 16)
                p.drawText(legend, int(QtCore.Qt.AlignmentFlag.AlignRight), name)
        finally:
            p.end()
