"""SIGTERM / Ctrl-C while ``fav`` is still starting (imports, model loading): exit 130, one line (audit s4)."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT, make_clip, stylize_args


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_startup_is_a_clean_cancel(tmp_path: Path, models: tuple[str, str],
                                                 sig: signal.Signals) -> None:
    inp = make_clip(tmp_path / "in", n=3)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "fav_core.cli", *stylize_args(inp, str(out), models)],
                            cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    time.sleep(0.4)  # importing the CLI and torch takes longer than this: no job handler is installed yet
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert proc.returncode == 130, err  # the job protocol's code (SIGTERM used to kill it silently: -15)
    assert len(lines) == 1 and lines[0].startswith("fav: cancelled"), err
    assert "Traceback" not in err
    assert not out.exists() or not any(out.glob("*.png"))
