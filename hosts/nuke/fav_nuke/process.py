"""Run the core as a child process and follow its JSON-lines progress (docs/job-protocol.md).

Pure Python, no ``nuke``: the caller passes callbacks for events and for "has the user cancelled?". Stdout and
stderr are drained by two reader threads so neither pipe can fill up and block the child; the calling thread
polls for events and cancellation. Cancel sends SIGTERM (the core finishes or discards the frame it is writing,
never half-writes it, and exits 130); a child that does not exit within ``grace_s`` is killed.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_ERROR = 2
EXIT_CANCELLED = 130


@dataclass(frozen=True)
class Outcome:
    """How a run ended.

    Attributes:
        status: ``done``, ``error`` or ``cancelled``.
        message: one line for the artist (the core's ``error`` message, or what went wrong with the process).
        written: frames written in this run (from ``done``, else the last ``frame`` event's ``done``).
        returncode: the child's exit status (None if it never started).
    """

    status: str
    message: str
    written: int
    returncode: int | None


def parse_event(line: str) -> dict[str, Any] | None:
    """One stdout line -> event dict, or None (logged) for a line that is not a JSON object with ``event``."""
    text = line.strip()
    if not text:
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        log.warning("core printed a non-JSON line on stdout: %.200s", text)
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("event"), str):
        log.warning("core printed a JSON line without an 'event': %.200s", text)
        return None
    return obj


def core_env(base: Mapping[str, str], repo_root: Path | None) -> dict[str, str]:
    """Environment of the child: ``base`` plus ``repo_root`` in front of PYTHONPATH when it holds ``fav_core``.

    This lets the node run the core straight from a checkout (``hosts/nuke`` two levels below the root) when
    the core's Python has not ``pip install``-ed the project.
    """
    env = dict(base)
    if repo_root is not None and (repo_root / "fav_core" / "__init__.py").is_file():
        parts = [str(repo_root)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join(parts)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _pump(stream: IO[str], sink: Callable[[str], None]) -> None:
    for line in iter(stream.readline, ""):
        sink(line)
    stream.close()


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
        The :class:`Outcome`; it never raises for a failing child (the message says what happened).
    """
    try:
        proc = subprocess.Popen(
            list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            text=True, encoding="utf-8", errors="replace", bufsize=1,
            env=None if env is None else dict(env), cwd=None if cwd is None else str(cwd),
        )
    except OSError as exc:
        return Outcome("error", f"{cmd[0]}: cannot start the core ({exc.strerror or exc})", 0, None)

    lines: queue.Queue[str] = queue.Queue()
    stderr_tail: deque[str] = deque(maxlen=20)
    readers = [
        threading.Thread(target=_pump, args=(proc.stdout, lines.put), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, stderr_tail.append), daemon=True),
    ]
    for t in readers:
        t.start()

    last: dict[str, dict[str, Any]] = {}
    cancelled = False

    def handle(line: str) -> None:
        event = parse_event(line)
        if event is not None:
            last[event["event"]] = event
            on_event(event)

    while proc.poll() is None or readers[0].is_alive():
        try:
            handle(lines.get(timeout=poll_s))
            continue
        except queue.Empty:
            pass
        if not cancelled and proc.poll() is None and is_cancelled():
            cancelled = True
            log.info("cancelling the core (pid %d)", proc.pid)
            proc.terminate()
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                log.warning("core (pid %d) ignored SIGTERM for %.0f s; killing it", proc.pid, grace_s)
                proc.kill()
    for t in readers:
        t.join(timeout=5.0)
    while not lines.empty():
        handle(lines.get_nowait())
    code = proc.wait()
    return _outcome(code, last, cancelled, list(stderr_tail), cmd[0])


def _outcome(
    code: int, last: dict[str, dict[str, Any]], cancelled: bool, stderr: list[str], exe: str
) -> Outcome:
    written = int(last.get("frame", {}).get("done", 0))
    if "done" in last and code == EXIT_OK:
        return Outcome("done", f"wrote {last['done'].get('written', written)} frame(s)",
                       int(last["done"].get("written", written)), code)
    if "error" in last:
        return Outcome("error", str(last["error"].get("message", "unknown error")), written, code)
    if cancelled or code == EXIT_CANCELLED or "cancelled" in last:
        return Outcome("cancelled", f"cancelled after {written} frame(s)", written, code)
    tail = next((s.strip() for s in reversed(stderr) if s.strip()), "no message on stderr")
    if code == EXIT_OK:
        return Outcome("error", f"{exe}: the core exited without a 'done' event ({tail})", written, code)
    return Outcome("error", f"{exe}: the core failed with exit code {code}: {tail}", written, code)
