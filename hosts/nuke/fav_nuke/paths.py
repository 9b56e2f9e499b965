"""On-disk layout of one node's job: the rendered plate and the stylized frames.

::

    <job folder>/plate/plate.%04d.exr        plate (+ motion channels) written by the internal Write
    <job folder>/stylized/stylized.%04d.exr  frames written by the core (resume reads them back)

Pure Python (no ``nuke``).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from fav_core.errors import ConfigError, OutputError
from fav_nuke.frames import FrameRange

log = logging.getLogger(__name__)

_PLATE_NAME = re.compile(r"^plate\.(\d{4,})\.exr$")


@dataclass(frozen=True)
class JobPaths:
    """The files of one job.

    Attributes:
        root: the job folder.
    """

    root: Path

    @property
    def plate_dir(self) -> Path:
        return self.root / "plate"

    @property
    def stylized_dir(self) -> Path:
        return self.root / "stylized"

    @property
    def plate_pattern(self) -> str:
        """printf pattern of the rendered plate (what the Write writes and the core reads)."""
        return (self.plate_dir / "plate.%04d.exr").as_posix()

    @property
    def stylized_pattern(self) -> str:
        """printf pattern of the stylized frames (what the core writes and the Read reads)."""
        return (self.stylized_dir / "stylized.%04d.exr").as_posix()

    def stylized_frame(self, frame: int) -> Path:
        return self.stylized_dir / f"stylized.{frame:04d}.exr"

    def make_dirs(self) -> None:
        """Create the folders.

        Raises:
            OutputError: a folder cannot be created.
        """
        for folder in (self.plate_dir, self.stylized_dir):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(folder, f"cannot create folder ({exc.strerror or exc})") from exc

    def remove_stale_plate(self, frames: FrameRange) -> list[Path]:
        """Delete rendered plate frames outside ``frames`` (left by a run with a longer range).

        Only files named exactly like the Write's output are touched, so the core sees exactly the frames of
        this run when it opens the plate pattern.

        Returns:
            The deleted files.

        Raises:
            OutputError: a stale file cannot be deleted.
        """
        removed: list[Path] = []
        if not self.plate_dir.is_dir():
            return removed
        for path in sorted(self.plate_dir.iterdir()):
            m = _PLATE_NAME.match(path.name)
            if m is None or int(m.group(1)) in frames:
                continue
            try:
                path.unlink()
            except OSError as exc:
                raise OutputError(path, f"cannot delete stale plate frame ({exc.strerror or exc})") from exc
            removed.append(path)
        if removed:
            log.info("removed %d stale plate frame(s) outside %s from %s", len(removed), frames, self.plate_dir)
        return removed


def job_folder(typed: str, script_path: str, node_name: str) -> Path:
    """The job folder: the typed one, else ``<script folder>/fav/<script name>/<node name>``.

    Args:
        typed: the ``output folder`` knob (may be empty).
        script_path: the saved script's path (``nuke.root()['name'].value()``), empty if never saved.
        node_name: the node's name (keeps two nodes of one script apart); characters other than letters,
            digits, ``_``, ``-`` and ``.`` become ``_`` and a leading dot is dropped, so a name can never leave
            the script's ``fav`` folder (``../x`` → ``_x``).

    Raises:
        ConfigError: nothing typed and the script was never saved.
    """
    if typed.strip():
        return Path(typed.strip()).expanduser()
    if not script_path.strip():
        raise ConfigError("output folder: save the script first or set the node's output folder")
    script = Path(script_path.strip())
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", node_name).lstrip(".") or "node"
    return script.parent / "fav" / script.stem / safe
