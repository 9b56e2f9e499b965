"""fav_core.pipeline with several reader threads: order, bounded look-ahead, errors at their frame, clean close,
and the same results as the serial loop on real image files with flow files and with DIS."""
from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

from fav_core.errors import ConfigError, InputError
from fav_core.flow.io import write_flo
from fav_core.flow.providers import DISFlow
from fav_core.io import open_frames
from fav_core.motion import ComputedMotion, FileMotion, Motion, PassMotion
from fav_core.pgm import write_pgm
from fav_core.pipeline import FramePipeline, _motion_for_thread, default_readers
from fav_core.stylizer import Stylizer, StylizerConfig
from fav_core.types import Frame
from tests.torch_threads import one_thread  # noqa: F401 - autouse fixture
from tests.unit.test_pipeline import ShiftMotion, video_model

H, W = 12, 16


def _ours() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(("fav-reader-", "fav-prefetch"))}


@pytest.fixture(autouse=True)
def no_leaked_threads() -> object:
    before = _ours()
    yield
    assert _ours() - before == set()  # every test's pipelines are closed and their threads gone


@dataclass
class Slow:
    """Frames 1..n; frame i takes ``delays.get(i, 0)`` s to read; counts reads started; ``bad`` fails."""

    n: int = 8
    delays: dict[int, float] = field(default_factory=dict)
    bad: int | None = None
    concurrent_reads: bool = True
    started: list[int] = field(default_factory=list)
    threads: set[str] = field(default_factory=set)
    refs: list[weakref.ref[Frame]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    busy: int = 0
    most_busy: int = 0

    @property
    def indices(self) -> list[int]:
        return list(range(1, self.n + 1))

    @property
    def alive(self) -> int:
        """Frames read that something still holds."""
        return sum(r() is not None for r in self.refs)

    def read(self, index: int) -> Frame:
        with self.lock:
            self.started.append(index)
            self.threads.add(threading.current_thread().name)
            self.busy += 1
            self.most_busy = max(self.most_busy, self.busy)
        try:
            time.sleep(self.delays.get(index, 0.0))
            if index == self.bad:
                raise InputError(f"clip/frame_{index:04d}.png", "truncated file")
            frame = Frame(index, np.random.default_rng(index).random((H, W, 3), dtype=np.float32))
            self.refs.append(weakref.ref(frame))
            return frame
        finally:
            with self.lock:
                self.busy -= 1


def _consume(pipe: FramePipeline, order: list[int]) -> list[tuple[int, Motion | None]]:
    out: list[tuple[int, Motion | None]] = []
    prev: Frame | None = None
    for index in order:
        frame = pipe.source_view.read(index)
        m = pipe.motion_view.motion(frame, prev) if prev is not None and pipe.motion_view is not None else None
        out.append((frame.index, m))
        prev = frame
    return out


def test_readers_option_is_checked_and_defaults() -> None:
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ConfigError, match="readers"):
            FramePipeline(Slow(), None, readers=bad)  # type: ignore[arg-type]
    assert 1 <= default_readers() <= 4
    pipe = FramePipeline(Slow(), None, readers=3)
    assert (pipe.readers, pipe.depth) == (3, 4)  # depth follows the readers unless given
    assert FramePipeline(Slow(), None, readers=3, depth=2).depth == 2


def test_frames_come_in_order_whatever_order_the_readers_finish() -> None:
    # odd frames are slow: the readers finish 2, 4, 6 before 1, 3, 5
    src = Slow(n=9, delays={i: 0.05 for i in range(1, 10, 2)})
    mot = ShiftMotion()
    order = [3, 4, 5, 6, 7, 8, 9]
    with FramePipeline(src, mot, readers=3, depth=4) as pipe:
        pipe.start(order, prior_index=2)
        got = _consume(pipe, [2, *order])
    assert [i for i, _ in got] == [2, *order]
    assert sorted((c, p) for c, p, _ in mot.calls) == [(i, i - 1) for i in order]
    for index, m in got[1:]:
        assert m is not None
        np.testing.assert_array_equal(m.flow[..., 0], np.full((H, W), 0.25 * index, np.float32))
    assert len(src.threads) > 1 and src.most_busy > 1  # frames really were read in parallel
    assert sorted(src.started) == [2, *order]  # each frame decoded once (motion shares the decoded frames)


