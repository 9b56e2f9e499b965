"""Ctrl-C and SIGTERM in the ``fav`` process: held while it starts, then a clean cancel, never a crash.

Python runs a signal handler between two bytecodes of the main thread, wherever that is. While torch or
OpenImageIO is imported, or loads a model, that can be Python code called back from their C++ (pybind11): a
``KeyboardInterrupt`` raised there is thrown through C++ frames that cannot always carry it, and the process aborts
(``terminate called after throwing an instance of 'pybind11::error_already_set'``, exit -6) instead of stopping.

So the console entry point installs :class:`HeldSignals` for SIGINT and SIGTERM before anything heavy runs: a
signal is only recorded. It is delivered at a safe point:

- a job that cancels on signals (``fav stylize``, ``fav stylize-360``) takes it over in :func:`cancel_on_signals`:
  its cancel token is set before the first frame, nothing is written, exit 130;
- any other command: :meth:`HeldSignals.release` after the native modules are imported restores raising handlers
  (SIGINT → ``KeyboardInterrupt``, SIGTERM → :class:`Terminated`, or SIGTERM's default for commands that ask for
  it) and raises for a held signal.

Nothing here is installed when the CLI runs in-process (a host calling ``main()`` from its own thread).
"""
from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fav_core.types import CancelToken

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(BaseException):
    """SIGTERM arrived before a job installed its own handler (while modules load, models are read ...)."""


def raise_terminated(signum: int, frame: FrameType | None) -> None:
    """SIGTERM handler of commands without a job handler of their own: stop like Ctrl-C."""
    raise Terminated


class HeldSignals:
    """A signal handler that only records SIGINT / SIGTERM; see the module docstring.

    Attributes:
        pending: the signals received while held, in order.
    """

    def __init__(self) -> None:
        self.pending: list[int] = []

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.pending.append(signum)

    @classmethod
    def install(cls) -> HeldSignals | None:
        """Hold SIGINT and SIGTERM from now on (the holder already installed, if any); None where handlers cannot be
        set (not the main thread) or SIGTERM already has a handler of the embedding program."""
        existing = cls.current()
        if existing is not None:  # python -m fav_core.cli holds them before importing the CLI
            return existing
        try:
            if signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
                return None
            held = cls()
            for sig in _SIGNALS:
                signal.signal(sig, held)
        except ValueError:  # not the main thread
            return None
        return held

    @staticmethod
    def current() -> HeldSignals | None:
        """The holder installed for SIGINT, if signals are being held."""
        try:
            handler = signal.getsignal(signal.SIGINT)
        except ValueError:
            return None
        return handler if isinstance(handler, HeldSignals) else None

    def release(self, *, default_sigterm: bool = False) -> None:
        """Stop holding: SIGINT raises ``KeyboardInterrupt`` again, SIGTERM raises :class:`Terminated` (or has its
        default action with ``default_sigterm``).

        Raises:
            KeyboardInterrupt / Terminated: a signal was held (the first one decides).
        """
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL if default_sigterm else raise_terminated)
        self.raise_pending()

    def raise_pending(self) -> None:
        """Raise for the first held signal, if any (``KeyboardInterrupt`` or :class:`Terminated`)."""
        if self.pending:
            signum = self.pending[0]
            self.pending.clear()
            raise KeyboardInterrupt if signum == signal.SIGINT else Terminated


def import_native_modules() -> None:
    """Import the C++ extension modules the core commands use (torch, OpenCV, OpenImageIO, PyAV); optional ones
    that are missing are left to the code that needs them. Run while signals are held."""
    import importlib

    for name in ("torch", "cv2", "OpenImageIO", "av"):
        try:
            importlib.import_module(name)
        except ImportError:
            continue


@contextmanager
def cancel_on_signals(cancel: CancelToken, announce: Callable[[], None] | None = None) -> Iterator[None]:
    """SIGINT/SIGTERM set the cancel token: the current frame (or training iteration) finishes whole; a second
    one stops at once (writes are atomic). A signal held while the process started cancels before the first
    frame. From a thread other than the main one nothing is installed (signals reach the main thread only; the
    caller cancels by its own means).

    Args:
        cancel: the job's token; set by the first signal.
        announce: called once when the first signal cancels (e.g. to say the run stops after this iteration).
    """
    held = HeldSignals.current()

    def handler(signum: int, frame: FrameType | None) -> None:
        if cancel.cancelled:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        cancel.cancel()
        if announce is not None:
            announce()

    old: dict[int, Any] = {}
    try:
        for sig in (*_SIGNALS, getattr(signal, "SIGBREAK", None)):  # SIGBREAK: Windows
            if sig is None:
                continue
            old[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread (e.g. called from a host's worker thread)
        old = {}
    # checked after the job's handlers are in: a signal the holder recorded up to that moment is not lost
    if held is not None and held.pending:
        held.pending.clear()
        cancel.cancel()
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
