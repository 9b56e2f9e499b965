"""fav_core.errors: typed, one-line messages."""
from __future__ import annotations

import pytest

from fav_core.errors import FlowFormatError, InputError, ModelLoadError, OutputError


def test_fav_errors_are_one_line_whatever_the_input() -> None:
    from fav_core.errors import ConfigError, InputError

    assert str(ConfigError("pattern 'a\nb': bad")) == "pattern 'a\\nb': bad"
    assert "\n" not in str(InputError("dir/x\r\ny.png", "unreadable"))
    assert str(InputError("été.png", "bad")) == "été.png: bad"  # printable text is left alone


@pytest.mark.parametrize("kind", [InputError, FlowFormatError, ModelLoadError, OutputError])
def test_input_errors_survive_pickling(kind: type[InputError]) -> None:
    import pickle

    err = kind("shot/frame_0001.exr", "file is truncated")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is kind and (back.path, back.problem) == (err.path, err.problem) and str(back) == str(err)
