"""fav_nuke.channels and fav_nuke.frames: vector channel names, sign mapping (round trip via the core), ranges."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hosts" / "nuke"))

from fav_nuke.channels import (  # noqa: E402
    STANDARD_NAMES,
    VectorChannels,
    flow_to_nuke,
    flows_to_nuke_channels,
    missing_channels,
    nuke_to_flow,
    parse_vector_channels,
)
from fav_nuke.frames import FrameRange, parse_frame_range  # noqa: E402

from fav_core.errors import ConfigError  # noqa: E402


def test_default_channels_are_nuke_motion_layer() -> None:
    assert VectorChannels().names() == STANDARD_NAMES == ("backward.u", "backward.v", "forward.u", "forward.v")
    assert VectorChannels("a.x", "a.y", "b.x", "b.y").copy_pairs() == [
        ("a.x", "backward.u"), ("a.y", "backward.v"), ("b.x", "forward.u"), ("b.y", "forward.v")]


def test_parse_strips_and_rejects() -> None:
    assert parse_vector_channels(" mv.a ", "mv.b", "mv.c", "mv.d") == VectorChannels("mv.a", "mv.b", "mv.c", "mv.d")
    with pytest.raises(ConfigError, match="knob forward_u: 'u' is not a full channel name"):
        parse_vector_channels("backward.u", "backward.v", "u", "forward.v")
    with pytest.raises(ConfigError, match="backward.u is used for more than one"):
        parse_vector_channels("backward.u", "backward.u", "forward.u", "forward.v")


def test_missing_channels() -> None:
    have = ["rgba.red", "backward.u", "backward.v", "forward.u"]
    assert missing_channels(VectorChannels(), have) == ["forward.v"]
    assert missing_channels(VectorChannels(), have + ["forward.v"]) == []


def test_sign_mapping_exact() -> None:
    """Nuke y is up, ours is down: a point moving right 3 px and *up* 2 px on screen has Nuke (3, 2), ours (3, -2)."""
    u = np.full((2, 3), 3.0, np.float32)
    v = np.full((2, 3), 2.0, np.float32)
    flow = nuke_to_flow(u, v)
    assert flow.shape == (2, 3, 2) and flow.dtype == np.float32
    assert np.array_equal(flow[..., 0], u) and np.array_equal(flow[..., 1], -v)
    u2, v2 = flow_to_nuke(flow)
    assert np.array_equal(u2, u) and np.array_equal(v2, v)


def test_round_trip_through_the_core_reader() -> None:
    """Our flows -> Nuke channels (this module) -> the core's host-vector reader -> the same flows."""
    from fav_core.flow.vectors import vectors_from_channels

    rng = np.random.default_rng(0)
    bwd = rng.uniform(-0.3, 0.3, (6, 8, 2)).astype(np.float32) + np.array([1.5, -2.0], np.float32)
    fwd = -bwd
    chans = flows_to_nuke_channels(bwd, fwd)
    assert set(chans) == set(STANDARD_NAMES)
    assert np.array_equal(chans["backward.v"], -bwd[..., 1])  # y up in Nuke
    got = vectors_from_channels(chans, "nuke", erode=0, edge_threshold=10.0)
    assert got is not None and got.convention == "nuke"
    np.testing.assert_array_equal(got.flow_to_prev, bwd)
    np.testing.assert_array_equal(got.flow_to_next, fwd)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", (1, 10)), ("  ", (1, 10)), ("12", (12, 12)), ("1001-1100", (1001, 1100)), ("5 9", (5, 9)),
     ("3-7x1", (3, 7)), (" 0 - 4 ", (0, 4))],
)
def test_parse_frame_range(text: str, expected: tuple[int, int]) -> None:
    r = parse_frame_range(text, FrameRange(1, 10))
    assert (r.first, r.last) == expected
    assert len(r) == expected[1] - expected[0] + 1


