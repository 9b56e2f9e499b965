"""Fuzzing frame patterns, flow patterns and arch strings: a result or a ConfigError, never another exception."""
from __future__ import annotations

from pathlib import Path

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fav_core.errors import ConfigError
from fav_core.flow import check_pattern, format_pattern
from fav_core.io.pattern import parse_pattern
from fav_core.nets import build_transformer, parse_arch

FUZZ = settings(max_examples=200, deadline=None)

# Text built from the characters that matter to the parsers, plus a little of everything else.
PATTERN_TEXT = st.lists(
    st.one_of(
        st.sampled_from(["%", "d", "0", "5", "9", "#", "/", "\\", "[", "]", "{", "}", "x", "-", "+", ".", " ",
                         "%d", "%04d", "%5d", "%0999999999d", "%.99d", "####", "frame_", ".png", "..", "%%"]),
        st.text(max_size=3),
    ),
    max_size=10,
).map("".join)


@FUZZ
@given(text=PATTERN_TEXT, index=st.integers(0, 10**6))
def test_frame_patterns(text: str, index: int) -> None:
    try:
        pattern = parse_pattern(text)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    if pattern is None:
        return
    name = pattern.format(index)
    assert len(name) <= len(text) + 64  # no giant file names from a width like %0999999999d
    assert name.startswith(pattern.prefix) and name.endswith(pattern.suffix)
    if "/" not in pattern.suffix and "\\" not in pattern.suffix and pattern.prefix[-1:] not in ("/", "\\"):
        assert pattern.match_name(Path(name).name) == index or not Path(name).name.startswith(
            Path(pattern.prefix).name)


@FUZZ
@given(text=PATTERN_TEXT, start=st.integers(-5, 10**6), target=st.integers(-5, 10**6))
def test_flow_patterns(text: str, start: int, target: int) -> None:
    try:
        check_pattern(text)
        name = format_pattern(text, start, target)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    assert len(name) <= len(text) + 64


ARCH_TEXT = st.lists(
    st.one_of(
        st.sampled_from(["c", "f", "d", "u", "U", "R", "C", "s", "-", ",", " ", "0", "1", "2", "3", "8", "9",
                         "c3s1-8", "d8", "u8", "R8", "U2", "c3s1-3", "f3s2-8", "C8", "\u0669", "x"]),
        st.text(max_size=2),
    ),
    max_size=12,
).map("".join)


@FUZZ
@given(arch=ARCH_TEXT, in_channels=st.sampled_from([3, 7]))
def test_arch_strings(arch: str, in_channels: int) -> None:
    try:
        tokens = parse_arch(arch)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    assert tokens and all(t.text.isascii() for t in tokens)
    try:
        with torch.device("meta"):  # no allocation, whatever the channel counts
            net = build_transformer(arch, in_channels)
    except ConfigError:
        return
    assert net.in_channels == in_channels


@FUZZ
@given(arch=st.lists(st.sampled_from(["c3s1-8", "c5s1-4", "d8", "d4", "u8", "u4", "R8", "R4", "U2", "C8",
                                      "f3s2-8", "c3s2-8"]), min_size=1, max_size=6).map(",".join))
def test_arch_token_sequences_build_or_refuse(arch: str) -> None:
    try:
        with torch.device("meta"):
            build_transformer(arch + ",c3s1-3", 7)
    except ConfigError as exc:
        assert "\n" not in str(exc)
