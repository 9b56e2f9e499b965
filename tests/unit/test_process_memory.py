"""fav_core.process_memory: the fav process keeps freed memory for the next frame; library code never tunes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import fav_core.cli.main as cli_main
from fav_core import process_memory

ROOT = Path(__file__).resolve().parents[2]

# A child that allocates, touches and frees a 64 MiB buffer, then does it again and reports the minor page faults
# of the second round: with glibc's defaults the buffer is a fresh mmap each time (faulted in again); with the
# tuning the second buffer reuses the heap memory of the first.
CHILD = """
import resource, sys
sys.path.insert(0, {root!r})
from fav_core.process_memory import retain_freed_memory
applied = retain_freed_memory() if sys.argv[1] == "tuned" else False
import numpy as np
def round_trip():
    a = np.ones(64 << 17)  # 64 MiB of float64, every page touched
    del a
round_trip()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
round_trip()
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def run_child(mode: str, **env: str) -> tuple[bool, int]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(root=str(ROOT)), mode], capture_output=True, text=True, check=True,
        env={**os.environ, **env},
    ).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning is Linux only")
def test_freed_memory_is_reused_without_page_faults() -> None:
    applied, tuned = run_child("tuned")
    _, default = run_child("default")
    assert applied
    assert tuned < 8, tuned  # the second 64 MiB buffer lands in memory that is already mapped
    assert default >= 32, default  # a fresh mapping: at least one fault per 2 MiB huge page
    skipped, _ = run_child("tuned", FAV_NO_MALLOC_TUNING="1")
    assert not skipped


def test_huge_pages_env_is_a_default_the_user_can_override(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch  # noqa: F401 - once torch is imported the setting cannot take effect any more

    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "0")
    assert process_memory.enable_huge_pages() is False
    assert os.environ["THP_MEM_ALLOC_ENABLE"] == "0"
    monkeypatch.delenv("THP_MEM_ALLOC_ENABLE")
    process_memory.enable_huge_pages()
    assert os.environ["THP_MEM_ALLOC_ENABLE"] == "1"


def test_only_the_console_entry_point_tunes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(process_memory, "tune_process", lambda: calls.append("tune") or {})
    monkeypatch.setattr(cli_main, "main", lambda argv=None: calls.append("main") or 0)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert cli_main.console() == 0
    finally:  # console() leaves the signals ignored when the work is over (fav_core.cli.signals)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert calls == ["tune", "main"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["fav"] == "fav_core.cli.main:console"
    assert "console()" in (ROOT / "fav_core" / "cli" / "__main__.py").read_text()
    # library modules never call the tuning (hosts import the CLI in-process)
    users = [p.relative_to(ROOT).as_posix() for p in (ROOT / "fav_core").rglob("*.py")
             if "tune_process" in p.read_text() or "retain_freed_memory" in p.read_text()]
    # (and the farm's own private-cluster workers, fav_core/farm/ray_runner.py)
    assert sorted(users) == ["fav_core/cli/main.py", "fav_core/farm/ray_runner.py", "fav_core/process_memory.py"]
