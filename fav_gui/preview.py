"""Preview of a few frames: per-frame and temporal stylization side by side, plus their temporal error.

:func:`compute_preview` is plain Python (no Qt): it parses the same ``fav stylize`` arguments the job will run
(:func:`fav_gui.options.stylize_argv`) with the core's own parser, so the preview uses the job's exact
:class:`~fav_core.stylizer.StylizerConfig` and flow, and runs :class:`~fav_core.stylizer.Stylizer` twice: once
with ``per_frame`` (the flickering baseline) and once recursively. :class:`PreviewWorker` runs it in a QThread.

Temporal error (algorithm.md §7, :func:`fav_core.evaluate.temporal.temporal_error`): for each previewed frame
i after the first, ``mean((m ⊙ warp(out_{i-1}, w) − m ⊙ out_i)²)`` with w = the backward flow i → i−1 and m =
the reliability map of frame i (before the min filter), both from the run's own motion source, on the delivered
(median filtered, unclamped) outputs. N frames give N − 1 values per curve.
"""
from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from fav_core.errors import Cancelled, ConfigError, FavError
from fav_core.motion import Motion, MotionSource
from fav_core.types import CancelToken, Frame, Progress
from fav_gui.options import GuiSettings, stylize_argv
from fav_gui.qt import QtCore, Signal

log = logging.getLogger(__name__)

PREVIEW_OUTPUT = "fav-gui-preview"
"""Placeholder output for parsing the arguments; the preview writes nothing."""


@dataclass(frozen=True)
class PreviewRequest:
    """What to preview.

    Attributes:
        input_path: the clip (video, pattern or folder).
        settings: the panel's settings.
        first: first frame number of the range (clamped to the clip).
        count: number of frames (>= 1).
    """

    input_path: str
    settings: GuiSettings
    first: int
    count: int


@dataclass
class PreviewResult:
    """Frames and curves of one preview.

    Attributes:
        indices: previewed frame numbers, ascending.
        inputs / per_frame / temporal: frame number -> (H, W, 3) float32 images (network encoding).
        errors: curve name (``"per-frame"``, ``"temporal"``) -> temporal error of frames ``indices[1:]``.
        motion_sources: where each pair's motion came from (for the tooltip / log).
    """

    indices: list[int]
    inputs: dict[int, np.ndarray]
    per_frame: dict[int, np.ndarray]
    temporal: dict[int, np.ndarray]
    errors: dict[str, list[float]] = field(default_factory=dict)
    motion_sources: list[str] = field(default_factory=list)

    def rows(self) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """``(index, input, per-frame, temporal)`` per frame, for :class:`fav_gui.viewer.CompareView`."""
        return [(i, self.inputs[i], self.per_frame[i], self.temporal[i]) for i in self.indices]


class CachedMotion:
    """A :class:`MotionSource` that computes each (cur, prev) pair once: the stylizer and the error curve share
    it. Holds one preview's pairs only (owned by :func:`compute_preview`)."""

    def __init__(self, inner: MotionSource) -> None:
        self.inner = inner
        self._pairs: dict[tuple[int, int], Motion] = {}

    def motion(self, cur: Frame, prev: Frame) -> Motion:
        key = (cur.index, prev.index)
        if key not in self._pairs:
            self._pairs[key] = self.inner.motion(cur, prev)
        return self._pairs[key]


