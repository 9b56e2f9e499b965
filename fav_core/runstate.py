"""Resume state of a stylization run: the unclamped prior of the last whole frame, and the settings.

The delivered frames are clamped (PNG) and median filtered, so they cannot serve as the next frame's prior.
After each output frame is written, the run saves the raw network output of that frame as
``<state_dir>/prior_<index>.npy`` (plain float32 array, loaded with ``allow_pickle=False``) and removes the
previous one. A resumed or ``continue_with`` run reloads it, so split runs equal one run.

Layout: ``<output folder>/.fav-state/{settings.json, prior_<index>.npy}``.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from fav_core.errors import ConfigError, InputError, OutputError
from fav_core.io.atomic import create_temp

log = logging.getLogger(__name__)

STATE_DIRNAME = ".fav-state"


class RunState:
    """Prior + settings persisted next to an image-sequence output.

    Args:
        folder: the output folder (the state lives in ``folder/.fav-state``).
    """

    def __init__(self, folder: str | Path) -> None:
        self.dir = Path(folder) / STATE_DIRNAME

    # settings ------------------------------------------------------------------------------
    def check_settings(self, settings: dict[str, Any], *, resume: bool) -> None:
        """Record the run's settings; on resume, refuse settings that change the look of the frames.

        Raises:
            ConfigError: resuming with different settings (names the first differing key).
        """
        path = self.dir / "settings.json"
        if resume and path.exists():
            try:
                old = json.loads(path.read_text())
            except (OSError, ValueError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
                raise InputError(path, f"cannot read the saved run settings ({exc}); use --no-resume") from exc
            if not isinstance(old, dict):
                raise InputError(path, f"the saved run settings are a JSON {type(old).__name__}, not an object "
                                 "(damaged or not written by fav); use --no-resume")
            for key in sorted(set(old) | set(settings)):
                if old.get(key) != settings.get(key):
                    raise ConfigError(
                        f"{path}: the existing frames were made with {key}={old.get(key)!r}, this run asks for "
                        f"{settings.get(key)!r}; use --no-resume to start over or another output folder"
                    )
            return
        self._write_bytes(path, json.dumps(settings, indent=1, sort_keys=True).encode())

    # priors --------------------------------------------------------------------------------
    def prior_path(self, index: int) -> Path:
        return self.dir / f"prior_{index:06d}.npy"

    def save_prior(self, index: int, raw: np.ndarray, *, drop: int | None = None) -> None:
        """Atomically save the raw (H, W, 3) float32 output of frame ``index``; then delete frame ``drop``'s."""
        buf = _npy_bytes(np.ascontiguousarray(raw, dtype=np.float32))
        self._write_bytes(self.prior_path(index), buf)
        if drop is not None and drop != index:
            self.prior_path(drop).unlink(missing_ok=True)

    def has_prior(self, index: int) -> bool:
        return self.prior_path(index).is_file()

    def load_prior(self, index: int, size: tuple[int, int]) -> np.ndarray:
        """Load frame ``index``'s saved prior and check it is (H, W, 3) for ``size`` = (H, W)."""
        path = self.prior_path(index)
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(path, f"cannot read the saved prior ({exc}); use --no-resume") from exc
        if arr.dtype != np.float32 or arr.shape != (size[0], size[1], 3):
            raise InputError(path, f"saved prior is {arr.dtype} {arr.shape}, expected float32 ({size[0]}, "
                             f"{size[1]}, 3); use --no-resume")
        return arr

    def clear(self) -> None:
        """Forget priors and settings (a fresh run, ``--no-resume``)."""
        if self.dir.is_dir():
            for p in self.dir.iterdir():
                if p.suffix in (".npy", ".json"):
                    p.unlink(missing_ok=True)

    def _write_bytes(self, path: Path, data: bytes) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = create_temp(self.dir, ".tmp-", path.suffix)  # the umask's mode, not mkstemp's 0600
            try:
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise OutputError(path, f"cannot write run state ({exc.strerror or exc})") from exc


def _npy_bytes(arr: np.ndarray) -> bytes:
    import io

    bio = io.BytesIO()
    np.save(bio, arr, allow_pickle=False)
    return bio.getvalue()


def continue_position(
    order: list[int], continue_with: int | None, where: str, available: list[int] | None = None
) -> int:
    """Position of ``--continue-with`` in the processing ``order`` (0 when not given).

    Args:
        order: the frames this run processes, in order (already cut by ``--num-frames``).
        continue_with: the ``--continue-with`` frame, or None.
        where: the input, for messages.
        available: every frame of the input (before ``--num-frames``), to tell "not in the input" from "cut off
            by --num-frames" in the message.

    Raises:
        ConfigError: the frame is not among ``order``.
    """
    if continue_with is None:
        return 0
    if continue_with not in order:
        if available is not None and continue_with in available and order:
            raise ConfigError(
                f"--continue-with {continue_with} is outside the frames --num-frames keeps "
                f"({min(order)}-{max(order)} of {where}); --num-frames counts from the first frame of the input"
            )
        raise ConfigError(f"--continue-with {continue_with}: no such frame in {where}")
    return order.index(continue_with)


def plan_resume(
    order: list[int],
    state: RunState | None,
    outputs: Any,
    *,
    start: int,
    resume: bool,
    continue_with: int | None,
    settings: dict[str, Any],
    needs_prior: bool,
) -> tuple[int, int | None]:
    """Decide where a run starts and which frame's saved prior it needs; prepare the state folder.

    Args:
        order: frames in processing order.
        state: the run state of an image-sequence output, or None for a video output (no resume).
        outputs: anything with ``exists(index)`` (the sink).
        start: the position from ``--continue-with`` (see :func:`continue_position`).
        resume: continue after the last whole frame of an earlier run (else the state is cleared).
        continue_with: the ``--continue-with`` frame, or None.
        settings: what must not change between a run and its resumption (checked or recorded).
        needs_prior: False for runs without a prior (per-frame).

    Returns:
        (start position, frame whose saved prior must be loaded, or None).

    Raises:
        ConfigError: ``--continue-with`` on a video output, changed settings, or a missing saved prior.
    """
    from fav_core.io.atomic import remove_stale_temps

    if state is None:
        if continue_with is not None:
            raise ConfigError("--continue-with needs an image-sequence output (a video file cannot be continued)")
    else:
        if not resume:
            state.clear()
        state.check_settings(settings, resume=resume)
        remove_stale_temps(state.dir.parent)
        remove_stale_temps(state.dir)
        if resume and continue_with is None:
            start = max(start, resume_position(order, outputs, state))
    if start == 0 or not needs_prior:
        return start, None
    prev = order[start - 1]
    if state is None or not state.has_prior(prev):
        hint = ("run the frames before it into this output first, or leave out --continue-with"
                if continue_with is not None else "run the earlier frames first, or --no-resume")
        raise ConfigError(
            f"cannot continue at frame {order[start]}: the saved state of frame {prev} is missing in "
            f"{state.dir if state else 'the output'} ({hint})"
        )
    return start, prev


def resume_position(order: list[int], outputs: Any, state: RunState) -> int:
    """Position in ``order`` to resume at: after the last frame whose output and saved prior both exist,
    with every earlier output present too."""
    pos = 0
    for n, index in enumerate(order):
        if not outputs.exists(index):
            break
        if state.has_prior(index):
            pos = n + 1
    return pos
