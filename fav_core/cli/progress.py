"""Progress reporting for long CLI jobs: a tqdm bar for people, JSON lines for hosts (docs/job-protocol.md)."""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from tqdm import tqdm

from fav_core.errors import Cancelled, FavError


class JsonReporter:
    """Writes one JSON object per line to ``stream`` (stdout by default) and flushes after each."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._t = time.perf_counter()

    def event(self, name: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"event": name, **fields}) + "\n")
        self.stream.flush()

    def start(self, total: int, **fields: Any) -> None:
        self._t = time.perf_counter()
        self.event("start", total=total, **fields)

    def frame(self, done: int, total: int, index: int, path: str | None) -> None:
        now = time.perf_counter()
        self.event("frame", done=done, total=total, index=index, path=path, seconds=round(now - self._t, 4))
        self._t = now

    def close(self) -> None:
        pass


class TqdmReporter:
    """A tqdm bar on stderr: frames, fps, ETA."""

    def __init__(self, desc: str = "stylize", unit: str = "frame") -> None:
        self.desc, self.unit = desc, unit
        self.bar: tqdm | None = None

    def event(self, name: str, **fields: Any) -> None:
        if name in ("error", "cancelled") and self.bar is not None:
            self.bar.close()

    def start(self, total: int, **fields: Any) -> None:
        self.bar = tqdm(total=total, desc=self.desc, unit=self.unit, file=sys.stderr, dynamic_ncols=True)

    def frame(self, done: int, total: int, index: int, path: str | None) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(f"frame {index}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def make_reporter(kind: str, desc: str = "stylize") -> JsonReporter | TqdmReporter:
    return JsonReporter() if kind == "json" else TqdmReporter(desc)


def run_reported(
    body: Callable[[Any, Any, Any], int], args: Any, reporter: Any, cancel: Any, desc: str = "stylize"
) -> int:
    """Run a job body ``body(args, reporter, cancel)`` with the reporter the options ask for, turning typed
    errors into the protocol's ``error`` / ``cancelled`` events before they propagate to the CLI boundary.

    A :class:`Cancelled` may carry ``done`` (frames written whole by this run).
    """
    if reporter is None and args.progress != "none":
        reporter = make_reporter(args.progress, desc=desc)
    try:
        return body(args, reporter, cancel)
    except Cancelled as exc:
        if reporter is not None:
            reporter.event("cancelled", message=str(exc), done=getattr(exc, "done", None))
        raise
    except FavError as exc:
        if reporter is not None:
            reporter.event("error", message=str(exc), kind=type(exc).__name__)
        raise
    finally:
        if reporter is not None:
            reporter.close()
