"""Overlapped frame processing: decode and flow ahead of the network, writing behind it.

The recursive loop is serial in the network (frame t needs the output of t−1), but nothing else is: frames
t+1, t+2, ... can be decoded and their motion (flow t+1 → t, consistency check) computed while the network runs
frame t, and frame t−1 can be encoded and written meanwhile. Two pieces do that, with bounded queues (memory
stays flat: at most ``depth`` frames wait in each):

* :class:`FramePipeline` reads frames and computes their motion ahead with a small pool of reader threads
  (image decoding, .flo/.pgm reading and DIS flow release the GIL, so several frames are read at once), and
  hands them over strictly in processing order. It offers a *source view* and a *motion view* with the
  interfaces :class:`~fav_core.stylizer.Stylizer` already uses (``read(index)`` and ``motion(cur, prev)``),
  so the stylizer runs unchanged on prefetched data.
* :class:`BackgroundWriter` applies a write function to finished frames in submission order and hands the
  results back to the caller's thread (progress reporting stays in the caller's thread).

Frame order and results are the same as the serial loop: the same functions run on the same frames, only in
other threads (each frame is decoded once; the motion of frame t uses the decoded frames t and t−1 that are
handed out). A failure in a background thread is re-raised (the original exception) in the caller's thread at
the point the serial loop would have met it (a frame's read error when that frame is read, its motion error
when its motion is asked for; the frames before are delivered first); closing stops the threads and waits for
them. Sources that cannot be read from several threads (videos: one running decoder) are read one frame at a
time in order; motion sources that cannot be shared get one instance per reader (DIS) or are taken in turns.

Threads: "fav-reader-1".."fav-reader-N" read and compute motion; "fav-prefetch" collects their results in
order, runs the stage function and hands frames to the consumer.

Staging (:meth:`FramePipeline.set_stage`): a consumer may also hand the pipeline a *stage* function
``stage(frame, motion, prev_index) -> object`` that it runs on every frame it prefetches from then on, in the
"fav-prefetch" thread in frame order (the :class:`~fav_core.stylizer.Stylizer` on CUDA copies the frame and
flows into pinned memory, uploads them on a side stream and runs the reliability check and min filter there).
The consumer picks the result up with ``source_view.staged_frame(frame)``. A stage that fails only loses its
result (logged at debug level): the consumer then does the same work itself and meets the same error where the
serial loop would.
"""
from __future__ import annotations

import copy
import logging
import os
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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


@dataclass
class _Job:
    """The work of one plan position for a reader thread: read the frame, then its motion against ``prev``'s."""

    position: int
    item: _Item
    prev: _Job | None  # the job of the plan position before (its frame is this frame's previous frame)
    frame_done: threading.Event = field(default_factory=threading.Event)  # item.frame or item.error is set
    done: threading.Event = field(default_factory=threading.Event)  # the motion is computed (or skipped) too


_END = object()


