"""Where a job's files go: ``<Output Folder>/<scene>_<strip>_<model>/{input,render,stylized,fav.log}``."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import bpy


def output_root(settings: Any) -> Path:
    """The folder for jobs: the Output Folder setting; blend-relative paths of an unsaved file go to temp."""
    text = settings.output_dir or "//fav/"
    if text.startswith("//") and not bpy.data.filepath:
        return Path(tempfile.gettempdir()) / "fav"  # not bpy.app.tempdir: that one is removed on exit
    return Path(bpy.path.abspath(text))


def job_name(*parts: str) -> str:
    """A file-system-safe folder name from strip/scene and model names."""
    text = "_".join(Path(p).stem if p.endswith(".safetensors") else p for p in parts if p)
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "job"
