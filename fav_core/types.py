"""Plain data passed between the core, the CLI and the hosts (numpy only, no torch).

Conventions (see docs/conventions.md):
- images are (H, W, C) float32, rows top-to-bottom, RGB in the *network encoding* (sRGB-encoded display
  values, nominally [0, 1], may exceed it slightly), unpremultiplied; alpha travels separately.
- flow is (H, W, 2) float32 in pixels, channel 0 = dx (right), 1 = dy (down); see fav_core.flow.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Frame:
    """One frame of a sequence.

    Attributes:
        index: frame number as the user sees it (1-based for sequences unless the files say otherwise).
        rgb: (H, W, 3) float32, network encoding (sRGB-encoded), unpremultiplied.
        alpha: (H, W) float32 in [0, 1] or None; carried through untouched.
        flow_to_prev: optional host motion vectors, (H, W, 2) backward flow t -> t-1 (our convention).
        flow_to_next: optional host motion vectors, (H, W, 2) forward flow t -> t+1 (our convention).
        flow_valid: optional (H, W) bool, where the host vectors can be trusted.
        source: the file (or video + frame number) this frame came from, for error messages.
    """

    index: int
    rgb: np.ndarray
    alpha: np.ndarray | None = None
    flow_to_prev: np.ndarray | None = None
    flow_to_next: np.ndarray | None = None
    flow_valid: np.ndarray | None = None
    source: str = ""

    @property
    def size(self) -> tuple[int, int]:
        """(H, W)."""
        return int(self.rgb.shape[0]), int(self.rgb.shape[1])


@dataclass(frozen=True)
class Progress:
    """Progress of a job: ``done`` of ``total`` frames, the frame just finished and a short status."""

    done: int
    total: int
    frame: int | None = None
    message: str = ""


@dataclass
class CancelToken:
    """Cooperative cancellation, owned by the job (never a global). Checked between frames."""

    _event: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def from_event(cls, event: threading.Event) -> CancelToken:
        """A token that is cancelled when ``event`` is set (a host's own event, e.g. a Blender job's)."""
        return cls(_event=event)

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()