@pytest.mark.parametrize(("readers", "depth"), [(1, 1), (2, 3), (3, 2), (4, 6)])
def test_look_ahead_is_bounded_by_depth(readers: int, depth: int) -> None:
    src = Slow(n=12)
    with FramePipeline(src, ShiftMotion(), readers=readers, depth=depth) as pipe:
        pipe.start(src.indices)
        frame = prev = None
        for consumed, index in enumerate(src.indices, start=1):
            prev, frame = frame, pipe.source_view.read(index)
            expected = min(depth, len(src.indices) - consumed)  # exactly `depth` ahead, fewer near the end
            deadline = time.monotonic() + 5.0
            while len(src.started) - consumed < expected and time.monotonic() < deadline:
                time.sleep(0.002)  # the readers run ahead as far as they may ...
            time.sleep(0.01)
            assert len(src.started) - consumed == expected  # ... and no further
            assert src.alive <= depth + 2  # the consumer's frame and its previous one + `depth` ahead
    del frame, prev


@pytest.mark.parametrize("concurrent", [True, False])
def test_read_error_is_raised_at_its_frame_after_the_frames_before(concurrent: bool) -> None:
    # frame 4 fails, but slowly: later frames are read (and fail nothing) before it
    src = Slow(n=8, delays={4: 0.1}, bad=4, concurrent_reads=concurrent)
    mot = ShiftMotion()
    pipe = FramePipeline(src, mot, readers=3, depth=4)
    pipe.start(src.indices)
    with pipe:
        got = [pipe.source_view.read(i).index for i in (1, 2, 3)]
        time.sleep(0.2)  # the failure has happened in a reader: it must not surface before frame 4 is read
        assert got == [1, 2, 3]
        with pytest.raises(InputError, match="frame_0004.png: truncated file"):
            pipe.source_view.read(4)
    assert (4, 3) not in [(c, p) for c, p, _ in mot.calls]  # no motion for a frame that failed to read
    if not concurrent:  # one frame at a time in order (a video): nothing is read past the failure
        assert src.started == [1, 2, 3, 4]
    assert all((c, p) != (5, 4) for c, p, _ in mot.calls)


def test_motion_error_is_raised_when_that_motion_is_asked_for_and_the_run_goes_on() -> None:
    src, mot = Slow(n=7), ShiftMotion(bad=3)
    with FramePipeline(src, mot, readers=3) as pipe:
        pipe.start(src.indices)
        f1 = pipe.source_view.read(1)
        f2 = pipe.source_view.read(2)
        assert pipe.motion_view.motion(f2, f1).flow[0, 0, 0] == 0.5  # type: ignore[union-attr]
        f3 = pipe.source_view.read(3)
        with pytest.raises(InputError, match="backward_3_2.flo: missing"):
            pipe.motion_view.motion(f3, f2)  # type: ignore[union-attr]
        rest = [pipe.source_view.read(i) for i in (4, 5, 6, 7)]
        m = pipe.motion_view.motion(rest[-1], rest[-2])  # type: ignore[union-attr]
        assert m.flow[0, 0, 0] == 0.25 * 7


def test_close_mid_run_does_not_hang_and_stops_every_thread() -> None:
    for concurrent in (True, False):
        src = Slow(n=40, delays={i: 0.02 for i in range(1, 41)}, concurrent_reads=concurrent)
        pipe = FramePipeline(src, ShiftMotion(), readers=4, depth=6)
        pipe.start(src.indices)
        pipe.source_view.read(1)
        pipe.source_view.read(2)
        t0 = time.perf_counter()
        pipe.close()
        assert time.perf_counter() - t0 < 2.0
        assert len(src.started) <= 2 + 6 + 1
        pipe.close()  # twice is fine
    FramePipeline(Slow(), ShiftMotion(), readers=3).close()  # never started


