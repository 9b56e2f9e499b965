"""A few bad inputs through a real ``python -m fav_core.cli`` child: exit 2, one stderr line, no traceback,
and with ``--progress json`` exactly one ``error`` event on stdout (docs/job-protocol.md)."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

from .conftest import assert_one_line_error, make_clip, plant, run_cli, snapshot, stylize_args, write_image


def json_events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_mixed_sizes_in_a_child_process(tmp_path: Path, models: tuple[str, str]) -> None:
    inp = make_clip(tmp_path / "in", n=3)
    write_image(tmp_path / "in" / "frame_0003.png", np.zeros((8, 8, 3), np.uint8))
    out = tmp_path / "out"
    before = plant(out)
    args = stylize_args(inp, str(out), models)
    args[args.index("none")] = "json"
    res = run_cli(*args)
    assert_one_line_error(res.returncode, res.stderr, "frame_0003.png", "8x8")
    events = json_events(res.stdout)
    assert [e["event"] for e in events] == ["error"]
    assert events[0]["kind"] == "InputError" and "frame_0003.png" in events[0]["message"]
    assert snapshot(out) == before


def test_pickle_model_in_a_child_process(tmp_path: Path, models: tuple[str, str]) -> None:
    marker = tmp_path / "marker.txt"

    class Boom:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (exec, (f"open({str(marker)!r}, 'w').write('pwned')",))

    model = tmp_path / "style.pth"
    model.write_bytes(pickle.dumps(Boom(), protocol=4))
    inp = make_clip(tmp_path / "in", n=2)
    args = stylize_args(inp, str(tmp_path / "out"), (str(model), models[1]))
    args[args.index("none")] = "json"
    res = run_cli(*args)
    assert_one_line_error(res.returncode, res.stderr, "style.pth", "weights_only=True")
    assert [e["kind"] for e in json_events(res.stdout)] == ["ModelLoadError"]
    assert not marker.exists()


def test_bad_device_in_a_child_process(tmp_path: Path, models: tuple[str, str]) -> None:
    inp = make_clip(tmp_path / "in", n=2)
    res = run_cli(*stylize_args(inp, str(tmp_path / "out"), models, "--device", "quantum:0"))
    assert_one_line_error(res.returncode, res.stderr, "quantum:0")
    assert res.stdout == ""
    assert not (tmp_path / "out").exists()
