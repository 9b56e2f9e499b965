"""Run ``fav stylize`` inside Blender's own Python, in a worker thread (imports fav_core and torch).

Used only when the preference asks for it and :func:`core_importable` says torch and fav_core are installed in
Blender's Python. It calls the very same CLI code as the child process (argument parsing included), with a
reporter that hands the protocol events to the job queue instead of printing them, so both paths behave
alike. Cancellation: the reporter raises ``Cancelled`` right after a frame was written and reported, so the
output holds whole frames only (the core's sink writes each frame atomically).

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

    def __init__(self, emit: Callable[[dict[str, Any]], None], cancel: threading.Event) -> None:
        self._emit = emit
        self._cancel = cancel

    def event(self, name: str, **fields: Any) -> None:
        self._emit({"event": name, **fields})

    def start(self, total: int, **fields: Any) -> None:
        self.event("start", total=total, **fields)
        self._check()

    def frame(self, done: int, total: int, index: int, path: str | None) -> None:
        self.event("frame", done=done, total=total, index=index, path=path)
        self._check()

    def close(self) -> None:
        pass

    def _check(self) -> None:
        if self._cancel.is_set():
            from fav_core.errors import Cancelled

            raise Cancelled("cancelled from Blender")


def run(cli_args: list[str], emit: Callable[[dict[str, Any]], None], cancel: threading.Event,
        core_path: str = "") -> int:
    """Run ``fav <cli_args>`` (``stylize ...``) here; events go to ``emit``. Returns the CLI exit status.

    Every failure becomes an ``error`` event (never an exception out of the worker thread).
    """
    _add_to_path(core_path)
    try:
        from fav_core.cli import stylize
        from fav_core.cli.main import build_parser
        from fav_core.errors import Cancelled, FavError
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
    reporter = _QueueReporter(emit, cancel)
    try:
        stylize._run(parsed, reporter)
    except Cancelled as exc:
        emit({"event": "cancelled", "message": str(exc)})
        return EXIT_CANCELLED
    except FavError as exc:
        emit({"event": "error", "message": str(exc), "kind": type(exc).__name__})
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
