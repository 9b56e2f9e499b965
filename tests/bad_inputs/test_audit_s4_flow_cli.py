"""``fav flow`` on a single frame says that nothing is to be done (audit s4)."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from fav_core.cli.main import main

from .conftest import make_clip


def test_single_frame_flow_warns_and_writes_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    make_clip(tmp_path / "in", n=1)
    out = tmp_path / "flow"
    with caplog.at_level(logging.WARNING):
        rc = main(["flow", str(tmp_path / "in" / "frame_0001.png"), "-o", str(out), "--progress", "none"])
    assert rc == 0
    assert list(out.iterdir()) == []
    assert any("single frame" in r.getMessage() and "nothing written" in r.getMessage() for r in caplog.records)
