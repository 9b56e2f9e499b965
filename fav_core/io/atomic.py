"""Atomic file writes: write a hidden temp file in the target folder, then ``os.replace`` it into place.

A process killed at any moment leaves either the previous file or the whole new one, never a partial file
(plus, at worst, a hidden ``.<name>.tmp-*`` file that readers ignore because it starts with a dot).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from fav_core.errors import OutputError

log = logging.getLogger(__name__)

TEMP_MARKER = ".tmp-"


def describe_oserror(exc: OSError) -> str:
    """A short plain-words reason for a failed file operation (disk full, not writable, ...)."""
    if exc.errno == errno.ENOSPC:
        return "disk full (no space left on device)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "folder is not writable"
    return exc.strerror or str(exc)


def create_temp(folder: str | Path, prefix: str, suffix: str) -> Path:
    """Create a new empty file ``folder/<prefix><random><suffix>`` and return its path.

    Unlike ``tempfile.mkstemp`` (always mode 0600) the file gets the mode any new file gets (0666 minus the
    umask), so the finished output that is renamed from it is readable by the rest of a pipeline (render-farm
    users, the review tool), like a file the user had written directly.

    Raises:
        OSError: the folder is missing or not writable.
    """
    for _ in range(tempfile.TMP_MAX):
        path = Path(folder) / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise FileExistsError(errno.EEXIST, "no unused temporary name", str(folder))


@contextlib.contextmanager
def temp_path_for(final: str | Path) -> Iterator[Path]:
    """Yield a fresh temp path next to ``final`` (same folder, same extension); remove it afterwards if left.

    The temp name keeps ``final``'s extension so that writers choosing a format by extension (OpenImageIO,
    FFmpeg) pick the right one. The caller moves it into place itself (see :func:`atomic_write`).

    Raises:
        OutputError: the folder does not exist or cannot be written (names the path).
    """
    final = Path(final)
    folder = final.parent if str(final.parent) else Path(".")
    try:
        tmp = create_temp(folder, f".{final.stem}{TEMP_MARKER}", final.suffix)
    except OSError as exc:
        raise OutputError(final, f"cannot create a file in {folder}: {describe_oserror(exc)}") from exc
    try:
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write(final: str | Path, write: Callable[[Path], None]) -> None:
    """Write ``final`` atomically: ``write(tmp)`` fills a temp file, which then replaces ``final``.

    Args:
        final: the destination file.
        write: callable writing the complete file to the path it is given. It may raise OSError (disk full,
            permissions) or OutputError; either way the temp file is removed.

    Raises:
        OutputError: the folder is unwritable, the disk is full or ``write`` failed (names ``final``).
    """
    final = Path(final)
    with temp_path_for(final) as tmp:
        try:
            write(tmp)
            os.replace(tmp, final)
        except OSError as exc:
            raise OutputError(final, f"cannot write: {describe_oserror(exc)}") from exc


def remove_stale_temps(folder: str | Path) -> int:
    """Delete hidden temp files (``.<name>.tmp-*``) that a killed run left in ``folder``; returns how many.

    Only call this for a folder no other process is writing to at the same time (a run's own output folder
    when it starts or resumes).
    """
    removed = 0
    root = Path(folder)
    if not root.is_dir():
        return 0
    for p in root.iterdir():
        if p.name.startswith(".") and TEMP_MARKER in p.name and p.is_file():
            with contextlib.suppress(OSError):
                p.unlink()
                removed += 1
    if removed:
        log.info("%s: removed %d temp file(s) left by an interrupted run", root, removed)
    return removed
