"""The ``fav gui`` window offscreen: open a generated clip, preview 3 frames, screenshot, run / cancel / resume."""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from fav_gui.main_window import MainWindow
from fav_gui.options import GuiSettings
from fav_gui.preview import PreviewRequest, compute_preview
from fav_gui.viewer import to_qimage
from tests.gui.conftest import make_clip, pump_events, wait_for
from tests.support import read_png_u8 as read_png
from tests.support import slow_core_python

H, W, N = 24, 32, 20


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_clip(tmp_path_factory.mktemp("clip"), N, H, W)


def settings_for(models: tuple[str, str]) -> GuiSettings:
    return GuiSettings(model=models[0], image_model=models[1], device="cpu")


def qimage_array(img: object) -> np.ndarray:
    """(H, W, 3) uint8 copy of an RGB888 QImage."""
    from fav_gui.qt import QtGui

    img = img.convertToFormat(QtGui.QImage.Format.Format_RGB888)  # type: ignore[attr-defined]
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    raw = np.frombuffer(bytes(img.constBits()), np.uint8)[: h * bpl].reshape(h, bpl)
    return raw[:, : 3 * w].reshape(h, w, 3).copy()


def test_to_qimage_quantises_and_clips() -> None:
    rgb = np.array([[[0.0, 0.5, 1.0], [-0.2, 1.3, 0.25]]], np.float32)
    got = qimage_array(to_qimage(rgb))
    np.testing.assert_array_equal(got, [[[0, 128, 255], [0, 255, 64]]])


@pytest.mark.slow
def test_preview_of_three_frames_and_screenshot(qapp: object, store: object, clip: str, tmp_path: Path,
                                                tiny_models: tuple[str, str]) -> None:
    win = MainWindow(store=store)
    assert win.open_clip(clip)
    assert win.viewer.view.image().size().toTuple() == (W, H)
    win.settings_panel.set_settings(settings_for(tiny_models))
    win.viewer.set_current(5)
    assert win.preview_first.value() == 5  # the preview range follows the scrubber
    win.preview_count.setValue(3)
    results: list[object] = []
    failures: list[str] = []
    win.preview_ready.connect(results.append)
    win.preview_failed.connect(failures.append)

    worker = win.start_preview()
    assert worker is not None
    assert not results and not win.preview_button.isEnabled()  # returned at once: the work is in the thread
    wait_for(lambda: bool(results or failures), 120, "the preview")
    assert not failures
    wait_for(lambda: win.worker is None, 10, "the preview thread to end")
    result = results[0]
    assert result.indices == [5, 6, 7]

    for view in win.compare.views:
        img = view.image()
        assert img is not None and (img.width(), img.height()) == (W, H), view.caption()
    expected_input = read_png(Path(clip % 5))
    np.testing.assert_array_equal(qimage_array(win.compare.views[0].image()), expected_input)
    per, temp = (qimage_array(v.image()) for v in win.compare.views[1:])
    np.testing.assert_array_equal(per, temp)  # frame 5 has no prior in either run: both use the image model
    win.compare.slider.setValue(2)
    assert not np.array_equal(*(qimage_array(v.image()) for v in win.compare.views[1:]))  # frame 7 differs

    series = win.plot.series()
    assert set(series) == {"per-frame", "temporal"}
    for name, points in series.items():
        assert win.plot.point_count(name) == 2 == len(result.indices) - 1
        assert [x for x, _ in points] == [6, 7]
        assert all(math.isfinite(y) and y > 0 for _, y in points), name

    win.resize(1100, 750)
    win.show()
    pump_events()
    shot = tmp_path / "window.png"
    assert win.grab().save(str(shot))
    pixels = read_png(shot)
    assert pixels.shape[0] >= 700 and pixels.shape[1] >= 1000
    assert pixels.astype(np.float64).var() > 100.0  # not blank
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 200  # images, text, curves
    win.close()


