"""Refusing an output that would overwrite the input: ``-o`` equal to the input pattern, folder or video.

An image-sequence output written over its own input destroys the plate frame by frame (the reader runs ahead, so
the job even "succeeds"); a video output renamed over the input video replaces it at the end. Both are caught
before anything is written, by comparing the files themselves (``os.path.samefile``: symlinks, hard links and
different spellings of one path are the same file).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fav_core.errors import OutputError


def input_files(source: Any) -> list[Path]:
    """The files a frame source reads: every frame file of an image sequence, or the one video file."""
    file_of = getattr(source, "file", None)
    if callable(file_of):
        return [Path(file_of(i)) for i in source.indices]
    path = getattr(source, "path", None)
    return [Path(path)] if path is not None and Path(path).is_file() else []


def output_files(sink: Any, indices: Iterable[int]) -> list[Path]:
    """The files a sink would write for ``indices``: one per frame (image sequences) or the one video file."""
    path_of = getattr(sink, "path", None)
    if callable(path_of):
        return [Path(path_of(i)) for i in indices]
    inner = getattr(sink, "sink", None)  # a wrapper (the backward run's reordering buffer) around a video sink
    if inner is not None:
        return output_files(inner, indices)
    if isinstance(path_of, (str, Path)):
        return [Path(path_of)]
    return []


def refuse_overwriting_input(source: Any, sink: Any, indices: Iterable[int]) -> None:
    """Raise when writing frames ``indices`` through ``sink`` would replace a file ``source`` reads.

    Args:
        source: the frame source (an image sequence or a video).
        sink: the frame sink (image sequence, video, or a wrapper with ``.sink``).
        indices: the frame numbers that will be written.

    Raises:
        OutputError: names the first input file the output would overwrite.
    """
    inputs = [p for p in input_files(source) if p.is_file()]
    if not inputs:
        return
    keys = {}
    for p in inputs:
        st = p.stat()
        keys[(st.st_dev, st.st_ino)] = p
    for out in output_files(sink, indices):
        try:
            st = os.stat(out)
        except OSError:
            continue  # not there yet: cannot be an input file
        hit = keys.get((st.st_dev, st.st_ino))
        if hit is not None:
            raise OutputError(out, f"would overwrite the input file {hit}; choose another output")


def refuse_writing_into_the_input_folder(input_arg: str | Path, output_dir: str | Path, is_video: bool) -> None:
    """Raise when an input given as a folder of numbered images would get its output frames written into it.

    Different file names overwrite nothing, but the folder then holds two numbered sequences: the next run that
    reads it finds every frame twice (``frame_0001.png`` and ``frame_00001.png``). An input given as a pattern
    names its files exactly, so writing other names beside them stays allowed.

    Args:
        input_arg: the input as given (a folder, a pattern or a video file).
        output_dir: the folder the output frames go to.
        is_video: the output is one video file (nothing is mixed into the folder's sequence).

    Raises:
        OutputError: names the folder.
    """
    src, out = Path(input_arg), Path(output_dir)
    if is_video or not src.is_dir() or not out.is_dir():
        return
    if os.path.samefile(src, out):
        raise OutputError(out, "is the input folder: the stylized frames would be mixed with the plate's (the "
                          "next read finds every frame twice); choose another output folder")
