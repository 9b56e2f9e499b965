"""fav_core.jobclient against the real core CLI (``python -m fav_core.cli stylize --progress json``): done, error,
cancel (SIGTERM: exit 130, whole frames only), crash; event parsing, outcome rules, Python 3.9 syntax."""
from __future__ import annotations

import ast
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fav_core import jobclient
from fav_core.jobclient import (
    CoreProcess,
    CoreStartError,
    Outcome,
    child_env,
    decide_outcome,
    parse_event,
    stylize_command,
)

ROOT = Path(__file__).resolve().parents[2]
H, W, N = 16, 24, 4

# The real CLI with a stylizer that takes 0.3 s per recursive frame: a cancel sent on the first frame event
# reaches the core while later frames are still being stylized, so the test does not race the (fast) tiny model
# (the frame loop is pipelined: events follow the writes, which trail the network).
SLOW_CLI = (
    "import sys, time\n"
    "from fav_core import stylizer\n"
    "step = stylizer.Stylizer.stylize_next\n"
    "def slow(self, *a, **k):\n"
    "    time.sleep(0.3)\n"
    "    return step(self, *a, **k)\n"
    "stylizer.Stylizer.stylize_next = slow\n"
    "from fav_core.cli.main import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


@pytest.fixture(scope="module")
def model(tiny_models: tuple[str, str]) -> str:
    return tiny_models[0]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> str:
    import OpenImageIO as oiio

    folder = tmp_path_factory.mktemp("clip")
    rng = np.random.default_rng(0)
    base = rng.random((H, W + N, 3), dtype=np.float32)
    for i in range(1, N + 1):  # a texture panning 1 px per frame
        frame = np.ascontiguousarray(base[:, i - 1:i - 1 + W])
        out = oiio.ImageOutput.create(str(folder / f"shot_{i:04d}.png"))
        assert out is not None
        assert out.open(str(folder / f"shot_{i:04d}.png"), oiio.ImageSpec(W, H, 3, oiio.UINT8))
        assert out.write_image(frame)
        out.close()
    return str(folder / "shot_%04d.png")


def _args(clip: str, out: Path, model: str) -> list[str]:
    return [clip, "-o", str(out / "styl_%04d.png"), "--model", model, "--median-filter", "1", "--device", "cpu"]


def _env() -> dict[str, str]:
    return child_env(os.environ, str(ROOT))


def _whole_frames(folder: Path) -> list[str]:
    """PNG names in ``folder``; fails on temporary files or frames that do not read back whole."""
    import OpenImageIO as oiio

    assert [p.name for p in folder.iterdir() if ".tmp" in p.name] == []
    names = sorted(p.name for p in folder.iterdir() if p.suffix == ".png")
    for name in names:
        buf = oiio.ImageBuf(str(folder / name))
        pixels = buf.get_pixels(oiio.UINT8)
        assert not buf.has_error and pixels is not None and pixels.shape == (H, W, 3), name
    return names


def _events(proc: CoreProcess) -> tuple[list[dict[str, Any]], Outcome]:
    events: list[dict[str, Any]] = []
    outcome = proc.wait(timeout=120, on_event=events.append)
    return events, outcome


# ---------------------------------------------------------------------------------------------- real core
@pytest.mark.slow
def test_done_reports_every_frame(tmp_path: Path, clip: str, model: str) -> None:
    proc = CoreProcess(stylize_command(sys.executable, _args(clip, tmp_path, model)), env=_env()).start()
    assert proc.running and proc.pid is not None
    events, outcome = _events(proc)
    assert [e["event"] for e in events] == ["start"] + ["frame"] * N + ["done"]
    assert events[0]["total"] == N and events[0]["resumed_from"] is None
    assert [e["index"] for e in events if e["event"] == "frame"] == [1, 2, 3, 4]
    assert [e["done"] for e in events if e["event"] == "frame"] == [1, 2, 3, 4]
    assert outcome == Outcome("done", "wrote 4 frame(s)", 4, 0)
    assert proc.finished and not proc.running and proc.outcome is outcome
    assert proc.poll() == [] and proc.wait() is outcome  # drained once, then stable
    assert _whole_frames(tmp_path) == [f"styl_{i:04d}.png" for i in range(1, N + 1)]


@pytest.mark.slow
def test_missing_input_is_an_error_event_and_exit_2(tmp_path: Path, model: str) -> None:
    missing = tmp_path / "nothing_%04d.png"
    cmd = stylize_command(sys.executable, _args(str(missing), tmp_path / "out", model))
    events, outcome = _events(CoreProcess(cmd, env=_env(), log_path=tmp_path / "logs" / "core.log").start())
    assert [e["event"] for e in events] == ["error"]
    assert events[0]["kind"] == "InputError"
    assert (outcome.status, outcome.returncode, outcome.written) == ("error", 2, 0)
    assert outcome.message == events[0]["message"] and "nothing_%04d.png" in outcome.message
    assert "\n" not in outcome.message
    assert (tmp_path / "logs" / "core.log").is_file()  # stderr copied to the log file


@pytest.mark.slow
@pytest.mark.skipif(os.name == "nt", reason="SIGTERM semantics")
def test_cancel_sigterm_leaves_whole_frames_and_exits_130(tmp_path: Path, clip: str, model: str) -> None:
    cmd = [sys.executable, "-c", SLOW_CLI, "stylize", *_args(clip, tmp_path, model), "--progress", "json"]
    proc = CoreProcess(cmd, env=_env()).start()
    seen: list[dict[str, Any]] = []
    while not proc.finished:  # a UI-timer style loop: poll never blocks
        t0 = time.monotonic()
        new = proc.poll()
        assert time.monotonic() - t0 < 0.2
        seen += new
        if any(e["event"] == "frame" for e in new):
            proc.cancel(grace_s=30)
        time.sleep(0.02)
    outcome = proc.outcome
    assert outcome is not None and proc.cancel_requested
    assert (outcome.status, outcome.returncode) == ("cancelled", 130)
    frames = [e for e in seen if e["event"] == "frame"]
    assert seen[-1]["event"] == "cancelled" and seen[-1]["done"] == len(frames)
    assert 1 <= len(frames) < N and outcome.written == len(frames)
    assert outcome.message == f"cancelled after {len(frames)} frame(s)"
    assert _whole_frames(tmp_path) == [Path(e["path"]).name for e in frames]


def test_crash_without_events(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", "import sys; print('warming up'); print('ValueError: boom', file=sys.stderr); "
                                 "sys.exit(1)"]
    events, outcome = _events(CoreProcess(cmd).start())
    assert events == []  # "warming up" is not an event
    assert (outcome.status, outcome.returncode, outcome.written) == ("crashed", 1, 0)
    assert outcome.message == f"{sys.executable}: the core failed with exit code 1: ValueError: boom"


@pytest.mark.skipif(os.name == "nt", reason="POSIX shell and signals")
def test_cancel_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    script = tmp_path / "stubborn.sh"
    script.write_text("trap '' TERM\necho '{\"event\": \"start\", \"total\": 5}'\nexec sleep 60\n")
    proc = CoreProcess(["/bin/sh", str(script)]).start()
    t0 = time.monotonic()
    outcome = proc.wait(timeout=30, on_event=lambda e: proc.cancel(grace_s=0.3))
    assert time.monotonic() - t0 < 10
    assert (outcome.status, outcome.returncode) == ("cancelled", -9)


def test_wait_timeout_and_start_errors(tmp_path: Path) -> None:
    proc = CoreProcess([sys.executable, "-c", "import time; time.sleep(30)"]).start()
    with pytest.raises(TimeoutError, match="still running"):
        proc.wait(timeout=0.2)
    proc.cancel(grace_s=5)
    assert proc.wait(timeout=20).status == "cancelled"
    with pytest.raises(RuntimeError, match="already started"):
        proc.start()
    with pytest.raises(CoreStartError, match=r"no-python: cannot start the core \(") as info:
        CoreProcess([str(tmp_path / "no-python")]).start()
    assert info.value.exe == str(tmp_path / "no-python") and info.value.reason
    with pytest.raises(RuntimeError, match="not started"):
        CoreProcess(["x"]).wait()
    assert CoreProcess(["x"]).poll() == []


# ---------------------------------------------------------------------------------------------- pure parts
def test_stylize_command() -> None:
    assert stylize_command("/py", ["c", "-o", "o"]) == [
        "/py", "-m", "fav_core.cli", "stylize", "c", "-o", "o", "--progress", "json"]
    with pytest.raises(ValueError, match="--progress"):
        stylize_command("/py", ["c", "--progress", "bar"])
    with pytest.raises(ValueError, match="interpreter"):
        stylize_command(" ", ["c"])


def test_child_env() -> None:
    env = child_env({"PYTHONPATH": "/a", "PYTHONHOME": "/blender/python", "X": "1"}, "/repo")
    assert env == {"PYTHONPATH": os.pathsep.join(["/repo", "/a"]), "X": "1", "PYTHONUNBUFFERED": "1"}
    assert "PYTHONPATH" not in child_env({}, "") and "PYTHONPATH" not in child_env({}, None)


def test_parse_event() -> None:
    assert parse_event('{"event": "frame", "done": 1}\n') == {"event": "frame", "done": 1}
    for line in ("", "   ", "progress 50%", '{"done": 1}', '{"event": 3}', "[1, 2]", "null", "{bad",
                 "[" * 100_000 + "]" * 100_000, "1" * 5000):
        assert parse_event(line) is None, line[:20]


def test_decide_outcome_rules() -> None:
    done = {"frame": {"done": 4}, "done": {"written": 4, "output": "o"}}
    assert decide_outcome(0, done, False) == Outcome("done", "wrote 4 frame(s)", 4, 0)
    assert decide_outcome(0, done, True).status == "done"  # finished before the cancel arrived
    err = decide_outcome(2, {"frame": {"done": 1}, "error": {"message": "clip: frame 3 is broken"}}, False)
    assert err == Outcome("error", "clip: frame 3 is broken", 1, 2)
    assert decide_outcome(130, {"frame": {"done": 2}, "cancelled": {"done": 2}}, False) == Outcome(
        "cancelled", "cancelled after 2 frame(s)", 2, 130)
    assert decide_outcome(-9, {"frame": {"done": 2}}, True).status == "cancelled"  # killed after the grace
    crash = decide_outcome(1, {"done": {"written": 3}}, False, ["Traceback", "ValueError: boom", ""], "py")
    assert crash == Outcome("crashed", "py: the core failed with exit code 1: ValueError: boom", 0, 1)
    silent = decide_outcome(0, {}, False, [], "py")
    assert silent.status == "crashed" and silent.message == "py: the core exited without a 'done' event " \
                                                            "(no message on stderr)"
    assert decide_outcome(-11, {"frame": {"done": "x"}}, False).message.startswith("core: the core failed with "
                                                                                   "exit code -11")


def test_module_is_python_3_9_and_stdlib_only() -> None:
    """Nuke 14 (Python 3.9) and Blender import this file without torch, numpy or even the rest of fav_core."""
    source = Path(jobclient.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source, feature_version=(3, 9))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported - set(sys.stdlib_module_names)
    assert source.startswith('"""') and "from __future__ import annotations" in source


def test_event_stream_fed_by_a_worker_thread() -> None:
    """The queue that a host's in-process runner feeds (Blender): order, bad events dropped, one outcome."""
    import threading

    stream = jobclient.EventStream("worker")
    assert stream.poll() == [] and not stream.running  # not started: nothing to drain

    def work() -> None:
        stream.push({"event": "start", "total": 2})
        stream.push({"no": "name"})
        for i in (1, 2):
            stream.push({"event": "frame", "done": i, "total": 2, "index": i, "path": None})
        stream.close(jobclient.EXIT_CANCELLED)

    assert stream.start() is stream and stream.running
    stream.cancel()
    worker = threading.Thread(target=work)
    worker.start()
    events = list(stream.events())
    worker.join()
    assert [e["event"] for e in events] == ["start", "frame", "frame"]
    assert stream.outcome == Outcome("cancelled", "cancelled after 2 frame(s)", 2, 130)
    assert stream.finished and stream.poll() == [] and stream.wait() is stream.outcome
