"""SIGTERM / Ctrl-C while ``fav`` is still starting (imports, model loading): exit 130, one line (audit s4)."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fav_core.cli.signals import HeldSignals, Terminated, cancel_on_signals, raise_terminated

from .conftest import ROOT, make_clip, stylize_args


def _wait_until_sigterm_is_caught(proc: subprocess.Popen[str], limit_s: float = 60.0) -> None:
    """Wait until ``proc`` has a SIGTERM handler (the start-up holder), read from /proc/PID/status (Linux).

    A fixed sleep raced the interpreter's own start-up on a loaded machine: a SIGTERM sent before
    ``HeldSignals.install`` killed the child (-15), a SIGINT raised in the middle of an import.
    """
    status = Path(f"/proc/{proc.pid}/status")
    if not status.exists():  # not Linux: the old fixed wait
        time.sleep(0.4)
        return
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and proc.poll() is None:
        caught = next((line.split()[1] for line in status.read_text().splitlines() if line.startswith("SigCgt:")),
                      "0")
        if int(caught, 16) >> (signal.SIGTERM - 1) & 1:
            return
        time.sleep(0.005)
    pytest.fail(f"the child never installed a SIGTERM handler (exit code {proc.poll()})")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_startup_is_a_clean_cancel(tmp_path: Path, models: tuple[str, str],
                                                 sig: signal.Signals) -> None:
    inp = make_clip(tmp_path / "in", n=3)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "fav_core.cli", *stylize_args(inp, str(out), models)],
                            cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    _wait_until_sigterm_is_caught(proc)  # the holder is in; importing torch takes far longer than what follows
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert proc.returncode == 130, err  # the job protocol's code (SIGTERM used to kill it silently: -15)
    assert len(lines) == 1 and lines[0].startswith("fav: cancelled"), err
    assert "Traceback" not in err
    assert not out.exists() or not any(out.glob("*.png"))


def test_other_packages_commands_keep_the_default_sigterm(monkeypatch: pytest.MonkeyPatch) -> None:
    """The start-up SIGTERM handler is for the core's jobs; a command from another package (the GUI's Qt event
    loop would only see it as an exception in some slot) runs with SIGTERM's default again."""
    import argparse

    from fav_core.cli import main as cli_main

    seen: list[object] = []

    def fake_build_parser() -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog="fav")
        parser.add_argument("-v", "--verbose", action="count", default=0)
        sub = parser.add_subparsers(dest="command")
        for name, flag in (("core-job", None), ("plugin-job", "fav_default_sigterm"),
                           ("frame-job", "fav_takes_signals")):
            p = sub.add_parser(name)
            p.set_defaults(func=lambda args: seen.append(signal.getsignal(signal.SIGTERM)) or 0)
            if flag:
                p.set_defaults(**{flag: True})
        return parser

    monkeypatch.setattr(cli_main, "build_parser", fake_build_parser)
    monkeypatch.setattr("fav_core.process_memory.tune_process", lambda: None)
    before = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        for argv in (["core-job"], ["plugin-job"], ["frame-job"]):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # console() leaves both ignored when it returns
            signal.signal(signal.SIGINT, signal.default_int_handler)
            monkeypatch.setattr(sys, "argv", ["fav", *argv])
            monkeypatch.setattr(cli_main, "main", lambda a=argv, m=cli_main.main: m(a))
            assert cli_main.console() == 0
    finally:
        signal.signal(signal.SIGTERM, before)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # a core command raises on SIGTERM once started; another package's has the default; a frame job still holds
    assert seen[:2] == [raise_terminated, signal.SIG_DFL] and isinstance(seen[2], HeldSignals)


def test_console_ignores_signals_once_the_work_is_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C that lands while a finished run exits must not turn it into a killed one (exit -2/-15)."""
    from fav_core.cli import main as cli_main

    monkeypatch.setattr("fav_core.process_memory.tune_process", lambda: None)
    monkeypatch.setattr(cli_main, "main", lambda argv=None: 0)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        assert cli_main.console() == 0
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN and signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_held_signals_are_delivered_at_the_safe_point() -> None:
    import os

    from fav_core.types import CancelToken

    try:
        held = HeldSignals.install()
        assert held is not None and HeldSignals.current() is held and HeldSignals.install() is held
        os.kill(os.getpid(), signal.SIGINT)  # recorded only: no KeyboardInterrupt here
        os.kill(os.getpid(), signal.SIGTERM)
        assert held.pending == [signal.SIGINT, signal.SIGTERM]
        with pytest.raises(KeyboardInterrupt):
            held.release()
        assert signal.getsignal(signal.SIGTERM) is raise_terminated
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

        held = HeldSignals.install()
        assert held is None  # SIGTERM has a handler now (raise_terminated): an embedding program's is kept
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        held = HeldSignals.install()
        assert held is not None
        os.kill(os.getpid(), signal.SIGTERM)
        with pytest.raises(Terminated):
            held.release()

        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        held = HeldSignals.install()
        assert held is not None
        os.kill(os.getpid(), signal.SIGINT)
        cancel = CancelToken()
        with cancel_on_signals(cancel):  # a frame job takes the held signal over as a cancel
            assert cancel.cancelled and held.pending == []
        assert HeldSignals.current() is held  # restored after the job
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_plugin_commands_are_marked() -> None:
    from fav_core.cli.main import build_parser

    parser = build_parser()
    assert not getattr(parser.parse_args(["stylize", "in", "-o", "out"]), "fav_default_sigterm", False)
    try:
        gui = parser.parse_args(["gui"])
    except SystemExit:
        pytest.skip("no fav gui command installed")
    assert gui.fav_default_sigterm is True


def test_a_signal_held_while_the_job_installs_its_handlers_is_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C the holder records between the job's look at it and its own handlers going in still cancels."""
    from fav_core.cli import signals as signals_mod
    from fav_core.types import CancelToken

    held = signals_mod.HeldSignals()
    real_signal = signal.signal
    monkeypatch.setattr(signals_mod.HeldSignals, "current", staticmethod(lambda: held))

    def signal_arriving_now(sig: int, handler: object) -> object:
        if not held.pending and sig == signal.SIGINT and not isinstance(handler, signals_mod.HeldSignals):
            held.pending.append(signal.SIGINT)  # Ctrl-C lands while the job's handlers are being installed
        return real_signal(sig, handler)

    monkeypatch.setattr(signals_mod.signal, "signal", signal_arriving_now)
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    cancel = CancelToken()
    try:
        with cancel_on_signals(cancel):
            assert cancel.cancelled and held.pending == []
    finally:
        real_signal(signal.SIGINT, before[0])
        real_signal(signal.SIGTERM, before[1])
