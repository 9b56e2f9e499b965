"""Sticky per-user settings of the Nuke node: the core's Python interpreter, remembered between sessions.

Stored as JSON in ``$FAV_NUKE_SETTINGS`` or ``~/.nuke/fav_nuke.json``. A missing or corrupt file gives the
defaults (a corrupt one with a warning), never an error: settings must not stop the artist from working.
Pure Python (no ``nuke``).
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from fav_core.errors import OutputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StickySettings:
    """Settings shared by every node of one user.

    Attributes:
        core_python: the interpreter that has fav_core and torch (``""`` = not chosen yet).
    """

    core_python: str = ""


def settings_path(env: Mapping[str, str]) -> Path:
    """``$FAV_NUKE_SETTINGS`` or ``~/.nuke/fav_nuke.json``."""
    if env.get("FAV_NUKE_SETTINGS"):
        return Path(env["FAV_NUKE_SETTINGS"]).expanduser()
    return Path("~/.nuke/fav_nuke.json").expanduser()


def load_settings(path: Path) -> StickySettings:
    """Read the settings file; defaults when it is missing or unreadable (logged)."""
    if not path.is_file():
        return StickySettings()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("%s: ignoring unreadable settings (%s)", path, exc)
        return StickySettings()
    if not isinstance(data, dict) or not isinstance(data.get("core_python", ""), str):
        log.warning("%s: ignoring settings that are not {\"core_python\": \"...\"}", path)
        return StickySettings()
    return StickySettings(core_python=data.get("core_python", ""))


def save_settings(path: Path, settings: StickySettings) -> None:
    """Write the settings file atomically (temp file + rename).

    Raises:
        OutputError: the file cannot be written.
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(asdict(settings), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(path, f"cannot save settings ({exc.strerror or exc})") from exc


def resolve_core_python(typed: str, env: Mapping[str, str], saved: StickySettings) -> str:
    """The interpreter to run the core with: the knob, else ``$FAV_PYTHON``, else the saved one, else python3.

    Nuke's own ``sys.executable`` is Nuke itself, never a usable default.
    """
    for candidate in (typed, env.get("FAV_PYTHON", ""), saved.core_python):
        if candidate and candidate.strip():
            return candidate.strip()
    return "python" if os.name == "nt" else "python3"
