"""What a job's input was made of, so that Resume never continues over frames stylized from other images.

The core resumes a run when its input *path* and settings are unchanged. The Sequencer job links the strip's
visible images into the same ``<job>/input/frame_%05d.<ext>`` names on every run, so after a re-trim, a slip or
replaced footage the path is the same while frame k is another image; resuming would keep the old stylized
frames. The host therefore records, next to the job's files, which files (size and modification time) stood
behind the input and the settings used, and starts over when the files changed in a way that is not just frames
added at the end, or the settings changed (where the core would stop with "use --no-resume", a flag the
artist never sees).
"""
from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from .errors import HostError
from .options import StylizeOptions
from .paths import os_error_line

STAMP_NAME = "input.json"

Stamp = dict[str, Any]


def file_stamp(path: Path) -> list[Any]:
    """``[path, size, mtime_ns]`` of a file (size and time None when it cannot be read)."""
    try:
        st = path.stat()
    except OSError:
        return [str(path), None, None]
    return [str(path), st.st_size, st.st_mtime_ns]


def read_stamp(job_dir: Path) -> Stamp | None:
    """The stamp of the job's last run, or None (first run, or a job folder from before stamps)."""
    try:
        data = json.loads((job_dir / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_stamp(job_dir: Path, stamp: Stamp) -> None:
    """Record ``stamp`` for the next run (atomically).

    Raises:
        HostError: the job folder cannot be written.
    """
    path = job_dir / STAMP_NAME
    tmp = path.with_name(f".{STAMP_NAME}.tmp")
    try:
        tmp.write_text(json.dumps(stamp, indent=1), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise HostError(f"{path}: cannot record the job's input ({os_error_line(exc)})") from exc


def same_frames(old: Stamp | None, new: Stamp) -> bool:
    """Whether frames stylized from ``old`` may be kept for ``new``: the same source, and the same files in
    the same order as far as both go (frames added or dropped at the end are fine)."""
    if old is None or old.get("source") != new.get("source"):
        return False
    a, b = old.get("files", []), new.get("files", [])
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def options_key(options: StylizeOptions) -> list[str]:
    """The settings that shape the pixels, as recorded in a stamp (the ``fav stylize`` arguments without the
    resume switch and the frame count, which may change between a run and its continuation)."""
    return replace(options, resume=True, num_frames=None).to_cli_args()


def restart_reason(old: Stamp | None, new: Stamp) -> str:
    """Why frames stylized under ``old`` must not be resumed under ``new`` ("" when they may)."""
    if old is None:
        return "the frames already stylized there have no record of their input and settings"
    if not same_frames(old, new):
        return "it shows other frames than when it was last stylized"
    if old.get("options") != new.get("options"):
        return "the settings changed since it was last stylized"
    return ""
