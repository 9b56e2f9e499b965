"""Bodies of the farm tasks: flows for a group of frame pairs, and one stylization chunk (no Ray here).

Both are plain, deterministic and idempotent: every file is written atomically, files that already exist are
kept, so a task that is retried (or a job that is re-run) only fills in what is missing.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from fav_core.errors import OutputError
from fav_core.farm.plan import Chunk
from fav_core.stylizer import StylizerConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShotSpec:
    """Everything a task needs to know about one shot (picklable; paths must be visible to every worker).

    Attributes:
        input: video file, printf pattern or folder of numbered images.
        output: image-sequence output (printf pattern or folder), as for ``fav stylize``.
        root: the folder output frames may not leave.
        flow_dir: folder of the shot's ``.flo``/``.pgm`` files (``fav flow`` names).
        config: the stylization settings.
        colorspace: encoding of the input pixels (``auto``, ``srgb``, ``linear``).
        flow_method, flow_preset, raft_weights: the flow provider (``fav flow --method/--preset``).
        structure_term: consistency check with the image structure term.
    """

    input: str
    output: str
    root: str
    flow_dir: str
    config: StylizerConfig
    colorspace: str = "auto"
    flow_method: str = "dis"
    flow_preset: str = "medium"
    raft_weights: str | None = None
    structure_term: bool = True

    @property
    def flow_pattern(self) -> str:
        """Flow file pattern the stylizer reads: frame t → previous frame in processing order."""
        name = "forward_[%d]_{%d}.flo" if self.config.direction == "backward" else "backward_[%d]_{%d}.flo"
        return str(Path(self.flow_dir) / name)

    @property
    def occlusions_pattern(self) -> str:
        """Reliability map pattern matching :attr:`flow_pattern`."""
        return str(Path(self.flow_dir) / "reliable_[%d]_{%d}.pgm")


@dataclass(frozen=True)
class TaskResult:
    """What a task did: files or frames written now, and those that already existed (skipped)."""

    written: int
    skipped: int


def flow_group(shot: ShotSpec, pairs: list[tuple[int, int]]) -> TaskResult:
    """Flows and reliability maps of the frame pairs ``(j, i)`` (i = next frame), written like ``fav flow``.

    Raises:
        OutputError: the flow folder cannot be created.
        InputError / FlowFormatError: from reading the frames.
    """
    from fav_core.cli.flow import make_flow_provider, pair_paths, write_pair
    from fav_core.io import open_frames

    out = Path(shot.flow_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(out, f"cannot create the flow folder ({exc.strerror or exc})") from exc
    missing = [(j, i) for j, i in pairs if not all(p.exists() for p in pair_paths(out, j, i))]
    if not missing:
        return TaskResult(0, len(pairs))
    source = open_frames(shot.input, colorspace=shot.colorspace, vectors=False)
    provider = make_flow_provider(shot.flow_method, shot.flow_preset, shot.raft_weights)
    frames = {}
    for j, i in missing:
        prev = frames.pop(j, None) or source.read(j)
        cur = source.read(i)
        write_pair(provider, out, prev, cur, structure_term=shot.structure_term)
        frames = {i: cur}
    return TaskResult(len(missing), len(pairs) - len(missing))


def stylize_chunk(shot: ShotSpec, chunk: Chunk) -> TaskResult:
    """Stylize ``chunk.frames`` from a fresh start and write the frames of ``chunk.written`` that are missing.

    The warm-up frames (and written frames that already exist) are stylized but not written, so the result
    of a retried chunk is the same as of its first try.

    Raises:
        ConfigError / InputError / FlowFormatError: from the stylizer's checks (models, sizes, flow files).
        OutputError: an output frame cannot be written.
    """
    from fav_core.io import make_sink, open_frames
    from fav_core.motion import FileMotion
    from fav_core.stylizer import Stylizer
    from fav_core.types import Frame

    source = open_frames(shot.input, colorspace=shot.colorspace, vectors=False)
    sink = make_sink(os.path.abspath(shot.output), like=source, root=os.path.abspath(shot.root))
    todo = {i for i in chunk.written if not sink.exists(i)}
    if not todo:
        return TaskResult(0, len(chunk.written))
    motion = None if shot.config.per_frame else FileMotion(shot.flow_pattern, shot.occlusions_pattern)
    stylizer = Stylizer(shot.config, motion)
    frames = list(chunk.frames)
    last = max(frames.index(i) for i in todo)
    written = 0
    try:
        for out in stylizer.run(source, indices=frames[: last + 1]):
            if out.index in todo:
                sink.write(Frame(out.index, out.rgb, out.alpha, source=out.source))
                written += 1
    except BaseException:
        abort = getattr(sink, "abort", None)
        if callable(abort):
            abort()
        raise
    sink.close()
    log.info("shot %d chunk %d: %d frames written (%d warm-up)", chunk.shot, chunk.number, written,
             len(chunk.warmup))
    return TaskResult(written, len(chunk.written) - written)
