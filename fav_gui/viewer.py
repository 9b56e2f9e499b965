"""Image display: a frame viewer with a timeline scrubber, and the input | per-frame | temporal comparison.

Frames arrive in the core convention ((H, W, 3) float32, sRGB-encoded network values, may exceed [0, 1]); they
are clipped and quantised to 8 bits for display only.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from fav_core.errors import FavError, check_shape
from fav_gui.qt import QtCore, QtGui, QtWidgets, Signal

log = logging.getLogger(__name__)


def to_qimage(rgb: np.ndarray) -> QtGui.QImage:
    """Display image of a core frame.

    Args:
        rgb: (H, W, 3) float, sRGB-encoded, nominally [0, 1] (clipped here).

    Returns:
        An RGB888 QImage owning a copy of the pixels (W x H).

    Raises:
        ShapeError: not (H, W, 3).
    """
    check_shape(rgb, "H W 3", "image")
    data = np.ascontiguousarray(np.clip(np.rint(np.asarray(rgb, np.float32) * 255.0), 0, 255).astype(np.uint8))
    h, w = data.shape[:2]
    return QtGui.QImage(data.data, w, h, 3 * w, QtGui.QImage.Format.Format_RGB888).copy()


class ImageView(QtWidgets.QWidget):
    """Shows one image scaled to fit (aspect kept) under a caption.

    Args:
        caption: text above the image.
        placeholder: text in the middle while there is no image (what to do to get one).
        parent: Qt parent.
    """

    def __init__(self, caption: str = "", placeholder: str = "", parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._caption = caption
        self._placeholder = placeholder
        self._image: QtGui.QImage | None = None
        self.setMinimumSize(120, 90)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Expanding)

    def caption(self) -> str:
        return self._caption

    def placeholder(self) -> str:
        return self._placeholder

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def image(self) -> QtGui.QImage | None:
        """The image shown (full resolution), or None."""
        return self._image

    def set_image(self, image: QtGui.QImage | np.ndarray | None) -> None:
        """Show a QImage or a core frame ((H, W, 3) float), or nothing."""
        self._image = to_qimage(image) if isinstance(image, np.ndarray) else image
        self.update()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QtGui.QPainter(self)
        try:
            painter.fillRect(self.rect(), QtGui.QColor(30, 30, 30))
            metrics = painter.fontMetrics()
            top = metrics.height() + 4
            painter.setPen(QtGui.QColor(220, 220, 220))
            painter.drawText(QtCore.QRect(0, 0, self.width(), top), int(QtCore.Qt.AlignmentFlag.AlignCenter),
                             self._caption)
            if self._image is None or self._image.isNull():
                painter.setPen(QtGui.QColor(150, 150, 150))
                painter.drawText(QtCore.QRect(0, top, self.width(), max(1, self.height() - top)),
                                 int(QtCore.Qt.AlignmentFlag.AlignCenter | QtCore.Qt.TextFlag.TextWordWrap),
                                 self._placeholder)
                return
            area = QtCore.QRect(0, top, self.width(), max(1, self.height() - top))
            size = self._image.size().scaled(area.size(), QtCore.Qt.AspectRatioMode.KeepAspectRatio)
            target = QtCore.QRect(area.x() + (area.width() - size.width()) // 2,
                                  area.y() + (area.height() - size.height()) // 2, size.width(), size.height())
            painter.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawImage(target, self._image)
        finally:
            painter.end()


class FrameViewer(QtWidgets.QWidget):
    """A frame source with a timeline scrubber.

    Reading a frame runs on the UI thread and a video seek can take a large part of a second, so a drag of
    the scrubber reads only the frame it rests on (:data:`SCRUB_SETTLE_MS` after the last move); the frame
    number follows the drag at once. :meth:`set_current` shows its frame immediately.

    Signals:
        frame_changed(int): the frame number now shown.
    """

    frame_changed = Signal(int)
    SCRUB_SETTLE_MS = 60
    NO_CLIP = "File > Open clip... (a video, an image sequence or a folder of frames)"

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._source: object | None = None
        self._settle = QtCore.QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(self.SCRUB_SETTLE_MS)
        self._settle.timeout.connect(lambda: self._show(int(self.slider.value())))
        self.view = ImageView("input", self.NO_CLIP)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.label = QtWidgets.QLabel("no clip")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view, 1)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.slider, 1)
        row.addWidget(self.label)
        lay.addLayout(row)
        self.slider.valueChanged.connect(self._scrubbed)

    def set_source(self, source: object | None) -> None:
        """Show a :class:`fav_core.io.FrameSource` (anything with ``indices`` and ``read``), or nothing."""
        self._source = source
        self._settle.stop()
        self.view.set_placeholder(self.NO_CLIP)
        indices: Sequence[int] = getattr(source, "indices", []) if source is not None else []
        self.slider.blockSignals(True)
        self.slider.setRange(indices[0] if indices else 0, indices[-1] if indices else 0)
        self.slider.setValue(indices[0] if indices else 0)
        self.slider.blockSignals(False)
        self.slider.setEnabled(bool(indices))
        if indices:
            self._show(indices[0])
        else:
            self.view.set_image(None)
            self.label.setText("no clip")

    def current(self) -> int | None:
        """The frame number shown, or None without a clip."""
        return int(self.slider.value()) if self._source is not None else None

    def set_current(self, index: int) -> None:
        """Show frame ``index`` now."""
        self.slider.blockSignals(True)
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        self._settle.stop()
        self._show(int(self.slider.value()))

    def _scrubbed(self, index: int) -> None:
        if self._source is None:
            return
        self.label.setText(f"frame {index}")
        self._settle.start()  # restarts: read once the scrubber rests

    def _show(self, index: int) -> None:
        source = self._source
        if source is None:
            return
        try:
            frame = source.read(int(index))  # type: ignore[attr-defined]
        except FavError as exc:  # a broken frame in the middle of a clip: say so, keep scrubbing
            self.view.set_image(None)
            self.view.set_placeholder(f"cannot show frame {index}: {exc}")
            self.label.setText(str(exc))
            return
        self.view.set_image(frame.rgb)
        indices = source.indices  # type: ignore[attr-defined]
        self.label.setText(f"frame {index}  ({indices[0]}-{indices[-1]})")
        self.frame_changed.emit(int(index))


class CompareView(QtWidgets.QWidget):
    """Input | per-frame | temporal side by side, with a scrubber over the previewed frames."""

    CAPTIONS = ("input", "per-frame", "temporal")

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.views = tuple(ImageView(c, "press Preview to stylize a few frames") for c in self.CAPTIONS)
        self._frames: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.label = QtWidgets.QLabel("no preview")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QtWidgets.QHBoxLayout()
        for v in self.views:
            row.addWidget(v, 1)
        lay.addLayout(row, 1)
        bottom = QtWidgets.QHBoxLayout()
        bottom.addWidget(self.slider, 1)
        bottom.addWidget(self.label)
        lay.addLayout(bottom)
        self.slider.valueChanged.connect(self._show)

    def set_frames(self, frames: Sequence[tuple[int, np.ndarray, np.ndarray, np.ndarray]]) -> None:
        """Show ``(index, input, per_frame, temporal)`` tuples (images (H, W, 3) float); starts at the first."""
        self._frames = list(frames)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(self._frames) - 1))
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.slider.setEnabled(len(self._frames) > 1)
        self._show(0)

    def indices(self) -> list[int]:
        return [f[0] for f in self._frames]

    def _show(self, pos: int) -> None:
        if not self._frames:
            for v in self.views:
                v.set_image(None)
            self.label.setText("no preview")
            return
        index, *images = self._frames[int(pos)]
        for view, img in zip(self.views, images, strict=True):
            view.set_image(img)
        self.label.setText(f"frame {index}")