def test_close_after_a_read_error_and_after_the_end_leaves_no_thread() -> None:
    pipe = FramePipeline(Slow(n=8, bad=3), ShiftMotion(), readers=3)
    pipe.start(list(range(1, 9)))
    with pipe, pytest.raises(InputError):
        for i in range(1, 9):
            pipe.source_view.read(i)
    pipe = FramePipeline(Slow(n=3), None, readers=4)
    pipe.start([1, 2, 3])
    with pipe:
        assert [pipe.source_view.read(i).index for i in (1, 2, 3)] == [1, 2, 3]


def test_serial_sources_are_read_in_plan_order_with_the_motion_in_parallel() -> None:
    src = Slow(n=9, delays={i: 0.01 * (i % 3) for i in range(1, 10)}, concurrent_reads=False)
    with FramePipeline(src, ShiftMotion(), readers=3) as pipe:
        assert not pipe.concurrent_reads
        pipe.start([9, 8, 7, 6, 5, 4, 3, 2, 1])  # a backward run
        got = _consume(pipe, [9, 8, 7, 6, 5, 4, 3, 2, 1])
    assert src.started == [9, 8, 7, 6, 5, 4, 3, 2, 1] and src.most_busy == 1
    assert [i for i, _ in got] == [9, 8, 7, 6, 5, 4, 3, 2, 1]


def test_unshareable_motion_sources_get_their_own_instance_or_a_lock() -> None:
    dis = ComputedMotion(DISFlow("fast"), defer_check=False)
    twin = _motion_for_thread(dis)
    assert twin is not dis and twin.provider is not dis.provider and twin.provider.preset == "fast"
    passing = _motion_for_thread(PassMotion(dis, defer_check=False))
    assert passing.fallback.provider is not dis.provider
    files = FileMotion("f/b_[%d]_{%d}.flo", "f/r_[%d]_{%d}.pgm")
    assert _motion_for_thread(files) is files
    assert _motion_for_thread(ShiftMotion()) is None  # unknown: the readers take turns on it
    assert _motion_for_thread(PassMotion(ShiftMotion())) is None


