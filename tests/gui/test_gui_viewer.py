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


def test_empty_panes_say_what_to_do(qapp: object) -> None:
    """Without a clip the big black viewer said nothing (only a small 'no clip' at the far right)."""
    from fav_gui.viewer import CompareView, FrameViewer

    viewer, compare = FrameViewer(), CompareView()
    assert "Open clip" in viewer.view.placeholder()
    assert all("Preview" in v.placeholder() for v in compare.views)
    viewer.resize(900, 400)
    compare.resize(900, 400)
    for view in (viewer.view, compare.views[1]):
        img = view.grab().toImage()
        w, h = img.width(), img.height()
        assert w > 200 and h > 100
        middle = {img.pixelColor(x, y).lightness() for x in range(w // 5, 4 * w // 5, 2) for y in range(h // 3, 2 * h // 3)}
        assert max(middle) > 120, view.caption()  # text drawn on the dark pane
    viewer.set_source(CountingSource())
    assert viewer.view.image() is not None  # with a frame, the frame is shown instead


def test_a_broken_frame_says_so_in_the_pane(qapp: object) -> None:
    from fav_core.errors import InputError
    from fav_gui.viewer import FrameViewer

    class Broken(CountingSource):
        def read(self, index: int) -> Frame:
            if index == 7:
                raise InputError(f"f_{index:04d}.png", "truncated file")
            return super().read(index)

    viewer = FrameViewer()
    viewer.set_source(Broken())
    viewer.set_current(7)
    assert viewer.view.image() is None and "cannot show frame 7" in viewer.view.placeholder()
    assert "truncated file" in viewer.label.text()
    viewer.set_source(None)
    assert viewer.view.placeholder() == FrameViewer.NO_CLIP
