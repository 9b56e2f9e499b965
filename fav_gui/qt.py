"""Qt import shim: PySide6 (Nuke 16, standalone), else PySide2 (Nuke 13-15).

Everything in fav_gui imports Qt from here, so the widget code runs on both bindings.
"""
from __future__ import annotations

from typing import Any

try:
    from PySide6 import QtCore, QtGui, QtWidgets

    BINDING = "PySide6"
except ImportError:  # Nuke 13-15 ship PySide2 only
    from PySide2 import QtCore, QtGui, QtWidgets  # type: ignore[no-redef]

    BINDING = "PySide2"

Signal = QtCore.Signal
Slot = QtCore.Slot

__all__ = ["BINDING", "QtCore", "QtGui", "QtWidgets", "Signal", "Slot", "exec_loop"]


def exec_loop(obj: Any) -> int:
    """Run ``obj``'s event loop (QApplication / QDialog / QEventLoop): ``exec`` on PySide6, ``exec_`` on PySide2."""
    run = getattr(obj, "exec", None) or obj.exec_
    return int(run())
