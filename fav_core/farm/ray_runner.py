"""Schedule a farm job on Ray: all flow groups first (in parallel), then every stylization chunk.

A chunk task depends on the flow tasks of its own shot only (Ray starts it as soon as they are done), so
several shots overlap. At most ``workers`` tasks are in flight; each takes one CPU (and ``gpus_per_task``
GPUs). Failed tasks are retried by Ray (``max_retries``; worker crashes and the exception types in
:data:`RETRY_ON`); the task bodies are idempotent, so a retry only fills in what is missing.
"""
from __future__ import annotations

import logging
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fav_core.errors import ConfigError, FavError, OutputError
from fav_core.farm.plan import Chunk, plan_chunks, plan_flow_groups
from fav_core.farm.tasks import ShotSpec, TaskResult, flow_group, stylize_chunk

log = logging.getLogger(__name__)

#: Exceptions worth a retry (transient I/O, out of memory); typed input/config errors fail at once.
RETRY_ON: tuple[type[BaseException], ...] = (OSError, RuntimeError, MemoryError, OutputError)


@dataclass
class FarmReport:
    """Outcome of a farm run.

    Attributes:
        flow_tasks, chunk_tasks: number of tasks of each kind.
        written, skipped: chunk frames written now / already there.
        flow_seconds, total_seconds: wall time until the last flow task finished, and in all.
    """

    flow_tasks: int = 0
    chunk_tasks: int = 0
    written: int = 0
    skipped: int = 0
    flow_seconds: float = 0.0
    total_seconds: float = 0.0
    chunks: list[Chunk] = field(default_factory=list)


#: Set in the workers of the private cluster ``run_farm`` starts (not on a cluster given by address): those
#: processes exist for this run, so they may keep freed memory like the fav process does.
WORKER_TUNING_ENV = "FAV_FARM_WORKER_TUNING"


def _worker_setup() -> None:
    """In a worker of our own cluster: glibc keeps freed memory for the next frame (fav_core.process_memory)."""
    if os.environ.get(WORKER_TUNING_ENV) == "1":
        from fav_core.process_memory import retain_freed_memory

        retain_freed_memory()  # idempotent: the same two mallopt calls every task


class TaskFailure(Exception):
    """A typed error of a task, carried to the driver by value.

    Ray pickles a task's exception to hand it over, and errors such as ``InputError(path, problem)`` cannot be
    rebuilt from their message alone (the driver got ``UnserializableException`` and a traceback); this carries
    the error's class, message and attributes, and :meth:`rebuild` makes the same typed error in the driver.
    """

    def __init__(self, module: str, name: str, message: str, attrs: dict[str, Any]) -> None:
        super().__init__(module, name, message, attrs)
        self.module, self.name, self.message, self.attrs = module, name, message, attrs

    @classmethod
    def carry(cls, exc: FavError) -> TaskFailure:
        attrs = {k: v for k, v in vars(exc).items() if isinstance(v, (str, int, float, bool, type(None)))}
        return cls(type(exc).__module__, type(exc).__qualname__, Exception.__str__(exc), attrs)

    def rebuild(self) -> FavError:
        """The task's error, of its own class when that is a FavError the driver can import (else FavError)."""
        import importlib

        try:
            kind = getattr(importlib.import_module(self.module), self.name)
        except (ImportError, AttributeError):
            kind = FavError
        if not (isinstance(kind, type) and issubclass(kind, FavError)):
            kind = FavError
        exc = kind.__new__(kind)
        Exception.__init__(exc, self.message)
        for key, value in self.attrs.items():
            setattr(exc, key, value)
        return exc


class RetryableTaskFailure(TaskFailure):
    """A :class:`TaskFailure` of a type in :data:`RETRY_ON` (Ray retries it like the error itself)."""


def _carried(fn: Callable[..., TaskResult], *args: Any) -> TaskResult:
    """Run a task body; its typed errors leave the worker as a picklable :class:`TaskFailure`."""
    try:
        return fn(*args)
    except FavError as exc:
        carrier = RetryableTaskFailure if isinstance(exc, RETRY_ON) else TaskFailure
        raise carrier.carry(exc) from None


def _call_flow(fn: Callable[..., TaskResult], shot: ShotSpec, pairs: list[tuple[int, int]]) -> TaskResult:
    _worker_setup()
    return _carried(fn, shot, pairs)


def _call_chunk(fn: Callable[..., TaskResult], shot: ShotSpec, chunk: Chunk, *flows_done: TaskResult) -> TaskResult:
    _worker_setup()
    return _carried(fn, shot, chunk)  # ``flows_done``: the shot's flow results, passed only so Ray waits for them