def default_readers() -> int:
    """Reader threads of a :class:`FramePipeline` when none is asked for: half the cores, 1 to 4.

    Half, because the consumer (the network; on a GPU its Python thread, the stager and the writer) needs
    cores too and OpenCV's DIS runs its own threads inside each call. On a 2-core CPU this is 1: there the
    network takes seconds per 1080p frame, so reading ahead with one thread already keeps up, and a second
    reader only competes with the network (measured read-only: PNG + .flo + .pgm 22 -> 30 frames/s with 2
    readers, DIS 1.26 -> 1.03 frames/s). A GPU box with 16 cores gets 4.
    """
    return max(1, min(4, (os.cpu_count() or 1) // 2))


def _check_readers(readers: int) -> int:
    if isinstance(readers, bool) or not isinstance(readers, int) or readers < 1:
        raise ConfigError(f"pipeline readers must be a positive integer, got {readers!r}")
    return readers


def _concurrent_reads(source: Any) -> bool:
    """True when ``source.read`` may run in several threads at once and in any order (image files: each read
    opens its own file). Videos (one running decoder) and unknown sources are read one at a time in order."""
    flag = getattr(source, "concurrent_reads", None)
    if isinstance(flag, bool):
        return flag
    from fav_core.io.sequence import ImageSequence  # lazy: keeps this module free of the io imports

    return isinstance(source, ImageSequence)


def _motion_for_thread(motion: Any) -> Any:
    """A motion source one reader thread may use while the others use theirs, or None when there is none.

    Flow/reliability files are stateless (the same object serves every thread); computed DIS flow gets its own
    OpenCV object per thread (an instance must not be shared between threads; DIS keeps no state between
    calls, so the results are the same). A source that says ``thread_safe = True`` is shared. Anything else
    (DeepFlow, RAFT, unknown sources) is None: the readers then take turns on the one shared object.
    """
    from fav_core.flow.providers import DISFlow
    from fav_core.motion import ComputedMotion, FileMotion, PassMotion

    if getattr(motion, "thread_safe", False) is True or type(motion) is FileMotion:
        return motion
    if type(motion) is ComputedMotion and type(motion.provider) is DISFlow:
        twin = copy.copy(motion)
        twin.provider = DISFlow(motion.provider.preset)
        return twin
    if type(motion) is PassMotion:
        fallback = _motion_for_thread(motion.fallback)
        if fallback is None:
            return None
        twin = copy.copy(motion)
        twin.fallback = fallback
        return twin
    return None


class FramePipeline:
    """Reads frames (and computes their motion) ahead of the consumer in background threads, in order.

    Args:
        source: frame source with ``read(index) -> Frame`` (and optionally ``indices``, ``size``, ``path``).
        motion: motion source, or None (per-frame stylization: frames only).
        depth: frames (with their motion) prefetched ahead at most: read, being read or waiting for the
            consumer, not counting the frame the consumer holds. None = ``readers + 1``.
        readers: reader threads that read frames and compute their motion in parallel (several frames ahead);
            None = :func:`default_readers`. Results are delivered in order whatever the number.
        concurrent_reads: whether ``source.read`` may run in several threads at once; None = image sequences
            yes, anything else (videos: one running decoder) no. When no, the readers read frames one at a
            time in plan order (the motion still runs in parallel).

    Raises:
        ConfigError: ``depth`` or ``readers`` is not a positive integer.

    Usage::

        pipe = FramePipeline(source, motion)
        stylizer = Stylizer(config, pipe.motion_view)     # before start: check() reaches the inner source
        pipe.start(order, prior_index=...)
        with pipe:
            for out in stylizer.run(pipe.source_view, indices=order, prior=prior): ...

    ``start`` expects the consumer to read ``prior_index`` (if given) and then ``order`` in sequence; the
    motion of each frame is computed against the frame read before it (the decoded frame is shared, never read
    twice). Any other access pattern is served directly from the wrapped source (correct, just not overlapped).
    With concurrent reads, frames after a frame that fails to read may have been read already (never handed
    out); a source read in order is not read past the failure.
    """

    def __init__(
        self,
        source: Any,
        motion: MotionSource | None = None,
        depth: int | None = None,
        readers: int | None = None,
        concurrent_reads: bool | None = None,
    ) -> None:
        self.source = source
        self.motion = motion
        self.readers = _check_readers(default_readers() if readers is None else readers)
        self.depth = _check_depth(self.readers + 1 if depth is None else depth)
        self.concurrent_reads = _concurrent_reads(source) if concurrent_reads is None else bool(concurrent_reads)
        self.source_view = _SourceView(self)
        self.motion_view: _MotionView | None = _MotionView(self) if motion is not None else None
        self._queue: queue.Queue[Any] = queue.Queue()  # bounded by the slots: at most `depth` items
        self._slots = threading.Semaphore(self.depth)  # one per plan position started and not yet consumed
        self._jobs: queue.Queue[Any] = queue.Queue()  # jobs for the readers, in plan order
        self._stop = threading.Event()
        self._halt = threading.Event()  # the orderer has finished: readers skip what is left
        self._thread: threading.Thread | None = None  # orders, stages and hands over (name "fav-prefetch")
        self._workers: list[threading.Thread] = []  # the readers ("fav-reader-1", ...)
        self._read_turn = threading.Condition()  # serial reads: the plan position whose turn it is
        self._next_read = 0
        self._motion_lock = threading.Lock()  # motion sources that cannot be used from several threads
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
        for k in range(min(self.readers, max(1, len(plan)))):
            own = _motion_for_thread(self.motion) if self.motion is not None else None
            worker = threading.Thread(target=self._work, args=(own,), name=f"fav-reader-{k + 1}", daemon=True)
            self._workers.append(worker)
        self._thread = threading.Thread(target=self._produce, args=(plan,), name="fav-prefetch", daemon=True)
        for worker in self._workers:
            worker.start()
        self._thread.start()

    def set_stage(self, stage: Callable[[Frame, Motion | None, int | None], Any] | None) -> None:
        """Run ``stage(frame, motion, prev_index)`` in the read-ahead thread on every frame prefetched from now on
        (frames already waiting in the queue stay unstaged); None stops staging. ``motion`` is None for a frame
        read without one (the first, or no motion source); frames whose read or motion failed are not staged.
        Stages run in one thread ("fav-prefetch"), one frame at a time, in frame order.
        """
        self._stage = stage

    def close(self) -> None:
        """Stop the background threads (each finishes the read or motion it is on) and drop what they prefetched."""
        self._stop.set()
        self._drain(self._queue)  # (not the jobs: the orderer's end markers there wake the idle readers at once)
        with self._read_turn:
            self._read_turn.notify_all()
        if self._thread is not None:
            self._thread.join()
        for worker in self._workers:
            worker.join()
        self._drain(self._queue)
        self._drain(self._jobs)
        self._handed = None  # drop a staged result nobody picked up (device memory)

    def __enter__(self) -> FramePipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _drain(q: queue.Queue[Any]) -> None:
        while True:
            try:
                q.get_nowait()
            except queue.Empty:
                return

    # ------------------------------------------------------------------ readers
    def _work(self, own_motion: Any) -> None:
        """A reader thread: jobs in plan order (FIFO, so the job before a job is always taken first)."""
        while not self._stop.is_set():
            try:
                job = self._jobs.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if job is _END:
                return
            if self._halt.is_set():  # never collected: the orderer stopped at a read error
                job.frame_done.set()
                job.done.set()
                continue
            try:
                self._read_job(job)
                self._motion_job(job, own_motion)
            finally:
                job.prev = None  # the previous frame is no longer needed by this job
                job.frame_done.set()
                job.done.set()
            job = None  # an idle reader holds no frame (memory stays flat)

    def _read_job(self, job: _Job) -> None:
        item = job.item
        if self.concurrent_reads:
            self._read_into(item)
            job.frame_done.set()
            return
        with self._read_turn:  # one at a time, in plan order (a video decodes forward)
            while self._next_read != job.position:
                if self._stop.is_set() or self._halt.is_set():
                    return
                self._read_turn.wait(_POLL_S)
        self._read_into(item)
        job.frame_done.set()
        if item.error is None:  # after a failed read the turn never passes on: the serial loop stops there
            with self._read_turn:
                self._next_read += 1
                self._read_turn.notify_all()

    def _read_into(self, item: _Item) -> None:
        try:
            item.frame = self.source.read(item.index)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
            item.error = exc

    def _motion_job(self, job: _Job, own_motion: Any) -> None:
        item, prev = job.item, job.prev
        if self.motion is None or prev is None or item.frame is None:
            return
        while not prev.frame_done.wait(_POLL_S):
            if self._stop.is_set():
                return
        prev_frame = prev.item.frame
        if prev_frame is None:  # the previous read failed: the consumer stops there, never asks for this
            return
        item.prev_index = prev.item.index
        try:
            if own_motion is not None:
                item.motion = own_motion.motion(item.frame, prev_frame)
            else:
                with self._motion_lock:
                    item.motion = self.motion.motion(item.frame, prev_frame)
        except BaseException as exc:  # noqa: BLE001 - re-raised when this motion is asked for
            item.motion_error = exc

    # ------------------------------------------------------------------ orderer / stager
    def _acquire_slot(self) -> bool:
        while not self._stop.is_set():
            if self._slots.acquire(timeout=_POLL_S):
                return True
        return False

    def _produce(self, plan: list[int]) -> None:
        """Hands jobs to the readers while slots are free, collects them in plan order, stages, queues."""
        pending: dict[int, _Job] = {}
        submitted = 0
        prev_job: _Job | None = None
        try:
            for position in range(len(plan)):
                # start this position (waiting for a slot), then every further one a free slot allows
                while submitted < len(plan) and not self._stop.is_set() and (
                    self._acquire_slot() if submitted <= position else self._slots.acquire(blocking=False)
                ):
                    job = _Job(submitted, _Item(plan[submitted], None), prev_job)
                    pending[submitted] = prev_job = job
                    self._jobs.put(job)
                    submitted += 1
                if self._stop.is_set():
                    return
                job = pending.pop(position)
                while not job.done.wait(_POLL_S):
                    if self._stop.is_set():
                        return
                item = job.item
                self._run_stage(item)
                self._queue.put(item)
                if item.error is not None:  # the serial loop stops at a read error
                    return
            self._queue.put(_END)
        finally:
            for _ in self._workers:
                self._jobs.put(_END)
            self._halt.set()  # jobs not collected (after a read error or a stop) are skipped
            with self._read_turn:
                self._read_turn.notify_all()

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
            if got is _END:
                return None
            self._slots.release()  # this position is the consumer's now: the orderer may start another
            return got

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
        with self._motion_lock:  # readers may be using the shared motion source right now
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
