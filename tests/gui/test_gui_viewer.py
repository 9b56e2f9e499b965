"""FrameViewer: dragging the scrubber over a clip decodes the frame it stops on, not every frame it passes."""
from __future__ import annotations

import numpy as np

from fav_core.types import Frame
from tests.gui.conftest import pump_events, wait_for


class CountingSource:
    """100 flat frames (value = index / 100); counts reads (a video seek costs 0.1-0.5 s each at 640x360)."""

    indices = list(range(1, 101))

    def __init__(self) -> None:
        self.reads: list[int] = []

    def read(self, index: int) -> Frame:
        self.reads.append(index)
        return Frame(index, np.full((6, 8, 3), index / 100, np.float32))


def test_dragging_the_scrubber_reads_only_where_it_stops(qapp: object) -> None:
    from fav_gui.viewer import FrameViewer

    viewer = FrameViewer()
    source = CountingSource()
    shown: list[int] = []
    viewer.frame_changed.connect(shown.append)
    viewer.set_source(source)
    assert source.reads == [1]
    for value in range(2, 61):  # a drag: one valueChanged per pixel, faster than frames decode
        viewer.slider.setValue(value)
    assert viewer.label.text().startswith("frame 60")  # the number follows the drag at once
    wait_for(lambda: len(source.reads) > 1, 5, "the frame under the stopped scrubber")
    for _ in range(5):
        pump_events()
    assert source.reads == [1, 60] and shown == [1, 60]
    assert viewer.current() == 60 and viewer.view.image() is not None


def test_set_current_shows_at_once(qapp: object) -> None:
    from fav_gui.viewer import FrameViewer

    viewer = FrameViewer()
    source = CountingSource()
    shown: list[int] = []
    viewer.frame_changed.connect(shown.append)
    viewer.set_source(source)
    viewer.set_current(42)
    assert source.reads == [1, 42] and shown == [1, 42]