# ---------------------------------------------------------------------------------------- real files
def _clip(folder: Path, n: int = 6, h: int = 40, w: int = 56) -> None:
    """PNG frames of a texture moving 2 px right and 1 px down per frame, with exact backward flow files."""
    rng = np.random.default_rng(3)
    big = cv2.resize(rng.integers(0, 256, (h // 4 + 8, w // 4 + 8, 3), dtype=np.uint8), None, fx=4, fy=4,
                     interpolation=cv2.INTER_CUBIC)
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0], flow[..., 1] = -2.0, -1.0
    reliable = np.ones((h, w), np.float32)
    reliable[:1, :] = 0.0
    reliable[:, :2] = 0.0
    for t in range(1, n + 1):
        oy, ox = n - t, 2 * (n - t)
        cv2.imwrite(str(folder / f"frame_{t:04d}.png"), big[oy : oy + h, ox : ox + w])
        if t > 1:
            write_flo(folder / f"backward_{t}_{t - 1}.flo", flow)
            write_pgm(folder / f"reliable_{t}_{t - 1}.pgm", reliable)


def _stylize(folder: Path, motion: object, readers: int | None, backward: bool = False,
             resume_at: int = 0) -> list[tuple[int, np.ndarray, np.ndarray]]:
    source = open_frames(str(folder / "frame_%04d.png"), colorspace="srgb")
    config = StylizerConfig(model="<test>", device="cpu", min_filter=3, median_filter=3,
                            direction="backward" if backward else "forward")
    if readers is None:  # the serial loop: no pipeline at all
        st = Stylizer(config, motion, models=(video_model(), None))  # type: ignore[arg-type]
        return [(o.index, o.rgb, o.raw) for o in st.run(source, indices=st.order(source.indices))]
    pipe = FramePipeline(source, motion, readers=readers)  # type: ignore[arg-type]
    assert pipe.concurrent_reads  # an image sequence
    st = Stylizer(config, pipe.motion_view, models=(video_model(), None))
    order = st.order(source.indices)
    prior = None
    if resume_at:  # as fav stylize resumes: the first frames from a serial run, then the rest piped
        done = list(Stylizer(config, motion, models=(video_model(), None)).run(  # type: ignore[arg-type]
            source, indices=order[:resume_at]))
        prior = done[-1]
    todo = order[resume_at:]
    pipe.start(todo, prior_index=prior.index if prior is not None else None)
    with pipe:
        return [(o.index, o.rgb, o.raw) for o in st.run(pipe.source_view, indices=todo, prior=prior)]


def _same(a: list[tuple[int, np.ndarray, np.ndarray]], b: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
    assert [i for i, _, _ in a] == [i for i, _, _ in b]
    for (_, rgb, raw), (_, rgb2, raw2) in zip(a, b, strict=True):
        np.testing.assert_array_equal(rgb, rgb2)
        np.testing.assert_array_equal(raw, raw2)


@pytest.mark.parametrize("backward", [False, True])
def test_files_clip_equals_the_serial_loop_with_flow_files(tmp_path: Path, backward: bool) -> None:
    _clip(tmp_path)
    if backward:  # a backward run reads the forward-direction names: make them (same exact flow, negated)
        for t in range(1, 6):
            write_flo(tmp_path / f"backward_{t}_{t + 1}.flo", np.full((40, 56, 2), (2.0, 1.0), np.float32))
            write_pgm(tmp_path / f"reliable_{t}_{t + 1}.pgm", np.ones((40, 56), np.float32))

    def files() -> FileMotion:
        return FileMotion(str(tmp_path / "backward_[%d]_{%d}.flo"), str(tmp_path / "reliable_[%d]_{%d}.pgm"))

    serial = _stylize(tmp_path, files(), None, backward)
    for readers in (1, 3):
        _same(_stylize(tmp_path, files(), readers, backward), serial)
    _same(_stylize(tmp_path, files(), 3, backward, resume_at=2), serial[2:])


def test_files_clip_equals_the_serial_loop_with_dis(tmp_path: Path) -> None:
    _clip(tmp_path)

    def dis() -> ComputedMotion:
        return ComputedMotion(DISFlow("medium"), defer_check=False)

    serial = _stylize(tmp_path, dis(), None)
    _same(_stylize(tmp_path, dis(), 3), serial)
    _same(_stylize(tmp_path, dis(), 2, resume_at=3), serial[3:])


@pytest.mark.parametrize("extra", [(), ("--backward",)])
def test_fav_stylize_readers_option_gives_the_same_frames(tmp_path: Path, tiny_models: tuple[str, str],
                                                         extra: tuple[str, ...]) -> None:
    from fav_core.cli.main import main
    from tests.support import make_clip, read_png_u8

    inp = make_clip(tmp_path / "in", 5)
    outs = []
    for readers in ("1", "3"):
        out = tmp_path / f"out{readers}"
        args = ["stylize", inp, "-o", str(out), "--model", tiny_models[0], "--image-model", tiny_models[1],
                "--flow-preset", "fast", "--progress", "none", "--readers", readers, *extra]
        assert main(args) == 0
        outs.append([read_png_u8(p) for p in sorted(out.glob("*.png"))])
    assert len(outs[0]) == 5
    for a, b in zip(*outs, strict=True):
        np.testing.assert_array_equal(a, b)
