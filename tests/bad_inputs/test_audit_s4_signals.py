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
        for name, foreign in (("core-job", False), ("plugin-job", True)):
            p = sub.add_parser(name)
            p.set_defaults(func=lambda args: seen.append(signal.getsignal(signal.SIGTERM)) or 0)
            if foreign:
                p.set_defaults(fav_default_sigterm=True)
        return parser

    monkeypatch.setattr(cli_main, "build_parser", fake_build_parser)
    monkeypatch.setattr("fav_core.process_memory.tune_process", lambda: None)
    before = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        for argv in (["core-job"], ["plugin-job"]):
            monkeypatch.setattr(sys, "argv", ["fav", *argv])
            monkeypatch.setattr(cli_main, "main", lambda a=argv, m=cli_main.main: m(a))
            assert cli_main.console() == 0
    finally:
        signal.signal(signal.SIGTERM, before)
    assert seen == [cli_main._terminate, signal.SIG_DFL]


def test_plugin_commands_are_marked() -> None:
    from fav_core.cli.main import build_parser

    parser = build_parser()
    assert not getattr(parser.parse_args(["stylize", "in", "-o", "out"]), "fav_default_sigterm", False)
    try:
        gui = parser.parse_args(["gui"])
    except SystemExit:
        pytest.skip("no fav gui command installed")
    assert gui.fav_default_sigterm is True