@pytest.mark.slow
def test_job_cancel_leaves_whole_frames_and_rerun_resumes(qapp: object, store: object, clip: str, tmp_path: Path,
                                                          tiny_models: tuple[str, str]) -> None:
    out = tmp_path / "out"
    # a core whose recursive frames take 0.3 s, so the cancel after frame 1 lands before the last frame
    win = MainWindow(store=store, python=slow_core_python(tmp_path / "slowcore"))
    assert win.open_clip(clip)
    win.settings_panel.set_settings(settings_for(tiny_models))
    win.output.setText(str(out))
    events: list[dict] = []
    outcomes: list[object] = []
    win.job.runner.event.connect(events.append)
    win.job.ended.connect(outcomes.append)

    def cancel_after_first_frame(ev: dict) -> None:
        if ev["event"] == "frame":
            win.job.cancel()

    win.job.runner.event.connect(cancel_after_first_frame)
    win.run_job()
    assert not win.job.run_button.isEnabled() and win.job.cancel_button.isEnabled()
    wait_for(lambda: bool(outcomes), 120, "the cancelled job")
    outcome = outcomes[0]
    assert (outcome.status, outcome.returncode) == ("cancelled", 130), outcome
    done = [e for e in events if e["event"] == "frame"]
    k = len(done)
    assert 1 <= k < N
    assert win.job.bar.value() == k and win.job.eta_label.text() != "ETA --:--"

    visible = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    hidden = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    assert visible == [f"frame_{i:05d}.png" for i in range(1, k + 1)]  # only whole frames, in order
    assert hidden == [".fav-state"]  # no half-written temp files
    for name in visible:
        assert read_png(out / name).shape == (H, W, 3)

    win.job.runner.event.disconnect(cancel_after_first_frame)
    events.clear()
    win.run_job()
    wait_for(lambda: len(outcomes) == 2, 120, "the resumed job")
    assert outcomes[1].status == "done", outcomes[1]
    start = events[0]
    assert start["event"] == "start" and start["resumed_from"] == k + 1 and start["total"] == N - k
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        f"frame_{i:05d}.png" for i in range(1, N + 1)]
    assert win.job.bar.value() == win.job.bar.maximum() == N - k

    # the preview shows what the job writes: same config, same flow, same first-frame model
    preview = compute_preview(PreviewRequest(clip, settings_for(tiny_models), 1, 3))
    for i in preview.indices:
        shown = np.clip(np.rint(preview.temporal[i] * 255), 0, 255)
        assert np.abs(shown - read_png(out / f"frame_{i:05d}.png")).max() <= 1, i
    assert os.environ.get("QT_QPA_PLATFORM") == "offscreen"
    win.close()


def test_preview_errors_and_cancel_reach_the_window(qapp: object, store: object, clip: str, tmp_path: Path,
                                                    tiny_models: tuple[str, str]) -> None:
    win = MainWindow(store=store)
    assert win.open_clip(clip)
    messages: list[str] = []
    win.preview_failed.connect(messages.append)
    missing = tmp_path / "gone.safetensors"
    win.settings_panel.set_settings(GuiSettings(model=str(missing), image_model="self", device="cpu"))
    assert win.start_preview() is not None
    wait_for(lambda: bool(messages) and win.worker is None, 60, "the failed preview")
    assert messages[0].startswith("preview failed: ") and "gone.safetensors" in messages[0]
    assert win.preview_button.isEnabled() and win.compare.indices() == []

    win.settings_panel.set_settings(settings_for(tiny_models))
    win.preview_count.setValue(N)
    worker = win.start_preview()
    assert worker is not None
    win.cancel_preview()  # before the first frame: nothing is computed
    wait_for(lambda: len(messages) == 2 and win.worker is None, 60, "the cancelled preview")
    assert messages[1] == "preview cancelled" and win.plot.series() == {}
    win.close()


def fake_result(indices: list[int]) -> object:
    from fav_gui.preview import PreviewResult

    img = np.full((H, W, 3), 0.5, np.float32)
    return PreviewResult(indices, {i: img for i in indices}, {i: img for i in indices}, {i: img for i in indices},
                         {"per-frame": [0.1] * (len(indices) - 1), "temporal": [0.05] * (len(indices) - 1)})


def test_opening_another_clip_clears_the_old_preview(qapp: object, store: object, clip: str, tmp_path: Path) -> None:
    """The comparison and the flicker curve belong to one clip: another clip must not show them."""
    other = make_clip(tmp_path / "other", 4, H, W, seed=3)
    win = MainWindow(store=store)
    assert win.open_clip(clip)
    win._preview_done(fake_result([2, 3, 4]))
    assert win.compare.indices() == [2, 3, 4] and win.plot.point_count("temporal") == 2
    assert win.open_clip(other)
    assert win.compare.indices() == [] and win.plot.series() == {} and win.last_preview is None
    assert win.compare.label.text() == "no preview"
    win.close()


