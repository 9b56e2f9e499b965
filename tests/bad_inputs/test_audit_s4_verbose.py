"""``-v`` after the sub-command is accepted, as users type it (audit s4)."""
from __future__ import annotations

import pytest

from fav_core.cli.main import build_parser


@pytest.mark.parametrize(("argv", "level"), [
    (["stylize", "in", "-o", "out"], 0),
    (["-v", "stylize", "in", "-o", "out"], 1),
    (["stylize", "in", "-o", "out", "-v"], 1),
    (["stylize", "in", "-o", "out", "-vv"], 2),
    (["models", "--verbose"], 1),
    (["flow", "in", "-o", "out", "-v"], 1),
])
def test_verbose_before_or_after_the_command(argv: list[str], level: int) -> None:
    assert build_parser().parse_args(argv).verbose == level
