"""The stylizer's device path (device_ops=True) on CPU gives the same frames as the numpy path."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from fav_core.modelfile import ModelMeta, StyleModel
from fav_core.motion import Motion, PassMotion, PendingMotion
from fav_core.nets import build_transformer
from fav_core.stylizer import StylizedFrame, Stylizer, StylizerConfig
from fav_core.types import Frame

H, W = 14, 18
ARCH = "c3s1-8,d8,R8,u8,c3s1-3"


def _models(seed: int = 0) -> tuple[StyleModel, StyleModel]:
    torch.manual_seed(seed)
    video = StyleModel(build_transformer(ARCH, 7), ModelMeta(kind="video", arch=ARCH, in_channels=7,
                                                              style_name="t"), Path("<video>"))
    image = StyleModel(build_transformer(ARCH, 3), ModelMeta(kind="image", arch=ARCH, in_channels=3,
                                                              style_name="t"), Path("<image>"))
    return video, image


@dataclass
class Source:
    frames: dict[int, Frame]

    @property
    def indices(self) -> list[int]:
        return sorted(self.frames)

    def read(self, index: int) -> Frame:
        return self.frames[index]


def _clip(n: int = 4, seed: int = 0) -> Source:
    """A texture panning 1 px right per frame, with exact host vectors (backward (-1, 0), forward (+1, 0))."""
    rng = np.random.default_rng(seed)
    big = rng.random((H, W + n, 3)).astype(np.float32)
    bwd = np.zeros((H, W, 2), np.float32)
    bwd[..., 0] = -1.0
    bwd[3:6, 4:8, 1] = 2.5  # an inconsistent patch
    fwd = np.zeros((H, W, 2), np.float32)
    fwd[..., 0] = 1.0
    frames = {i: Frame(i, np.ascontiguousarray(big[:, n - i : n - i + W]), flow_to_prev=bwd, flow_to_next=fwd)
              for i in range(1, n + 1)}
    return Source(frames)


class NoFallback:
    def motion(self, cur: Frame, prev: Frame) -> Motion:
        raise AssertionError("host vectors are complete")


def _stylizer(device_ops: bool, defer: bool, structure: bool = False, image_model: bool = False,
              overlap: bool = True, **cfg: object) -> Stylizer:
    video, image = _models()
    config = StylizerConfig(model="<video>", image_model="<image>" if image_model else "self", device="cpu",
                            **cfg)  # type: ignore[arg-type]
    motion = PassMotion(NoFallback(), structure_term=structure, defer_check=defer)
    return Stylizer(config, motion, models=(video, image if image_model else None), device_ops=device_ops,
                    overlap=overlap)


def _run(device_ops: bool, defer: bool, structure: bool = False, prior: StylizedFrame | None = None,
         indices: list[int] | None = None, image_model: bool = False, overlap: bool = True,
         **cfg: object) -> list[StylizedFrame]:
    st = _stylizer(device_ops, defer, structure, image_model, overlap, **cfg)
    assert st.on_device is device_ops
    return list(st.run(_clip(), indices=indices, prior=prior))


def _same(a: list[StylizedFrame], b: list[StylizedFrame]) -> None:
    assert [o.index for o in a] == [o.index for o in b]
    for x, y in zip(a, b, strict=True):
        for name in ("rgb", "raw"):
            u, v = getattr(x, name), getattr(y, name)
            assert u.dtype == v.dtype == np.float32 and u.shape == v.shape == (H, W, 3)
            assert u.flags.c_contiguous and v.flags.c_contiguous
            np.testing.assert_array_equal(u, v, err_msg=f"frame {x.index} {name}")
        if x.reliable is None:
            assert y.reliable is None
        else:
            assert y.reliable is not None and y.reliable.shape == (H, W)
            np.testing.assert_array_equal(x.reliable, y.reliable)


@pytest.mark.parametrize("cfg", [
    {},
    {"min_filter": 1, "median_filter": 1},
    {"min_filter": 3, "median_filter": 5, "invert_occlusion": True, "fix_occlusions": True},
    {"fill": "uniform-random", "seed": 3, "direction": "backward"},
    {"per_frame": True},
])
def test_device_path_equals_numpy_path(cfg: dict[str, object]) -> None:
    ref = _run(False, False, **cfg)
    if not cfg.get("per_frame"):
        assert any(o.reliable is not None and 0 < o.reliable.mean() < 1 for o in ref)  # masks do something
    _same(ref, _run(True, True, **cfg))   # deferred check on the device, one frame ahead
    if not cfg:
        _same(ref, _run(True, False, **cfg))  # a ready map uploaded
        _same(ref, _run(True, True, overlap=False, **cfg))  # one frame at a time (stylize_first / stylize_next)


def test_image_model_first_frame_and_structure_term() -> None:
    ref = _run(False, False, structure=True, image_model=True)
    got = _run(True, True, structure=True, image_model=True)
    np.testing.assert_array_equal(ref[0].raw, got[0].raw)
    for x, y in zip(ref[1:], got[1:], strict=True):
        assert x.reliable is not None and y.reliable is not None
        # the structure term agrees to ~1e-5 (OpenCV's Gaussian sums in another order): near ties may flip
        assert np.mean(x.reliable != y.reliable) <= 0.01
    if all(np.array_equal(x.reliable, y.reliable) for x, y in zip(ref[1:], got[1:], strict=True)):
        _same(ref, got)


def test_continue_with_a_prior_from_elsewhere_uploads_it() -> None:
    whole = _run(True, True)
    prior = StylizedFrame(whole[1].index, whole[1].rgb.copy(), whole[1].raw.copy())
    rest = _run(True, True, prior=prior, indices=[3, 4])
    _same(whole[2:], rest)


def test_pending_motion_reliable_equals_the_immediate_check() -> None:
    clip = _clip()
    cur, prev = clip.read(2), clip.read(1)
    pending = PassMotion(NoFallback(), defer_check=True).motion(cur, prev)
    ready = PassMotion(NoFallback(), defer_check=False).motion(cur, prev)
    assert isinstance(pending, PendingMotion) and isinstance(ready, Motion)
    np.testing.assert_array_equal(pending.flow_fwd, prev.flow_to_next)
    np.testing.assert_array_equal(pending.reliable, ready.reliable)
    assert pending.reliable is pending.reliable  # computed once
    assert 0 < ready.reliable.mean() < 1


def test_device_ops_default_is_off_on_cpu() -> None:
    video, _ = _models()
    st = Stylizer(StylizerConfig(model="<video>", device="cpu"), NoFallback(), models=(video, None))
    assert st.on_device is False


class FailingClip(Source):
    """Reading frame ``bad`` fails."""

    def __init__(self, bad: int) -> None:
        super().__init__(_clip().frames)
        self.bad = bad
        self.reads: list[int] = []

    def read(self, index: int) -> Frame:
        self.reads.append(index)
        if index == self.bad:
            raise OSError(f"frame {index} is unreadable")
        return self.frames[index]


@pytest.mark.parametrize("overlap", [True, False])
def test_read_error_comes_after_the_frames_before_it(overlap: bool) -> None:
    st = _stylizer(True, True, overlap=overlap)
    got: list[int] = []
    with pytest.raises(OSError, match="frame 3"):
        for out in st.run(FailingClip(3)):
            got.append(out.index)
    assert got == [1, 2]


@pytest.mark.parametrize("overlap", [True, False])
def test_cancel_during_a_frame_drops_the_frame_read_ahead(overlap: bool) -> None:
    from fav_core.errors import Cancelled
    from fav_core.types import CancelToken, Progress

    token = CancelToken()
    seen: list[Progress] = []

    def progress(p: Progress) -> None:
        seen.append(p)
        if p.done == 2:
            token.cancel()

    st = _stylizer(True, True, overlap=overlap)
    got: list[int] = []
    with pytest.raises(Cancelled, match="after 2 of 4"):
        for out in st.run(_clip(), on_progress=progress, cancel=token):
            got.append(out.index)
    assert got == [1, 2] and [p.done for p in seen] == [1, 2] and [p.frame for p in seen] == [1, 2]


def test_cancel_before_the_first_frame() -> None:
    from fav_core.errors import Cancelled
    from fav_core.types import CancelToken

    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled, match="after 0 of 4"):
        next(_stylizer(True, True).run(_clip(), cancel=token))


def test_frame_size_change_is_a_shape_error() -> None:
    from fav_core.errors import ShapeError

    clip = _clip()
    small = clip.frames[3]
    clip.frames[3] = Frame(3, small.rgb[:-2], flow_to_prev=small.flow_to_prev[:-2], flow_to_next=small.flow_to_next[:-2])
    got: list[int] = []
    with pytest.raises(ShapeError, match="previous output"):
        for out in _stylizer(True, True).run(clip):
            got.append(out.index)
    assert got == [1, 2]
