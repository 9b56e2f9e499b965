"""Run ``fav stylize`` inside Blender's own Python, in a worker thread (imports fav_core and torch).

Used only when the preference asks for it and :func:`core_importable` says torch and fav_core are installed in
Blender's Python. It calls the very same CLI code as the child process (argument parsing included), with a
reporter that hands the protocol events to the job queue instead of printing them, so both paths behave
alike. Cancellation: the job's event is the core's cancel token, checked before every frame, so the output holds
whole frames only (the core's sink writes each frame atomically).

Never imported at add-on start-up: :mod:`jobs` imports it inside the worker thread.
"""
from __future__ import annotations

import importlib.util
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

EXIT_ERROR = 2
EXIT_CANCELLED = 130


def core_importable(core_path: str = "") -> bool:
    """True when ``torch`` and ``fav_core`` can be imported here (checked without importing them)."""
    _add_to_path(core_path)
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "fav_core"))


class _QueueReporter:
    """The CLI's reporter interface (``start``/``frame``/``event``/``close``), feeding the job queue."""

    def __init__(self, emit: Callable[[dict[str, Any]], None]) -> None:
        self._emit = emit

    def event(self, name: str, **fields: Any) -> None:
        self._emit({"event": name, **fields})

    def start(self, total: int, **fields: Any) -> None:
        self.event("start", total=total, **fields)

    def frame(self, done: int, total: int, index: int, path: str | None) -> None:
        self.event("frame", done=done, total=total, index=index, path=path)

    def close(self) -> None:
        pass


def run(cli_args: list[str], emit: Callable[[dict[str, Any]], None], cancel: threading.Event,
        core_path: str = "") -> int:
    """Run ``fav <cli_args>`` (``stylize ...``) here; events go to ``emit``. Returns the CLI exit status.

    Every failure becomes an ``error`` event (never an exception out of the worker thread).
    """
    _add_to_path(core_path)
    try:
        from fav_core.cli import stylize, stylize_360
        from fav_core.cli.main import build_parser
        from fav_core.errors import Cancelled, FavError
        from fav_core.types import CancelToken
    except ImportError as exc:
        emit({"event": "error", "message": f"cannot import the core in Blender's Python: {exc}",
              "kind": "ImportError"})
        return EXIT_ERROR
    args = list(cli_args)
    if "--progress" in args:  # the reporter replaces the JSON printer
        i = args.index("--progress")
        del args[i:i + 2]
    try:
        parsed = build_parser().parse_args(args)
    except SystemExit:
        emit({"event": "error", "message": f"bad options for fav: {' '.join(args)}", "kind": "ConfigError"})
        return EXIT_ERROR
    reporter = _QueueReporter(emit)
    try:  # stylize.run reports "cancelled" / "error" events itself before raising
        runner = stylize_360.run if parsed.command == "stylize-360" else stylize.run
        runner(parsed, reporter, cancel=CancelToken.from_event(cancel))
    except Cancelled:
        return EXIT_CANCELLED
    except FavError:
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - a worker thread must report, not die silently
        log.exception("in-process core failed")
        emit({"event": "error", "message": f"internal error in the core: {exc!r}", "kind": type(exc).__name__})
        return 1
    return 0


def _add_to_path(core_path: str) -> None:
    """Put ``core_path`` (a folder holding ``fav_core``) first on ``sys.path``; kept for later imports."""
    if core_path and core_path not in sys.path:
        sys.path.insert(0, core_path)
