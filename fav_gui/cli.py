"""``fav gui [INPUT]``: the preview and job window (registered through the ``fav.commands`` entry point)."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``fav gui`` on the ``fav`` sub-command parser."""
    p = sub.add_parser(
        "gui",
        help="open the preview and job window",
        description="Try styles and settings on a few frames (input | per-frame | temporal side by side, with a "
        "temporal-error curve), then run the whole clip with progress and Cancel.",
    )
    p.add_argument("input", nargs="?", default=None,
                   help="clip to open: video file, printf pattern (frame_%%04d.png, ####) or folder of frames")
    p.add_argument("--python", default=None,
                   help="interpreter that runs the job (default: this one)")
    p.set_defaults(func=run)


def model_names() -> list[str]:
    """Names of the installed models for the menus (empty, with a log line, if the listing fails)."""
    from fav_core.errors import FavError
    from fav_core.modelfile import list_models

    try:
        return sorted({m.name for m in list_models()})
    except FavError as exc:
        log.warning("cannot list models: %s", exc)
        return []


def display_problem(env: Mapping[str, str], platform: str) -> str | None:
    """Why a window cannot open here, or None.

    On Linux without DISPLAY / WAYLAND_DISPLAY (an SSH session, a farm node) Qt aborts the whole process
    (SIGABRT, "Reinstalling the application may fix this problem"); QT_QPA_PLATFORM means the caller chose a
    platform (offscreen, vnc, ...) and knows.
    """
    if not platform.startswith("linux") or any(env.get(k) for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        return None
    return ("fav gui: no display (DISPLAY and WAYLAND_DISPLAY are unset); run it in a desktop session, or set "
            "QT_QPA_PLATFORM (e.g. offscreen) to choose a Qt platform")


def run(args: argparse.Namespace) -> int:
    from fav_core.errors import ConfigError
    from fav_gui.main_window import MainWindow
    from fav_gui.qt import QtWidgets, exec_loop

    app = QtWidgets.QApplication.instance()
    if app is None:
        problem = display_problem(os.environ, sys.platform)
        if problem:
            raise ConfigError(problem)
        app = QtWidgets.QApplication(sys.argv[:1])
    window = MainWindow(args.input, model_names=model_names(), python=args.python)
    window.show()
    return exec_loop(app)
