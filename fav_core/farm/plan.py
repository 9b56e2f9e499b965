"""Task planning for farm runs: stylization chunks with warm-up, and groups of flow pairs (no Ray here)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fav_core.errors import ConfigError


@dataclass(frozen=True)
class Chunk:
    """One stylization task of a shot.

    Attributes:
        shot: index of the shot in the job.
        number: 1-based chunk number within the shot (chunk 1 starts at the shot's first frame).
        frames: every frame the task stylizes, in processing order (warm-up frames first).
        written: the frames it writes (the last ``len(written)`` of ``frames``).
    """

    shot: int
    number: int
    frames: tuple[int, ...]
    written: tuple[int, ...]

    @property
    def warmup(self) -> tuple[int, ...]:
        """Frames stylized only to let the recursion converge (not written)."""
        return self.frames[: len(self.frames) - len(self.written)]


def plan_chunks(order: Sequence[int], chunk_size: int, warmup: int, shot: int = 0) -> list[Chunk]:
    """Split a shot's frames (in processing order) into chunks that each start ``warmup`` frames early.

    Args:
        order: the frames in processing order (ascending, or descending for ``--backward``).
        chunk_size: written frames per chunk (>= 1).
        warmup: frames before a chunk's first written frame that it stylizes without writing (>= 0); chunk 1
            has none (it starts at the shot's first frame, like a single run).
        shot: shot index stored in the chunks.

    Returns:
        The chunks in order; together their ``written`` frames are ``order`` exactly once.

    Raises:
        ConfigError: chunk_size < 1 or warmup < 0.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError(f"--chunk-size must be an integer >= 1, got {chunk_size!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ConfigError(f"--warmup must be an integer >= 0, got {warmup!r}")
    order = list(order)
    chunks = []
    for number, start in enumerate(range(0, len(order), chunk_size), start=1):
        first = max(0, start - warmup)
        chunks.append(Chunk(shot, number, tuple(order[first : start + chunk_size]),
                            tuple(order[start : start + chunk_size])))
    return chunks


def plan_flow_groups(indices: Sequence[int], group_size: int) -> list[list[tuple[int, int]]]:
    """Adjacent frame pairs (j, i) of a shot (sorted frame numbers), in groups of at most ``group_size`` pairs.

    Each group is one flow task; consecutive pairs share a frame, so a task reads each frame once.

    Raises:
        ConfigError: group_size < 1.
    """
    if group_size < 1:
        raise ConfigError(f"flow group size must be >= 1, got {group_size}")
    ordered = sorted(indices)
    pairs = list(zip(ordered[:-1], ordered[1:], strict=True))
    return [pairs[k : k + group_size] for k in range(0, len(pairs), group_size)]
