"""``fav farm`` driver signals: SIGTERM is a clean cancel like Ctrl-C (exit 130, a 'cancelled' event, the private
cluster shut down). Its own file: it needs no Ray cluster in this process (test_farm_errors keeps one per module)."""
from __future__ import annotations

from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from tests.support import make_clip  # noqa: E402

pytestmark = pytest.mark.slow


def test_sigterm_of_the_driver_is_a_clean_cancel(tmp_path: Path, tiny_models: tuple[str, str]) -> None:
    """ray.init put in its own SIGTERM handler (sys.exit(15)): the driver ended with exit 15 and no 'cancelled'
    event; now fav's own handler stays (exit 130, the protocol's cancel), the cluster is shut down and a re-run
    fills in the rest."""
    import json
    import signal
    import subprocess
    import sys
    import time

    if ray.is_initialized():
        pytest.skip("needs the CLI's own cluster")
    inp = make_clip(tmp_path / "in", 24, h=48, w=64)
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "fav_core.cli", "farm", inp, "-o", str(out), "--workers", "1", "--chunk-size", "2",
            "--warmup", "0", "--flow-group", "2", "--flow-preset", "ultrafast", "--model", str(tiny_models[0]),
            "--image-model", str(tiny_models[1]), "--progress", "json"]
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # the first finished task: the cluster is up and working
        if json.loads(line).get("event") == "frame":
            break
    proc.send_signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=120)
    events = [json.loads(x) for x in rest.splitlines() if x.strip()]
    assert proc.returncode == 130, err
    assert events and events[-1]["event"] == "cancelled", rest
    assert "fav: cancelled" in err and "Traceback" not in err
    time.sleep(1)
    left = [p.name for p in out.rglob("*") if p.is_file() and ".tmp" in p.name]
    assert not left and (out / ".fav-state" / "settings.json").is_file()
