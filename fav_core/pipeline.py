"""Overlapped frame processing: decode and flow ahead of the network, writing behind it.

The recursive loop is serial in the network (frame t needs the output of t−1), but nothing else is: frame t+1
can be decoded and its motion (flow t+1 → t, consistency check) computed while the network runs frame t, and
frame t−1 can be encoded and written meanwhile. Two pieces do that, each one background thread with a
bounded queue (memory stays flat: at most ``depth`` frames wait in each):

* :class:`FramePipeline` reads frames and computes their motion ahead, in processing order. It offers a
  *source view* and a *motion view* with the interfaces :class:`~fav_core.stylizer.Stylizer` already uses
  (``read(index)`` and ``motion(cur, prev)``), so the stylizer runs unchanged on prefetched data.
* :class:`BackgroundWriter` applies a write function to finished frames in submission order and hands the
  results back to the caller's thread (progress reporting stays in the caller's thread).

Frame order and results are the same as the serial loop: the same functions run on the same frames in the
same order, only in another thread. A failure in a background thread is re-raised (the original exception)
in the caller's thread at the point the serial loop would have met it (a frame's read error when that frame
is read, its motion error when its motion is asked for); closing stops the threads.

Staging (:meth:`FramePipeline.set_stage`): a consumer may also hand the read-ahead thread a *stage* function
``stage(frame, motion, prev_index) -> object`` that it runs on every frame it prefetches from then on (the
:class:`~fav_core.stylizer.Stylizer` on CUDA copies the frame and flows into pinned memory, uploads them on a
side stream and runs the reliability check and min filter there). The consumer picks the result up with
``source_view.staged_frame(frame)``. A stage that fails only loses its result (logged at debug level): the
consumer then does the same work itself and meets the same error where the serial loop would.
"""
from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fav_core.errors import ConfigError
from fav_core.motion import Motion, MotionSource
from fav_core.types import Frame

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

_POLL_S = 0.1  # how often blocked puts/gets look at the stop flag


def _check_depth(depth: int) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ConfigError(f"pipeline depth must be a positive integer, got {depth!r}")
    return depth


@dataclass
class _Item:
    """One prefetched frame: the frame (or its read error) and its motion against the previous one."""

    index: int
    frame: Frame | None
    error: BaseException | None = None
    prev_index: int | None = None
    motion: Motion | None = None
    motion_error: BaseException | None = None
    staged: Any = None  # what the stage function made of this frame (None: not staged)


_END = object()


class FramePipeline:
    """Reads frames (and computes their motion) ahead of the consumer in a background thread.

    Args:
        source: frame source with ``read(index) -> Frame`` (and optionally ``indices``, ``size``, ``path``).
        motion: motion source, or None (per-frame stylization: frames only).
        depth: frames prefetched ahead at most (queue bound).

    Usage::

        pipe = FramePipeline(source, motion)
        stylizer = Stylizer(config, pipe.motion_view)     # before start: check() reaches the inner source
        pipe.start(order, prior_index=...)
        with pipe:
            for out in stylizer.run(pipe.source_view, indices=order, prior=prior): ...

    ``start`` expects the consumer to read ``prior_index`` (if given) and then ``order`` in sequence; the
    motion of each frame is computed against the frame read before it. Any other access pattern is served
    directly from the wrapped source (correct, just not overlapped).
    """

    def __init__(self, source: Any, motion: MotionSource | None = None, depth: int = 2) -> None:
        self.source = source
        self.motion = motion
        self.depth = _check_depth(depth)
        self.source_view = _SourceView(self)
        self.motion_view: _MotionView | None = _MotionView(self) if motion is not None else None
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=self.depth)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._current: _Item | None = None  # the item whose motion is pending
        self._handed: _Item | None = None  # the item read last, until its staged result is picked up
        self._direct = False  # pattern broken: serve everything from the wrapped source
        self._stage: Callable[[Frame, Motion | None, int | None], Any] | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self, order: Sequence[int], prior_index: int | None = None) -> None:
        """Start prefetching ``[prior_index] + order`` (the frames the stylizer will read, in its order)."""
        if self._thread is not None:
            raise ConfigError("frame pipeline already started")
        plan = ([prior_index] if prior_index is not None else []) + list(order)
        self._thread = threading.Thread(target=self._produce, args=(plan,), name="fav-prefetch", daemon=True)
        self._thread.start()

    def set_stage(self, stage: Callable[[Frame, Motion | None, int | None], Any] | None) -> None:
        """Run ``stage(frame, motion, prev_index)`` in the read-ahead thread on every frame prefetched from now on
        (frames already waiting in the queue stay unstaged); None stops staging. ``motion`` is None for a frame
        read without one (the first, or no motion source); frames whose read or motion failed are not staged.
        """
        self._stage = stage

    def close(self) -> None:
        """Stop the background thread (it finishes the frame it is on) and drop what it prefetched."""
        self._stop.set()
        self._drain()
        if self._thread is not None:
            self._thread.join()
            self._drain()
        self._handed = None  # drop a staged result nobody picked up (device memory)

    def __enter__(self) -> FramePipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    # ------------------------------------------------------------------ producer
    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, plan: list[int]) -> None:
        prev: _Item | None = None
        for index in plan:
            if self._stop.is_set():
                return
            try:
                item = _Item(index, self.source.read(index))
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
                self._put(_Item(index, None, error=exc))
                return
            if self.motion is not None and prev is not None and prev.frame is not None and item.frame is not None:
                item.prev_index = prev.index
                try:
                    item.motion = self.motion.motion(item.frame, prev.frame)
                except BaseException as exc:  # noqa: BLE001 - re-raised when this motion is asked for
                    item.motion_error = exc
            self._run_stage(item)
            if not self._put(item):
                return
            prev = item
        self._put(_END)

    def _run_stage(self, item: _Item) -> None:
        stage = self._stage  # read once: set_stage may run in the consumer's thread meanwhile
        if stage is None or item.frame is None or item.motion_error is not None:
            return
        try:
            item.staged = stage(item.frame, item.motion, item.prev_index if item.motion is not None else None)
        except Exception as exc:  # noqa: BLE001 - the consumer redoes the work unstaged and meets the error there
            log.debug("frame pipeline: staging frame %d failed (%s: %s); the consumer does it itself",
                      item.index, type(exc).__name__, exc)

    # ------------------------------------------------------------------ consumer side
    def staged_frame(self, frame: Frame) -> Any:
        """The stage function's result for ``frame`` (the frame :meth:`_read` handed out last), once; else None."""
        item = self._handed
        if item is None or item.frame is not frame:
            return None
        self._handed = None
        return item.staged

    def _read(self, index: int) -> Frame:
        if not self._direct and self._thread is not None:
            item = self._next()
            if item is not None and item.index == index:
                self._current = item
                self._handed = item
                if item.error is not None:
                    self._direct = True
                    raise item.error
                assert item.frame is not None
                return item.frame
            log.debug("frame pipeline: frame %d read out of the planned order; reading directly", index)
            self._direct = True
            self.close()
        frame: Frame = self.source.read(index)
        return frame

    def _next(self) -> _Item | None:
        while True:
            try:
                got = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                if self._thread is not None and not self._thread.is_alive() and self._queue.empty():
                    return None
                continue
            return None if got is _END else got

    def _motion(self, cur: Frame, prev: Frame) -> Motion:
        item = self._current
        if (
            item is not None
            and item.frame is cur
            and item.prev_index == prev.index
            and (item.motion is not None or item.motion_error is not None)
        ):
            self._current = None
            if item.motion_error is not None:
                raise item.motion_error
            assert item.motion is not None
            return item.motion
        assert self.motion is not None
        return self.motion.motion(cur, prev)


