"""``fav gui [INPUT]``: the preview and job window (registered through the ``fav.commands`` entry point)."""
from __future__ import annotations

import argparse
import logging
import sys

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


def run(args: argparse.Namespace) -> int:
    from fav_gui.main_window import MainWindow
    from fav_gui.qt import QtWidgets, exec_loop

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    window = MainWindow(args.input, model_names=model_names(), python=args.python)
    window.show()
    return exec_loop(app)