#: Seconds to wait for a cluster given by ``--address`` to accept a connection (Ray itself retries for minutes).
CONNECT_TIMEOUT_S = 5.0

_HOST_PORT = re.compile(r"(?:ray://)?(?P<host>\[[0-9a-fA-F:.]+\]|[^:/\s\[\]]+):(?P<port>\d{1,5})/?")


def check_address(address: str) -> None:
    """Refuse a ``--address`` that is not ``auto``, ``host:port`` or ``ray://host:port``, or where nothing accepts a
    connection, in one line and within :data:`CONNECT_TIMEOUT_S` (Ray would retry the connection for minutes).

    Raises:
        ConfigError: a malformed address, or no cluster answers at it.
    """
    if address in ("auto", "local"):
        return
    m = _HOST_PORT.fullmatch(address.strip())
    if m is None or not 0 < int(m.group("port")) < 65536:
        raise ConfigError(f"--address {address}: expected auto, HOST:PORT (the head node's GCS port, e.g. "
                          "10.0.0.5:6379) or ray://HOST:PORT")
    host, port = m.group("host").strip("[]"), int(m.group("port"))
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ConfigError(f"--address {address}: no Ray cluster answers there ({reason})") from exc


def check_settings(*, workers: int, chunk_size: int, warmup: int, flow_group_size: int | None = None,
                   max_retries: int = 3, gpus_per_task: float = 0.0, num_frames: int | None = None) -> None:
    """The numbers of a farm run, checked before anything starts (the CLI calls it before creating folders).

    Raises:
        ConfigError: one line naming the option.
    """
    plan_chunks([], chunk_size, warmup)  # its own checks of --chunk-size and --warmup
    for name, value, least in (("--workers", workers, 1), ("--flow-group", flow_group_size, 1),
                               ("--max-retries", max_retries, 0), ("--num-frames", num_frames, 1)):
        if value is None and name in ("--flow-group", "--num-frames"):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ConfigError(f"{name} must be an integer >= {least}, got {value!r}")
    if not gpus_per_task >= 0:
        raise ConfigError(f"--gpus-per-task must be >= 0, got {gpus_per_task}")


