"""fav_nuke.process: running a child that speaks the job protocol; cancel, errors, crashes; env."""
from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hosts" / "nuke"))

from fav_nuke.process import core_env, parse_event, run_core  # noqa: E402

# A stand-in child that speaks docs/job-protocol.md (the real core is exercised in test_nuke_e2e.py).
CHILD = textwrap.dedent('''
    import json, signal, sys, time
    mode = sys.argv[1]
    def ev(name, **f):
        print(json.dumps({"event": name, **f}), flush=True)
    if mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    elif mode == "slow":
        def on_term(signum, frame):
            ev("cancelled", done=1)
            sys.exit(130)
        signal.signal(signal.SIGTERM, on_term)
    if mode == "crash":
        print("Traceback (most recent call last):", file=sys.stderr)
        print("ZeroDivisionError: division by zero", file=sys.stderr)
        sys.exit(1)
    if mode == "error":
        ev("error", message="/x/plate.0001.exr: no such file", kind="InputError")
        sys.exit(2)
    ev("start", total=3, first=1, last=3, resumed_from=None, output="o")
    print("not json", flush=True)
    for i in range(1, 4):
        if mode in ("slow", "ignore-term") and i > 1:
            time.sleep(30)
        ev("frame", done=i, total=3, index=i, path=f"o.{i}", seconds=0.0)
    if mode == "no-done":
        sys.exit(0)
    ev("done", written=3, output="o")
''')


@pytest.fixture()
def child(tmp_path: Path) -> list[str]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return [sys.executable, str(script)]


def run(cmd: list[str], cancel_after_frames: int | None = None, **kw: Any) -> tuple[Any, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []

    def cancelled() -> bool:
        frames = sum(1 for e in events if e["event"] == "frame")
        return cancel_after_frames is not None and frames >= cancel_after_frames

    return run_core(cmd, on_event=events.append, is_cancelled=cancelled, poll_s=0.02, **kw), events


def test_done(child: list[str]) -> None:
    out, events = run(child + ["ok"])
    assert (out.status, out.written, out.returncode, out.message) == ("done", 3, 0, "wrote 3 frame(s)")
    assert [e["event"] for e in events] == ["start", "frame", "frame", "frame", "done"]  # "not json" skipped
    assert [e["index"] for e in events if e["event"] == "frame"] == [1, 2, 3]


def test_error_event_is_the_message(child: list[str]) -> None:
    out, _ = run(child + ["error"])
    assert (out.status, out.returncode) == ("error", 2)
    assert out.message == "/x/plate.0001.exr: no such file"


def test_crash_reports_exit_code_and_last_stderr_line(child: list[str]) -> None:
    out, _ = run(child + ["crash"])
    assert out.status == "error" and out.returncode == 1
    assert out.message.endswith("exit code 1: ZeroDivisionError: division by zero")


def test_exit_0_without_done_is_an_error(child: list[str]) -> None:
    out, _ = run(child + ["no-done"])
    assert out.status == "error" and "without a 'done' event" in out.message


@pytest.mark.skipif(os.name == "nt", reason="SIGTERM semantics")
def test_cancel_terminates_cleanly(child: list[str]) -> None:
    t0 = time.perf_counter()
    out, events = run(child + ["slow"], cancel_after_frames=1)
    assert time.perf_counter() - t0 < 10
    assert (out.status, out.returncode, out.written) == ("cancelled", 130, 1)
    assert events[-1] == {"event": "cancelled", "done": 1}


@pytest.mark.skipif(os.name == "nt", reason="SIGTERM semantics")
def test_cancel_kills_a_child_that_ignores_sigterm(child: list[str]) -> None:
    t0 = time.perf_counter()
    out, _ = run(child + ["ignore-term"], cancel_after_frames=1, grace_s=0.5)
    assert time.perf_counter() - t0 < 10
    assert out.status == "cancelled" and out.returncode == -9


def test_missing_interpreter(tmp_path: Path) -> None:
    out, events = run([str(tmp_path / "no-python"), "-m", "fav_core.cli"])
    assert out.status == "error" and out.returncode is None and events == []
    assert out.message.startswith(f"{tmp_path / 'no-python'}: cannot start the core")


def test_parse_event() -> None:
    assert parse_event('{"event": "done", "written": 2}\n') == {"event": "done", "written": 2}
    assert parse_event("") is None
    assert parse_event("progress 50%") is None
    assert parse_event('{"written": 2}') is None
    assert parse_event("[1, 2]") is None


def test_core_env_prepends_checkout(tmp_path: Path) -> None:
    (tmp_path / "fav_core").mkdir()
    (tmp_path / "fav_core" / "__init__.py").write_text("")
    env = core_env({"PYTHONPATH": "/a", "X": "1"}, tmp_path)
    assert env["PYTHONPATH"] == os.pathsep.join([str(tmp_path), "/a"]) and env["X"] == "1"
    assert core_env({}, tmp_path / "nothing-here").get("PYTHONPATH") is None


def test_nuke_imports_the_client_from_the_checkout_without_site_packages() -> None:
    """A bare Python (no site-packages: no torch, numpy or installed fav_core) with only ``hosts/nuke`` on the
    path, as in Nuke: ``init.py`` puts the checkout on sys.path and fav_nuke.process finds fav_core.jobclient."""
    import subprocess

    hosts_nuke = Path(__file__).resolve().parents[2] / "hosts" / "nuke"
    script = textwrap.dedent(f'''
        import runpy, sys
        sys.path.insert(0, {str(hosts_nuke)!r})
        runpy.run_path({str(hosts_nuke / "init.py")!r})
        import fav_nuke.process, fav_core.jobclient
        assert fav_nuke.process.Outcome is fav_core.jobclient.Outcome
        print(fav_core.jobclient.__file__)
        print(sorted(m for m in ("torch", "numpy", "cv2", "OpenImageIO") if m in sys.modules))
    ''')
    done = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    path, heavy = done.stdout.splitlines()
    assert Path(path) == hosts_nuke.parent.parent / "fav_core" / "jobclient.py"
    assert heavy == "[]"
