"""Damaged run state in the output folder: one line that says to use --no-resume (audit s4)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fav_core.errors import InputError
from fav_core.runstate import RunState


@pytest.mark.parametrize("text", ["[1, 2]", '"x"', "3", "null"])
def test_settings_that_are_not_an_object(tmp_path: Path, text: str) -> None:
    state = RunState(tmp_path)
    state.dir.mkdir()
    (state.dir / "settings.json").write_text(text)
    with pytest.raises(InputError, match=r"settings\.json: the saved run settings are a JSON \w+, not an object"
                                         r".*use --no-resume"):
        state.check_settings({"model": "m"}, resume=True)
    state.check_settings({"model": "m"}, resume=False)  # a fresh run writes them anew
    state.check_settings({"model": "m"}, resume=True)


def test_damaged_prior_says_no_resume(tmp_path: Path) -> None:
    state = RunState(tmp_path)
    state.save_prior(3, np.zeros((4, 6, 3), np.float32))
    data = state.prior_path(3).read_bytes()
    state.prior_path(3).write_bytes(data[:100])
    with pytest.raises(InputError, match=r"prior_000003\.npy: cannot read the saved prior .*; use --no-resume$"):
        state.load_prior(3, (4, 6))
    state.save_prior(3, np.zeros((4, 5, 3), np.float32))
    with pytest.raises(InputError, match=r"expected float32 \(4, 6, 3\); use --no-resume$"):
        state.load_prior(3, (4, 6))
