"""Arch-string grammar (algorithm.md §3.1)."""
from __future__ import annotations

import pytest

from fav_core.errors import ConfigError
from fav_core.nets import FNS_DEFAULT_ARCH, PAPER_VIDEO_ARCH, Token, parse_arch


class TestParseArch:
    def test_smoke_paper_arch(self) -> None:
        tokens = parse_arch(PAPER_VIDEO_ARCH)
        assert [t.kind for t in tokens] == ["c", "d", "d", "R", "R", "R", "R", "R", "U", "c", "U", "c"]
        assert [t.index for t in tokens] == list(range(1, 13))
        assert tokens[0] == Token("c", "c9s1-32", 1, kernel=9, stride=1, channels=32)
        assert tokens[8] == Token("U", "U2", 9, kernel=0, stride=1, channels=None, factor=2)

    def test_every_kind(self) -> None:
        tokens = parse_arch("c9s1-32,f3s2-16,d64,u32,U3,R128,C64")
        got = [(t.kind, t.kernel, t.stride, t.channels, t.factor) for t in tokens]
        assert got == [
            ("c", 9, 1, 32, 1),
            ("f", 3, 2, 16, 1),
            ("d", 3, 2, 64, 1),
            ("u", 3, 2, 32, 1),
            ("U", 0, 1, None, 3),
            ("R", 3, 1, 128, 1),
            ("C", 3, 1, 64, 1),
        ]

    def test_fns_default(self) -> None:
        tokens = parse_arch(FNS_DEFAULT_ARCH)
        assert [t.text for t in tokens[-3:]] == ["u64", "u32", "c9s1-3"]

    def test_multi_digit_kernel_and_stride(self) -> None:
        (t,) = parse_arch("c11s12-3")
        assert (t.kernel, t.stride, t.channels) == (11, 12, 3)
        (t,) = parse_arch("f13s2-256")
        assert (t.kind, t.kernel, t.stride, t.channels) == ("f", 13, 2, 256)

    def test_whitespace_around_tokens(self) -> None:
        assert [t.text for t in parse_arch(" c9s1-32 , d64 ")] == ["c9s1-32", "d64"]

    @pytest.mark.parametrize(
        ("arch", "message"),
        [
            ("c9x1-32", "arch token 'c9x1-32' (#1): expected cXsY-Z"),
            ("c9s1-32,d", "arch token 'd' (#2): expected dZ"),
            ("c9s1-32,f3s2", "arch token 'f3s2' (#2): expected fXsY-Z"),
            ("c9s1-32,U2x", "arch token 'U2x' (#2): expected UX"),
            ("c9s1-32,,d64", "arch token '' (#2): empty token (two commas in a row or a trailing comma?)"),
            ("q3", "arch token 'q3' (#1): unknown layer type 'q'; expected one of c, f, d, u, U, R, C"),
            ("c4s1-3", "arch token 'c4s1-3' (#1): kernel size must be odd and >= 1, got 4"),
            ("c3s0-3", "arch token 'c3s0-3' (#1): stride must be >= 1, got 0"),
            ("c3s1-0", "arch token 'c3s1-0' (#1): channel count must be >= 1, got 0"),
            ("d64,R0", "arch token 'R0' (#2): channel count must be >= 1, got 0"),
            ("U0", "arch token 'U0' (#1): upsampling factor must be >= 1, got 0"),
            ("r128", "arch token 'r128' (#1): unknown layer type 'r'; expected one of c, f, d, u, U, R, C"),
        ],
    )
    def test_exception_messages(self, arch: str, message: str) -> None:
        with pytest.raises(ConfigError) as info:
            parse_arch(arch)
        assert str(info.value) == message

    @pytest.mark.parametrize("arch", ["", "   "])
    def test_exception_empty(self, arch: str) -> None:
        with pytest.raises(ConfigError, match="arch is empty"):
            parse_arch(arch)

    def test_exception_not_a_string(self) -> None:
        with pytest.raises(ConfigError, match="arch must be a string"):
            parse_arch(None)  # type: ignore[arg-type]