def _python_sigterm_handler() -> Any:
    """The SIGTERM handler the caller installed (a Python function), or None (default, or not the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    handler = signal.getsignal(signal.SIGTERM)
    return handler if callable(handler) else None


def _check_gpus(available: float, per_task: float, *, private: bool) -> None:
    """Tasks that ask for more GPUs than the cluster has are never scheduled: Ray waits for them for ever.

    Raises:
        ConfigError: on the private cluster of this run (it never grows).
    """
    if available >= per_task:
        return
    text = f"--gpus-per-task {per_task:g}: the cluster has {available:g} GPU(s), so no task could ever start"
    if private:
        raise ConfigError(text + " (leave the option out to run on the CPUs)")
    log.warning("%s unless the cluster adds GPU nodes", text)


def shot_indices(shot: ShotSpec, num_frames: int | None = None) -> list[int]:
    """The frame numbers of a shot (sorted), optionally only the first ``num_frames``."""
    from fav_core.io import open_frames

    indices = sorted(open_frames(shot.input, colorspace=shot.colorspace, vectors=False).indices)
    return indices[:num_frames] if num_frames is not None else indices


def run_farm(
    shots: Sequence[ShotSpec],
    *,
    workers: int,
    chunk_size: int,
    warmup: int,
    flow_group_size: int | None = None,
    address: str | None = None,
    max_retries: int = 3,
    gpus_per_task: float = 0.0,
    num_frames: int | None = None,
    on_task: Callable[[str, TaskResult, int, int], None] | None = None,
    flow_fn: Callable[..., TaskResult] = flow_group,
    chunk_fn: Callable[..., TaskResult] = stylize_chunk,
) -> FarmReport:
    """Run flows and chunked stylization of ``shots`` on Ray.

    Args:
        shots: the shots (each its own input, output and flow folder).
        workers: tasks in flight at once (and CPUs of the local cluster when ``address`` is None).
        chunk_size: written frames per stylization chunk.
        warmup: frames each chunk (but the first) stylizes before its first written frame.
        flow_group_size: frame pairs per flow task (default ``chunk_size``).
        address: Ray cluster address (e.g. ``auto`` or ``ray://host:10001``); None starts a local cluster on
            this machine for the run (or uses the one already initialised in this process).
        max_retries: retries of a failed task.
        gpus_per_task: GPUs each task asks Ray for (0 = CPU).
        num_frames: only the first N frames of every shot.
        on_task: called in the driver after each task with ("flow" | "chunk", its result, tasks done, tasks).
        flow_fn, chunk_fn: the task bodies (default :func:`flow_group`, :func:`stylize_chunk`).

    Raises:
        ConfigError: bad settings, or Ray is not installed.
        FavError: a task failed after its retries (a typed error of the task is re-raised as is).
    """
    try:
        import ray
    except ModuleNotFoundError as exc:
        raise ConfigError("fav farm needs Ray: pip install 'fast-artistic-videos[farm]' (ray>=2.9)") from exc
    check_settings(workers=workers, chunk_size=chunk_size, warmup=warmup, flow_group_size=flow_group_size,
                   max_retries=max_retries, gpus_per_task=gpus_per_task, num_frames=num_frames)
    group = chunk_size if flow_group_size is None else flow_group_size
    report = FarmReport()
    own = False
    held = _python_sigterm_handler()
    if not ray.is_initialized():
        if address is None:
            # a private cluster on loopback; its workers start with huge pages and keep freed memory
            env = {"THP_MEM_ALLOC_ENABLE": os.environ.get("THP_MEM_ALLOC_ENABLE", "1"), WORKER_TUNING_ENV: "1"}
            ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     _node_ip_address="127.0.0.1", runtime_env={"env_vars": env})
        else:
            check_address(address)
            try:
                ray.init(address=address, log_to_driver=False)
            except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ConfigError(f"--address {address}: cannot connect to a Ray cluster ({reason})") from exc
        own = True
        if held is not None:  # ray.init replaced it with sys.exit(15): keep the caller's (fav: exit 130, cancelled)
            signal.signal(signal.SIGTERM, held)
    try:
        if gpus_per_task > 0:
            _check_gpus(ray.cluster_resources().get("GPU", 0.0), gpus_per_task, private=address is None and own)
        opts: dict[str, Any] = dict(num_cpus=1, num_gpus=gpus_per_task, max_retries=max_retries,
                                    retry_exceptions=[*RETRY_ON, RetryableTaskFailure])
        flow_remote = ray.remote(**opts)(_call_flow)
        chunk_remote = ray.remote(**opts)(_call_chunk)
        jobs: list[tuple[str, Callable[[dict[int, Any]], Any]]] = []
        flow_keys: dict[int, list[int]] = {}
        refs: dict[int, Any] = {}  # queue position -> ObjectRef, once submitted
        plans = []
        for s, shot in enumerate(shots):
            indices = shot_indices(shot, num_frames)
            order = indices[::-1] if shot.config.direction == "backward" else indices
            chunks = plan_chunks(order, chunk_size, warmup, shot=s)
            groups = [] if shot.config.per_frame else plan_flow_groups(indices, group)
            plans.append((shot, chunks, groups))
        position = 0
        for s, (shot, _chunks, groups) in enumerate(plans):
            flow_keys[s] = []
            for pairs in groups:
                jobs.append(("flow", lambda _r, shot=shot, pairs=pairs: flow_remote.remote(flow_fn, shot, pairs)))
                flow_keys[s].append(position)
                position += 1
        report.flow_tasks = position
        for s, (shot, chunks, _groups) in enumerate(plans):
            for chunk in chunks:
                jobs.append(("chunk", lambda r, shot=shot, chunk=chunk, s=s: chunk_remote.remote(
                    chunk_fn, shot, chunk, *[r[k] for k in flow_keys[s]])))
                report.chunks.append(chunk)
        report.chunk_tasks = len(report.chunks)
        start = time.perf_counter()
        in_flight: dict[Any, tuple[str, int]] = {}
        submitted = 0
        flows_left = report.flow_tasks
        while submitted < len(jobs) or in_flight:
            while submitted < len(jobs) and len(in_flight) < workers:
                kind, make = jobs[submitted]
                ref = make(refs)
                refs[submitted] = ref
                in_flight[ref] = (kind, submitted)
                submitted += 1
            done, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in done:
                kind, n = in_flight.pop(ref)
                try:
                    result: TaskResult = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, TaskFailure):
                        raise cause.rebuild() from None
                    if isinstance(cause, FavError):
                        raise cause from None
                    raise FavError(f"farm {kind} task #{n + 1} failed after {max_retries} retries: {cause or exc}") from exc
                if kind == "flow":
                    flows_left -= 1
                    if flows_left == 0:
                        report.flow_seconds = time.perf_counter() - start
                else:
                    report.written += result.written
                    report.skipped += result.skipped
                if on_task is not None:
                    on_task(kind, result, submitted - len(in_flight), len(jobs))
        report.total_seconds = time.perf_counter() - start
        return report
    finally:
        if own:
            ray.shutdown()