def parse_stylize_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``fav stylize`` arguments with the core's own parser (``argv`` starts with ``"stylize"``).

    Raises:
        ConfigError: argparse rejected them (message from argparse, one line).
    """
    from fav_core.cli import stylize

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            raise ConfigError(f"fav stylize: {message}")

    parser = _Parser(prog="fav")
    stylize.add_parser(parser.add_subparsers(dest="command", parser_class=_Parser))
    return parser.parse_args(list(argv))


def preview_range(indices: Sequence[int], first: int, count: int) -> list[int]:
    """The ``count`` frame numbers of ``indices`` starting at ``first`` (moved back so the range fits the clip).

    Raises:
        ConfigError: ``count < 1`` or an empty clip.
    """
    if count < 1:
        raise ConfigError(f"preview needs at least 1 frame, got {count}")
    ordered = sorted(indices)
    if not ordered:
        raise ConfigError("the clip has no frames")
    start = next((n for n, i in enumerate(ordered) if i >= first), len(ordered) - 1)
    start = max(0, min(start, len(ordered) - count))
    return ordered[start:start + count]


def compute_preview(
    request: PreviewRequest,
    *,
    cancel: CancelToken | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> PreviewResult:
    """Stylize ``request.count`` frames per-frame and temporally and measure their temporal error.

    Args:
        request: clip, settings and frame range.
        cancel: checked before every frame (raises :class:`Cancelled`).
        on_progress: called after each step (``total`` = 3·N − 1 steps: two stylizations and the curves).

    Returns:
        :class:`PreviewResult`; ``errors`` has N − 1 values per curve.

    Raises:
        FavError: bad settings, unreadable clip or model (the core's one-line messages).
        Cancelled: ``cancel`` was set.
    """
    from fav_core.cli.stylize import build_motion, config_from_args
    from fav_core.evaluate.temporal import temporal_error
    from fav_core.io import open_frames
    from fav_core.modelfile import load_model
    from fav_core.stylizer import Stylizer, resolve_device

    args = parse_stylize_args(stylize_argv(request.settings, request.input_path, PREVIEW_OUTPUT))
    config = config_from_args(args)
    device = str(resolve_device(config.device))
    video = load_model(config.model, device=device)
    image = None if config.image_model == "self" else load_model(config.image_model, device=device)
    motion = CachedMotion(build_motion(args))
    temporal = Stylizer(config, motion, models=(video, image))
    per_frame = Stylizer(replace(config, per_frame=True), None, models=(video, image))

    with open_frames(args.input, colorspace=args.colorspace) as source:
        indices = preview_range(source.indices, request.first, request.count)
        n = len(indices)
        total = 3 * n - 1
        step = [0]

        def tick(message: str, frame: int | None = None) -> None:
            step[0] += 1
            if on_progress is not None:
                on_progress(Progress(done=step[0], total=total, frame=frame, message=message))
            if cancel is not None and cancel.cancelled:
                raise Cancelled(f"preview cancelled after {step[0]} of {total} steps")

        outs_t: dict[int, np.ndarray] = {}
        for out in temporal.run(source, indices=temporal.order(indices), cancel=cancel):
            outs_t[out.index] = out.rgb
            tick(f"temporal: frame {out.index}", out.index)
        outs_p: dict[int, np.ndarray] = {}
        for out in per_frame.run(source, indices=indices, cancel=cancel):
            outs_p[out.index] = out.rgb
            tick(f"per-frame: frame {out.index}", out.index)
        frames = {i: source.read(i) for i in indices}

    result = PreviewResult(indices, {i: f.rgb for i, f in frames.items()}, outs_p, outs_t,
                           {"per-frame": [], "temporal": []})
    for prev, cur in zip(indices[:-1], indices[1:], strict=True):
        m = motion.motion(frames[cur], frames[prev])
        result.errors["per-frame"].append(temporal_error(outs_p[prev], outs_p[cur], m.flow, m.reliable))
        result.errors["temporal"].append(temporal_error(outs_t[prev], outs_t[cur], m.flow, m.reliable))
        result.motion_sources.append(m.source)
        tick(f"temporal error of frame {cur}", cur)
    return result


class PreviewWorker(QtCore.QThread):
    """Runs :func:`compute_preview` off the UI thread.

    Signals:
        progress(int done, int total, str message)
        succeeded(object): the :class:`PreviewResult`.
        failed(str): one-line message (a FavError's text, or ``internal error: ...``).
        cancelled(): the preview was cancelled.
    """

    progress = Signal(int, int, str)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, request: PreviewRequest, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.request = request
        self.token = CancelToken()

    def cancel(self) -> None:
        """Ask the worker to stop before its next frame."""
        self.token.cancel()

    def run(self) -> None:  # the thread body
        try:
            result = compute_preview(self.request, cancel=self.token,
                                     on_progress=lambda p: self.progress.emit(p.done, p.total, p.message))
        except Cancelled:
            self.cancelled.emit()
        except FavError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug must reach the window, not kill the thread silently
            log.exception("preview failed")
            self.failed.emit(f"internal error: {type(exc).__name__}: {exc}")
        else:
            self.succeeded.emit(result)
