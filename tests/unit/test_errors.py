"""fav_core.errors: typed, one-line messages."""
from __future__ import annotations


def test_fav_errors_are_one_line_whatever_the_input() -> None:
    from fav_core.errors import ConfigError, InputError

    assert str(ConfigError("pattern 'a\nb': bad")) == "pattern 'a\\nb': bad"
    assert "\n" not in str(InputError("dir/x\r\ny.png", "unreadable"))
    assert str(InputError("été.png", "bad")) == "été.png: bad"  # printable text is left alone
