"""Where a job's files go: ``<Output Folder>/<scene>_<strip>_<model>/{input,render,stylized,fav.log}``."""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import bpy

from .errors import HostError


def output_root(settings: Any) -> Path:
    """The folder for jobs: the Output Folder setting; blend-relative paths of an unsaved file go to temp."""
    text = settings.output_dir or "//fav/"
    if text.startswith("//") and not bpy.data.filepath:
        return Path(tempfile.gettempdir()) / "fav"  # not bpy.app.tempdir: that one is removed on exit
    return Path(bpy.path.abspath(text))


def job_name(*parts: str) -> str:
    """A file-system-safe folder name from strip/scene and model names, one per distinct name.

    Letters and digits of any script are kept (``ショット`` stays); anything else becomes ``-``, and then a
    short hash of the original is appended, so that names differing only there ("Shot A" / "Shot-A", "カット"
    / "ショット" under an ASCII-only rule) never share a job folder, where one strip's run would overwrite the
    frames another strip's result shows.
    """
    text = "_".join(Path(p).stem if p.endswith(".safetensors") else p for p in parts if p)
    safe = re.sub(r"[^\w.-]+", "-", text).strip("-.") or "job"
    if safe != text:
        safe = f"{safe}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:8]}"
    return safe


def ensure_dir(folder: Path) -> Path:
    """Create ``folder`` (and its parents) and make sure files can be written there; returns it.

    Raises:
        HostError: the folder cannot be created (a file in the way, a read-only or missing drive) or is not
            writable; one line naming the folder.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HostError(f"{folder}: cannot create this folder ({exc.strerror or exc}); "
                        "set Output Folder to a writable folder") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise HostError(f"{folder}: folder is not writable; set Output Folder to a writable folder")
    return folder


def os_error_line(exc: OSError) -> str:
    """One line for a file-system error: ``<file>: <reason>`` (no traceback, no errno tuple)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{exc.filename}: {reason}" if exc.filename else reason
