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