@pytest.mark.parametrize(
    ("text", "needle"),
    [("1-10x2", "step must be 1"), ("a-b", "expected first-last"), ("1,2,3", "expected first-last"),
     ("10-1", "last frame is before the first"), ("-3-2", "negative")],
)
def test_bad_frame_ranges(text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_frame_range(text, FrameRange(1, 10))


def test_frame_range_contains() -> None:
    r = FrameRange(3, 5)
    assert [f for f in range(8) if f in r] == [3, 4, 5] and str(r) == "3-5"


def test_nuke_vectors_warp_like_foundry_documents_them() -> None:
    """Numerical check of the sign/axis mapping against Foundry's definition, in Nuke's own coordinates.

    VectorGenerator: the forward field holds "the x and y offsets needed to transform the next frame into an
    approximation to the current one", the backward field the same for the previous frame (Nuke 12.0 user guide,
    comp_environment/kronos_motionblur/vectorgenerator.html), i.e. cur(p) = next(p + forward(p)) and
    cur(p) = prev(p + backward(p)), with p = (x, y) in pixels, origin bottom-left, y up. A textured square moves
    +2 px right and +1 px *up* per frame. Built in Nuke coordinates, stored top-down as in an EXR, converted with
    nuke_to_flow, the flows must gather the neighbours onto the current frame with our convention (dx right, dy
    down, rows top-down).
    """
    h, w = 12, 16
    tex = np.arange(1, 17, dtype=np.float32).reshape(4, 4)

    def frame_y_up(t: int) -> np.ndarray:  # rows indexed by Nuke y (row 0 = bottom)
        img = np.zeros((h, w), np.float32)
        x0, y0 = 3 + 2 * t, 2 + 1 * t
        img[y0:y0 + 4, x0:x0 + 4] = tex
        return img

    # Nuke vectors of frame 1 (constant over the image: the square is the only thing that moves)
    fwd_u, fwd_v = np.full((h, w), 2.0, np.float32), np.full((h, w), 1.0, np.float32)    # next - p
    bwd_u, bwd_v = np.full((h, w), -2.0, np.float32), np.full((h, w), -1.0, np.float32)  # prev - p
    # Foundry's definition holds in Nuke coordinates on the square of frame 1
    prev, cur, nxt = (frame_y_up(t) for t in (0, 1, 2))
    ys, xs = np.nonzero(cur)
    assert np.array_equal(nxt[ys + 1, xs + 2], cur[ys, xs]) and np.array_equal(prev[ys - 1, xs - 2], cur[ys, xs])

    # as stored in an EXR (top row first) and converted to our flow
    top = [f[::-1] for f in (prev, cur, nxt)]
    flow_next = nuke_to_flow(fwd_u[::-1], fwd_v[::-1])
    flow_prev = nuke_to_flow(bwd_u[::-1], bwd_v[::-1])
    assert flow_next[0, 0].tolist() == [2.0, -1.0] and flow_prev[0, 0].tolist() == [-2.0, 1.0]
    r, c = np.nonzero(top[1])
    for flow, other in ((flow_next, top[2]), (flow_prev, top[0])):
        dx, dy = flow[r, c, 0].astype(int), flow[r, c, 1].astype(int)
        assert np.array_equal(other[r + dy, c + dx], top[1][r, c])  # gather with dx right, dy down


def test_blender_vectors_through_nuke_channels_give_the_same_flow() -> None:
    """hosts.md §B2: Blender -> Nuke is backward.u/v = X, Y and forward.u/v = -Z, -W (both y up); reading those
    channels back must give exactly the flows fav_core reads from the Blender pass directly."""
    from fav_core.flow.convert import blender_backward, blender_forward, blender_to_nuke

    rng = np.random.default_rng(1)
    vector = rng.normal(0, 3, (5, 7, 4)).astype(np.float32)
    ch = blender_to_nuke(vector)
    np.testing.assert_array_equal(nuke_to_flow(ch["backward.u"], ch["backward.v"]), blender_backward(vector))
    np.testing.assert_array_equal(nuke_to_flow(ch["forward.u"], ch["forward.v"]), blender_forward(vector))
    # the verified Blender render of hosts.md §A2: object moving +8 px right, +4 px up -> X=Y=Z=W = (-8, -4)
    moving = np.broadcast_to(np.array([-8.0, -4.0, -8.0, -4.0], np.float32), (1, 1, 4))
    ch = blender_to_nuke(moving)
    assert (float(ch["forward.u"][0, 0]), float(ch["forward.v"][0, 0])) == (8.0, 4.0)  # next - p, y up
    assert nuke_to_flow(ch["forward.u"], ch["forward.v"])[0, 0].tolist() == [8.0, -4.0]  # right, up = -y down
