"""Staging ahead (Stylizer.stage in the FramePipeline's read-ahead thread): same frames, staged where it can be."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from fav_core.errors import ShapeError
from fav_core.motion import Motion, PassMotion
from fav_core.pipeline import FramePipeline
from fav_core.stylizer import StagedFrame, StylizedFrame, Stylizer, StylizerConfig, _no_tf32
from fav_core.transfer_torch import upload_on
from fav_core.types import Frame
from tests.torch_threads import one_thread  # noqa: F401 - autouse fixture
from tests.unit.test_stylizer_device import NoFallback, _clip, _models, _same, _stylizer


def _staged_run(defer: bool, structure: bool, early: bool, **cfg: object
                ) -> tuple[list[StylizedFrame], list[bool], set[str]]:
    """A device-path run (CPU) through a FramePipeline with staging; (frames, staged per frame, stage threads)."""
    video, _ = _models()
    config = StylizerConfig(model="<video>", device="cpu", **cfg)  # type: ignore[arg-type]
    source = _clip()
    pipe = FramePipeline(source, PassMotion(NoFallback(), structure_term=structure, defer_check=defer), depth=1)
    st = Stylizer(config, pipe.motion_view, models=(video, None), device_ops=True, stage_ahead=True)
    used: list[bool] = []
    threads: set[str] = set()
    inner_device_frame = st._device_frame
    inner_stage = st.stage

    def device_frame(*args: object) -> object:
        used.append(len(args) > 4 and args[4] is not None)
        return inner_device_frame(*args)  # type: ignore[arg-type]

    def stage(frame: Frame, motion: Motion | None, prev: int | None) -> StagedFrame:
        threads.add(threading.current_thread().name)
        return inner_stage(frame, motion, prev)

    st._device_frame = device_frame  # type: ignore[method-assign]
    st.stage = stage  # type: ignore[method-assign]
    if early:
        pipe.set_stage(st.stage)
    pipe.start(source.indices)
    with pipe:
        out = list(st.run(pipe.source_view, indices=source.indices))
    return out, used, threads


@pytest.mark.parametrize("cfg", [
    dict(defer=True, structure=True),
    dict(defer=False, structure=False),
    dict(defer=True, structure=False, fix_occlusions=True, min_filter=3),
    dict(defer=False, structure=True, invert_occlusion=True, median_filter=1),
])
def test_staged_frames_equal_the_numpy_path(cfg: dict[str, object]) -> None:
    opts = {k: v for k, v in cfg.items() if k not in ("defer", "structure")}
    numpy_out = list(_stylizer(False, bool(cfg["defer"]), bool(cfg["structure"]), **opts).run(_clip()))
    staged, used, threads = _staged_run(bool(cfg["defer"]), bool(cfg["structure"]), early=True, **opts)
    assert used == [True] * 4  # every frame came staged (set before the pipeline started)
    assert threads == {"fav-prefetch"}
    _same(staged, numpy_out)


def test_stylizer_attaches_its_stage_itself() -> None:
    numpy_out = list(_stylizer(False, True, True).run(_clip()))
    staged, used, threads = _staged_run(True, True, early=False)
    assert used[-1] is True and threads == {"fav-prefetch"}  # frames prefetched after run() started are staged
    _same(staged, numpy_out)


def test_stage_ahead_off_uploads_in_the_loop() -> None:
    video, _ = _models()
    source = _clip()
    pipe = FramePipeline(source, PassMotion(NoFallback(), defer_check=True), depth=1)
    st = Stylizer(StylizerConfig(model="<video>", device="cpu"), pipe.motion_view, models=(video, None),
                  device_ops=True, stage_ahead=False)
    pipe.start(source.indices)
    with pipe:
        out = list(st.run(pipe.source_view, indices=source.indices))
    assert pipe._stage is None
    _same(out, list(_stylizer(False, True).run(_clip())))


def test_staging_of_another_frame_or_stylizer_is_not_used() -> None:
    a, b = _stylizer(True, True), _stylizer(True, True)
    clip = _clip()
    f1, f2 = clip.read(1), clip.read(2)
    staged = a.stage(f2, a.motion.motion(f2, f1), 1)  # type: ignore[union-attr]
    assert staged.prev_index == 1 and staged.flow is not None and staged.mask is not None
    assert a._own_staged(staged, f2) is staged
    assert b._own_staged(staged, f2) is None
    assert a._own_staged(staged, f1) is None
    assert a._own_staged("not staged", f2) is None
    first = a.stage(f1, None, 7)
    assert first.prev_index is None and first.flow is None and first.mask is None and first.ready is None


def test_stage_mask_equals_prepare_mask() -> None:
    st = _stylizer(True, True, structure=True, fix_occlusions=True)
    clip = _clip()
    f1, f2 = clip.read(1), clip.read(2)
    motion = st.motion.motion(f2, f1)  # type: ignore[union-attr]
    staged = st.stage(f2, motion, 1)
    assert staged.mask is not None and staged.flow is not None
    np.testing.assert_array_equal(staged.mask[0, 0].numpy(), st.prepare_mask(motion))
    np.testing.assert_array_equal(staged.x[0].permute(1, 2, 0).numpy(), f2.rgb)
    np.testing.assert_array_equal(staged.flow[0].permute(1, 2, 0).numpy(), f2.flow_to_prev)


# ------------------------------------------------------------------ the pipeline's side
class Src:
    def __init__(self, n: int = 4) -> None:
        self.indices = list(range(1, n + 1))

    def read(self, index: int) -> Frame:
        return Frame(index, np.full((2, 3, 3), index, np.float32))


class Mot:
    def __init__(self, bad: int | None = None) -> None:
        self.bad = bad

    def motion(self, cur: Frame, prev: Frame) -> Motion:
        if cur.index == self.bad:
            raise ValueError(f"no flow for {cur.index}")
        return Motion(np.zeros((2, 3, 2), np.float32), np.ones((2, 3), np.float32), "t")


def _consume(pipe: FramePipeline, order: list[int], motion: bool) -> list[object]:
    got: list[object] = []
    prev: Frame | None = None
    for i in order:
        frame = pipe.source_view.read(i)
        if motion and prev is not None:
            try:
                pipe.motion_view.motion(frame, prev)  # type: ignore[union-attr]
            except ValueError:
                pass
        got.append(pipe.source_view.staged_frame(frame))
        assert pipe.source_view.staged_frame(frame) is None  # handed out once
        prev = frame
    return got


def test_pipeline_stages_in_its_thread_with_the_motion_and_previous_index() -> None:
    calls: list[tuple[int, bool, int | None, str]] = []

    def stage(frame: Frame, motion: Motion | None, prev: int | None) -> str:
        calls.append((frame.index, motion is not None, prev, threading.current_thread().name))
        return f"staged {frame.index}"

    pipe = FramePipeline(Src(), Mot(bad=3), depth=1)
    pipe.set_stage(stage)
    pipe.start([1, 2, 3, 4])
    with pipe:
        got = _consume(pipe, [1, 2, 3, 4], motion=True)
    assert got == ["staged 1", "staged 2", None, "staged 4"]  # frame 3's motion failed: not staged
    assert calls == [(1, False, None, "fav-prefetch"), (2, True, 1, "fav-prefetch"), (4, True, 3, "fav-prefetch")]


def test_a_failing_stage_only_loses_its_result() -> None:
    def stage(frame: Frame, motion: Motion | None, prev: int | None) -> str:
        if frame.index == 2:
            raise RuntimeError("device full")
        return "ok"

    pipe = FramePipeline(Src(3), None, depth=1)
    pipe.set_stage(stage)
    pipe.start([1, 2, 3])
    with pipe:
        got = _consume(pipe, [1, 2, 3], motion=False)
    assert got == ["ok", None, "ok"]


def test_no_stage_and_unknown_frames_give_none() -> None:
    pipe = FramePipeline(Src(2), None, depth=1)
    pipe.start([1, 2])
    with pipe:
        frame = pipe.source_view.read(1)
        assert pipe.source_view.staged_frame(Frame(1, frame.rgb)) is None  # not the frame handed out
        assert pipe.source_view.staged_frame(frame) is None  # nothing staged


# ------------------------------------------------------------------ helpers
def test_upload_on_cpu_is_a_transposed_copy() -> None:
    a = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    t = upload_on(a, torch.device("cpu"), None)
    assert t.shape == (1, 2, 2, 3)
    np.testing.assert_array_equal(t[0].permute(1, 2, 0).numpy(), a)
    a[0, 0, 0] = 99.0
    assert float(t[0, 0, 0, 0]) == 0.0
    with pytest.raises(ShapeError):
        upload_on(np.zeros((2, 3), np.float32), torch.device("cpu"), None)


@pytest.mark.parametrize("before", [True, False])
def test_no_tf32_restores_the_flag(before: bool) -> None:
    old = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = before
    try:
        with _no_tf32():
            assert torch.backends.cudnn.allow_tf32 is False
        assert torch.backends.cudnn.allow_tf32 is before
    finally:
        torch.backends.cudnn.allow_tf32 = old


def test_cpu_stylizer_leaves_cudnn_flags_alone() -> None:
    old = (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32)
    st = _stylizer(True, True)
    list(st.run(_clip()))
    assert (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32) == old
    assert st._conv_precision().__class__.__name__ == "nullcontext"


def test_all_true_of_broadcasts_and_arrays() -> None:
    from fav_core.motion import _all_true

    assert _all_true(np.broadcast_to(np.True_, (1080, 1920))) is True
    assert _all_true(np.broadcast_to(np.False_, (3, 4))) is False
    assert _all_true(np.array([[True, False]])) is False
    assert _all_true(np.ones((2, 2), bool)) is True
    assert _all_true(np.zeros((0, 2), bool)) is True  # empty: as ndarray.all()