class _SourceView:
    """The frame source as the consumer sees it: ``read`` from the prefetch queue, everything else delegated."""

    def __init__(self, pipe: FramePipeline) -> None:
        self._pipe = pipe

    def read(self, index: int) -> Frame:
        """The frame ``index`` (prefetched when it is the next planned one)."""
        return self._pipe._read(index)

    def set_stage(self, stage: Callable[[Frame, Motion | None, int | None], Any] | None) -> None:
        """See :meth:`FramePipeline.set_stage`."""
        self._pipe.set_stage(stage)

    def staged_frame(self, frame: Frame) -> Any:
        """See :meth:`FramePipeline.staged_frame`."""
        return self._pipe.staged_frame(frame)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pipe.source, name)


class _MotionView:
    """The motion source as the consumer sees it: prefetched motion, everything else (``check``) delegated."""

    def __init__(self, pipe: FramePipeline) -> None:
        self._pipe = pipe

    def motion(self, cur: Frame, prev: Frame) -> Motion:
        """Backward flow cur → prev and reliability (prefetched when it is the pair planned next)."""
        return self._pipe._motion(cur, prev)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pipe.motion, name)


class BackgroundWriter(Generic[T, R]):
    """Applies ``fn`` to submitted items, in order, in one background thread.

    Args:
        fn: the work per item (e.g. encode + write a frame); its return value is handed back by
            :meth:`completed`.
        depth: items waiting at most; :meth:`submit` blocks beyond that (memory stays flat).

    The first exception ``fn`` raises stops the worker; it is re-raised (the original object) by the next
    :meth:`submit`, :meth:`flush` or :meth:`close`. Items submitted after a failure are not run.
    """

    def __init__(self, fn: Callable[[T], R], depth: int = 2, name: str = "fav-writer") -> None:
        self.fn = fn
        self.depth = _check_depth(depth)
        self._todo: queue.Queue[Any] = queue.Queue(maxsize=self.depth)
        self._done: queue.Queue[R] = queue.Queue()
        self._error: BaseException | None = None
        self._abandon = threading.Event()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            item = self._todo.get()
            if item is _END:
                return
            if self._error is not None or self._abandon.is_set():
                continue
            try:
                self._done.put(self.fn(item))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, item: T) -> None:
        """Queue ``item`` (blocks while ``depth`` items wait); raises the worker's error if it failed."""
        self._raise()
        while True:
            try:
                self._todo.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                self._raise()

    def completed(self) -> list[R]:
        """Results of the items finished since the last call, in order."""
        out: list[R] = []
        while True:
            try:
                out.append(self._done.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        """Run everything submitted, stop the thread, and re-raise the worker's error if it failed."""
        if self._thread.is_alive():
            self._todo.put(_END)
            self._thread.join()
        self._raise()

    def abandon(self) -> None:
        """Stop after the item in progress; queued items are dropped (for hard stops). Never raises."""
        self._abandon.set()
        if self._thread.is_alive():
            self._todo.put(_END)
            self._thread.join()

    @property
    def failed(self) -> bool:
        """True once ``fn`` has raised."""
        return self._error is not None
