"""FlickerPlot's frame axis: every plotted frame is labelled (up to a dozen), and no frame that was not previewed."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("frames", "ticks"),
    [([6], [6]), ([4, 5, 6], [4, 5, 6]), (list(range(10, 22)), list(range(10, 22))),
     (list(range(1, 41)), [1, 9, 17, 24, 32, 40])],
)
def test_frame_ticks(qapp: object, frames: list[int], ticks: list[int]) -> None:
    from fav_gui.flicker_plot import FlickerPlot

    plot = FlickerPlot()
    plot.set_series(frames, {"temporal": [0.1] * len(frames)})
    assert plot.x_ticks() == ticks


def test_a_single_pair_is_drawn_in_the_middle(qapp: object) -> None:
    """A 2-frame preview gives one point: it sits mid-axis, and the axis names only that frame (it showed the
    frame after it, which was never previewed)."""
    from fav_gui.flicker_plot import FlickerPlot

    plot = FlickerPlot()
    plot.resize(300, 160)
    plot.set_series([6], {"temporal": [0.2]})
    x0, x1, _ = plot._ranges()
    assert (x0 + x1) / 2 == 6 and plot.x_ticks() == [6]
    assert not plot.grab().isNull()
