"""Run the core as a child process from Nuke and follow its JSON-lines progress (docs/job-protocol.md).

A thin adapter over :mod:`fav_core.jobclient` (the one protocol client of every host; pure standard library, so
Nuke's Python never imports torch): the caller passes callbacks for events and for "has the user cancelled?",
called in the calling thread. Cancel sends SIGTERM (the core finishes or discards the frame it is writing, never
half-writes it, and exits 130); a child that does not exit within ``grace_s`` is killed.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fav_core.jobclient import (
    EXIT_CANCELLED,
    EXIT_ERROR,
    EXIT_OK,
    CoreProcess,
    CoreStartError,
    Outcome,
    child_env,
    parse_event,
)

__all__ = ["EXIT_CANCELLED", "EXIT_ERROR", "EXIT_OK", "Outcome", "core_env", "parse_event", "run_core"]

log = logging.getLogger(__name__)


def core_env(base: Mapping[str, str], repo_root: Path | None) -> dict[str, str]:
    """Environment of the child: ``base`` plus ``repo_root`` in front of PYTHONPATH when it holds ``fav_core``.

    This lets the node run the core straight from a checkout (``hosts/nuke`` two levels below the root) when
    the core's Python has not ``pip install``-ed the project. See :func:`fav_core.jobclient.child_env`.
    """
    holds_core = repo_root is not None and (repo_root / "fav_core" / "__init__.py").is_file()
    return child_env(base, repo_root if holds_core else None)


def run_core(
    cmd: Sequence[str],
    *,
    on_event: Callable[[dict[str, Any]], None],
    is_cancelled: Callable[[], bool],
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    poll_s: float = 0.1,
    grace_s: float = 15.0,
) -> Outcome:
    """Run ``cmd`` to the end (or until cancelled), calling ``on_event`` for each progress event.

    Args:
        cmd: full command, e.g. ``[python, "-m", "fav_core.cli", "stylize", ...]``.
        on_event: called in the calling thread with each parsed event, in order.
        is_cancelled: polled every ``poll_s`` seconds in the calling thread.
        env: environment of the child (default: inherited).
        cwd: working folder of the child.
        poll_s: polling interval.
        grace_s: how long a cancelled child may take to finish its frame before it is killed.

    Returns:
        The :class:`Outcome` (status ``done``, ``error`` or ``cancelled``: a crash is an ``error`` here); it
        never raises for a failing child (the message says what happened).
    """
    proc = CoreProcess(cmd, env=env, cwd=cwd)
    try:
        proc.start()
    except CoreStartError as exc:
        return Outcome("error", str(exc), 0, None)
    while not proc.finished:
        for event in proc.poll(timeout=poll_s):
            on_event(event)
        if proc.running and not proc.cancel_requested and is_cancelled():
            proc.cancel(grace_s)
    outcome = proc.outcome
    assert outcome is not None
    return dataclasses.replace(outcome, status="error") if outcome.status == "crashed" else outcome