def test_output_follows_the_clip_until_the_artist_chooses_one(qapp: object, store: object, clip: str,
                                                              tmp_path: Path) -> None:
    from fav_gui.main_window import default_output

    other = make_clip(tmp_path / "other", 4, H, W, seed=3)
    win = MainWindow(store=store)
    assert win.open_clip(clip) and win.output.text() == default_output(clip)
    assert win.open_clip(other) and win.output.text() == default_output(other)  # not the first clip's folder
    win.close()  # saves settings: the automatic output is not a choice to remember
    win = MainWindow(clip, store=store)
    assert win.output.text() == default_output(clip)
    chosen = str(tmp_path / "my_renders")
    win.output.setText(chosen)
    assert win.open_clip(other) and win.output.text() == chosen  # the artist's choice stays
    win.close()
    win = MainWindow(clip, store=store)
    assert win.output.text() == chosen  # and is remembered
    win.close()


def test_a_failed_preview_is_shown_whole_in_the_preview_box(qapp: object, store: object, clip: str,
                                                            tmp_path: Path) -> None:
    """The status bar cuts a long message at the window's edge; the preview box shows it whole (wrapped)."""
    win = MainWindow(store=store)
    assert win.open_clip(clip)
    long_name = "m" * 150
    win.settings_panel.set_settings(GuiSettings(model=str(tmp_path / f"{long_name}.safetensors"), device="cpu"))
    messages: list[str] = []
    win.preview_failed.connect(messages.append)
    win.start_preview()
    wait_for(lambda: bool(messages) and win.worker is None, 60, "the failed preview")
    assert win.preview_message.text() == messages[0] and long_name in messages[0]
    assert win.preview_message.wordWrap() and not win.preview_message.isHidden()
    win.settings_panel.set_settings(GuiSettings(model="", device="cpu"))
    win.start_preview()
    wait_for(lambda: len(messages) == 2 and win.worker is None, 60, "the second failed preview")
    assert win.preview_message.text() == "preview failed: choose a video model (a name from 'fav models' or a " \
        ".safetensors file)"
    win._preview_done(fake_result([1, 2]))
    assert win.preview_message.isHidden()  # a good preview clears the old problem
    win.close()


def test_a_short_window_scrolls_the_controls_instead_of_squashing_them(qapp: object, store: object, clip: str,
                                                                       tmp_path: Path) -> None:
    """On a 1024x600 laptop screen with a long preview message the form rows keep their height (they overlapped
    and clipped their text); the right column scrolls instead."""
    win = MainWindow(store=store)
    assert win.open_clip(clip)
    win._preview_message("preview failed: " + "a long explanation " * 30)
    win.resize(1024, 600)
    win.show()
    pump_events()
    panel = win.settings_panel
    for widget in (panel.flow, panel.min_filter, panel.median_filter, panel.device, win.preview_count,
                   win.job.run_button):
        assert widget.height() >= widget.sizeHint().height(), type(widget).__name__
    assert win.controls.verticalScrollBar().maximum() > 0  # the rest is reachable by scrolling
    win.close()


def test_a_preview_of_the_previous_clip_is_not_shown_on_the_new_one(qapp: object, store: object, clip: str,
                                                                     tmp_path: Path,
                                                                     tiny_models: tuple[str, str]) -> None:
    other = make_clip(tmp_path / "other", 4, H, W, seed=3)
    win = MainWindow(store=store)
    assert win.open_clip(clip)
    win.settings_panel.set_settings(settings_for(tiny_models))
    win.preview_count.setValue(2)
    ended: list[object] = []
    win.preview_ready.connect(ended.append)
    win.preview_failed.connect(ended.append)
    worker = win.start_preview()
    assert worker is not None
    assert win.open_clip(other)  # while the first clip's preview runs
    wait_for(lambda: win.worker is None, 60, "the first clip's preview to end")
    assert win.compare.indices() == [] and win.plot.series() == {} and win.last_preview is None
    assert win.preview_button.isEnabled()
    win.close()


def test_run_without_a_clip_says_open_a_clip(qapp: object, store: object) -> None:
    win = MainWindow(store=store)
    win.run_job()
    assert win.job.status.text() == "error: open a clip first (File > Open clip)"
    assert win.job.run_button.isEnabled() and not win.job.runner.running()
    win.close()


def test_window_size_is_remembered(qapp: object, store: object) -> None:
    win = MainWindow(store=store)
    win.resize(780, 520)  # restoreGeometry keeps a window inside the screen (offscreen: 800x600)
    win.show()
    pump_events()
    size = (win.width(), win.height())
    assert size[1] == 520  # not the default 800
    win.close()
    again = MainWindow(store=store)
    assert (again.width(), again.height()) == size
    again.close()
