"""fav_core.pipeline: prefetched frames/motion equal the serial loop; errors, cancellation, bounded queues."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from fav_core.errors import Cancelled, ConfigError, InputError
from fav_core.modelfile import ModelMeta, StyleModel
from fav_core.motion import Motion
from fav_core.nets import build_transformer
from fav_core.pipeline import BackgroundWriter, FramePipeline
from fav_core.stylizer import Stylizer, StylizerConfig
from fav_core.types import CancelToken, Frame
from tests.torch_threads import one_thread  # noqa: F401 - autouse fixture

H, W = 12, 16


@dataclass
class Source:
    """Frames 1..n; records reads (index, thread name); frame ``bad`` fails to read."""

    n: int = 6
    bad: int | None = None
    delay: float = 0.0
    reads: list[tuple[int, str]] = field(default_factory=list)
    size: tuple[int, int] = (H, W)
    path: str = "clip/frame_%04d.png"

    @property
    def indices(self) -> list[int]:
        return list(range(1, self.n + 1))

    def read(self, index: int) -> Frame:
        time.sleep(self.delay)
        self.reads.append((index, threading.current_thread().name))
        if index == self.bad:
            raise InputError(f"clip/frame_{index:04d}.png", "truncated file")
        rng = np.random.default_rng(index)
        return Frame(index, rng.random((H, W, 3), dtype=np.float32))


@dataclass
class ShiftMotion:
    """Flow (index of cur, 0) everywhere; records calls; the pair whose cur is ``bad`` raises."""

    bad: int | None = None
    calls: list[tuple[int, int, str]] = field(default_factory=list)
    checked: list[object] = field(default_factory=list)

    def motion(self, cur: Frame, prev: Frame) -> Motion:
        self.calls.append((cur.index, prev.index, threading.current_thread().name))
        if cur.index == self.bad:
            raise InputError(f"flow/backward_{cur.index}_{prev.index}.flo", "missing")
        flow = np.zeros((H, W, 2), np.float32)
        flow[..., 0] = 0.25 * cur.index
        rel = np.ones((H, W), np.float32)
        rel[cur.index % H, :] = 0.0
        return Motion(flow, rel, "stub")

    def check(self, pairs: object, size: object) -> None:
        self.checked.append((pairs, size))


def consume(pipe: FramePipeline, order: list[int], prior: int | None = None) -> list[tuple[Frame, Motion | None]]:
    """Read like Stylizer.run: the prior frame, then every frame with its motion against the previous one."""
    out: list[tuple[Frame, Motion | None]] = []
    prev = pipe.source_view.read(prior) if prior is not None else None
    for index in order:
        frame = pipe.source_view.read(index)
        m = pipe.motion_view.motion(frame, prev) if prev is not None and pipe.motion_view is not None else None
        out.append((frame, m))
        prev = frame
    return out


def test_prefetched_frames_and_motion_equal_direct_ones_and_run_in_the_background() -> None:
    src, mot = Source(), ShiftMotion()
    with FramePipeline(src, mot, depth=2) as pipe:
        pipe.start([2, 3, 4, 5], prior_index=1)
        got = consume(pipe, [2, 3, 4, 5], prior=1)
    assert [f.index for f, _ in got] == [2, 3, 4, 5]
    assert [(c, p) for c, p, _ in mot.calls] == [(2, 1), (3, 2), (4, 3), (5, 4)]
    assert {t.split("-")[1] for _, t in src.reads} == {"reader"}  # the reader threads, never the consumer
    assert {t.split("-")[1] for _, _, t in mot.calls} == {"reader"}
    direct_src = Source()
    for (frame, m), index in zip(got, [2, 3, 4, 5], strict=True):
        ref = direct_src.read(index)
        np.testing.assert_array_equal(frame.rgb, ref.rgb)
        assert m is not None
        np.testing.assert_array_equal(m.flow[..., 0], np.full((H, W), 0.25 * index, np.float32))
        assert m.reliable[index % H].max() == 0.0


def test_other_attributes_are_delegated() -> None:
    src, mot = Source(), ShiftMotion()
    pipe = FramePipeline(src, mot)
    assert pipe.source_view.size == (H, W) and pipe.source_view.indices == [1, 2, 3, 4, 5, 6]
    pipe.motion_view.check([(2, 1)], (H, W))
    assert mot.checked == [([(2, 1)], (H, W))]
    assert FramePipeline(src, None).motion_view is None
    with pytest.raises(ConfigError, match="depth"):
        FramePipeline(src, mot, depth=0)


def test_unplanned_pairs_and_reads_are_served_directly() -> None:
    src, mot = Source(), ShiftMotion()
    with FramePipeline(src, mot) as pipe:
        pipe.start([1, 2, 3])
        f1 = pipe.source_view.read(1)
        f2 = pipe.source_view.read(2)
        other = Frame(7, f1.rgb)
        me = threading.current_thread().name
        m = pipe.motion_view.motion(f2, other)  # not the planned (2, 1) pair: computed on the spot
        # the prefetch thread may be computing planned pairs meanwhile: look at this thread's calls only
        assert [c[:2] for c in mot.calls if c[2] == me][-1] == (2, 7)
        assert m.source == "stub"
        f5 = pipe.source_view.read(5)  # out of the plan: direct read, pipeline stopped
        assert f5.index == 5 and [r for r in src.reads if r[1] == me][-1] == (5, me)
        f3 = pipe.source_view.read(3)
        assert f3.index == 3


def test_read_error_surfaces_when_that_frame_is_read() -> None:
    src, mot = Source(bad=3), ShiftMotion()
    with FramePipeline(src, mot) as pipe:
        pipe.start([1, 2, 3, 4])
        assert pipe.source_view.read(1).index == 1
        assert pipe.source_view.read(2).index == 2
        with pytest.raises(InputError, match="frame_0003.png: truncated file"):
            pipe.source_view.read(3)
    assert 4 not in [i for i, _ in src.reads]  # the producer stopped at the failing frame


def test_motion_error_surfaces_when_that_motion_is_asked_for() -> None:
    src, mot = Source(), ShiftMotion(bad=3)
    with FramePipeline(src, mot) as pipe:
        pipe.start([1, 2, 3, 4])
        f1 = pipe.source_view.read(1)
        f2 = pipe.source_view.read(2)
        pipe.motion_view.motion(f2, f1)
        f3 = pipe.source_view.read(3)  # the frame itself is fine
        with pytest.raises(InputError, match="backward_3_2.flo: missing"):
            pipe.motion_view.motion(f3, f2)


def test_queue_is_bounded_and_close_stops_the_producer() -> None:
    src = Source(n=40)
    pipe = FramePipeline(src, ShiftMotion(), depth=2)
    pipe.start(list(range(1, 41)))
    pipe.source_view.read(1)
    time.sleep(0.3)  # give the producer time to run ahead as far as it can
    ahead = len(src.reads)
    assert ahead <= 1 + 2 + 1  # consumed + queue depth + the one waiting to be queued
    pipe.close()
    assert len(src.reads) <= ahead + 1
    assert not pipe._thread.is_alive()  # type: ignore[union-attr]


def test_background_writer_runs_in_order_and_reports_results() -> None:
    seen: list[tuple[int, str]] = []

    def work(i: int) -> int:
        seen.append((i, threading.current_thread().name))
        return i * 10

    w: BackgroundWriter[int, int] = BackgroundWriter(work, depth=2)
    done: list[int] = []
    for i in range(8):
        w.submit(i)
        done += w.completed()
    w.close()
    done += w.completed()
    assert done == [i * 10 for i in range(8)]
    assert [i for i, _ in seen] == list(range(8)) and {t for _, t in seen} == {"fav-writer"}


def test_background_writer_error_is_reraised_and_later_items_are_not_run() -> None:
    ran: list[int] = []

    def work(i: int) -> int:
        if i == 2:
            raise OSError(28, "No space left on device")
        ran.append(i)
        return i

    w: BackgroundWriter[int, int] = BackgroundWriter(work, depth=1)
    with pytest.raises(OSError, match="No space left"):
        for i in range(50):
            w.submit(i)
    assert w.failed
    with pytest.raises(OSError, match="No space left"):
        w.close()
    assert ran == [0, 1]
    assert w.completed() == [0, 1]


def test_background_writer_bounds_the_queue_and_abandon_drops_queued_items() -> None:
    gate = threading.Event()
    ran: list[int] = []

    def work(i: int) -> int:
        gate.wait(5)
        ran.append(i)
        return i

    w: BackgroundWriter[int, int] = BackgroundWriter(work, depth=2)
    w.submit(0)  # taken by the worker, which waits at the gate
    time.sleep(0.05)
    w.submit(1)
    w.submit(2)  # queue full now
    blocked = threading.Thread(target=w.submit, args=(3,))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive()  # submit blocks while `depth` items wait
    gate.set()
    blocked.join(5)
    w.abandon()
    assert ran[0] == 0 and len(ran) <= 4


# ---------------------------------------------------------------------- with the real stylizer
def video_model() -> StyleModel:
    torch.manual_seed(0)
    arch = "c3s1-4,d8,U2,c3s1-3"
    net = build_transformer(arch, 7)
    meta = ModelMeta(kind="video", arch=arch, in_channels=7, style_name="test")
    return StyleModel(net, meta, Path("<test video>"))


def stylizer(motion: object) -> Stylizer:
    config = StylizerConfig(model="<test>", device="cpu", min_filter=3, median_filter=3)
    return Stylizer(config, motion, models=(video_model(), None))  # type: ignore[arg-type]


def test_stylizer_through_the_pipeline_equals_the_serial_loop_bit_for_bit() -> None:
    serial = [(o.index, o.rgb, o.raw) for o in stylizer(ShiftMotion()).run(Source(), indices=[1, 2, 3, 4, 5, 6])]
    src, mot = Source(), ShiftMotion()
    pipe = FramePipeline(src, mot)
    st = stylizer(pipe.motion_view)
    pipe.start([1, 2, 3, 4, 5, 6])
    with pipe:
        piped = [(o.index, o.rgb, o.raw) for o in st.run(pipe.source_view, indices=[1, 2, 3, 4, 5, 6])]
    assert [i for i, _, _ in piped] == [1, 2, 3, 4, 5, 6]
    for (i, rgb, raw), (j, rgb2, raw2) in zip(serial, piped, strict=True):
        assert i == j
        np.testing.assert_array_equal(rgb, rgb2)
        np.testing.assert_array_equal(raw, raw2)
    assert {t.split("-")[1] for _, _, t in mot.calls} == {"reader"}


def test_stylizer_with_prior_and_cancel_through_the_pipeline() -> None:
    serial = list(stylizer(ShiftMotion()).run(Source(), indices=[1, 2, 3, 4]))
    src, mot = Source(), ShiftMotion()
    pipe = FramePipeline(src, mot)
    st = stylizer(pipe.motion_view)
    pipe.start([3, 4], prior_index=2)
    with pipe:
        resumed = list(st.run(pipe.source_view, indices=[3, 4], prior=serial[1]))
    np.testing.assert_array_equal(resumed[-1].raw, serial[-1].raw)
    assert [(c, p) for c, p, _ in mot.calls] == [(3, 2), (4, 3)]

    cancel = CancelToken()
    pipe = FramePipeline(Source(n=30), ShiftMotion())
    st = stylizer(pipe.motion_view)
    pipe.start(list(range(1, 31)))
    got = []
    with pytest.raises(Cancelled), pipe:
        for out in st.run(pipe.source_view, indices=list(range(1, 31)), cancel=cancel):
            got.append(out.index)
            if out.index == 2:
                cancel.cancel()
    assert got == [1, 2]
    assert not pipe._thread.is_alive()  # type: ignore[union-attr]
