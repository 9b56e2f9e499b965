"""Optical flow: .flo files, file-name patterns, flow providers and host motion-vector converters.

THE convention (docs/architecture.md), used everywhere inside the core:

- flow (numpy) is ``(H, W, 2)`` float32 in pixels, channel 0 = dx (x right), 1 = dy (y down), origin top-left,
  pixel centres on integers; a flow tensor is ``(B, 2, H, W)`` with the same channel order;
- backward flow of frame t maps t -> t-1: pixel (x, y) of frame t is at (x+dx, y+dy) in frame t-1, and warping
  frame t-1 with it gives frame t; forward flow of frame t maps t -> t+1;
- ``.flo`` is Middlebury: little-endian float32 202021.25, int32 W, int32 H, H*W (u=dx, v=dy) pairs -- the same
  order as ours, no swap;
- flow file patterns: ``[%d]`` = frame the flow starts at, ``{%d}`` = frame it points to:
  ``backward_[%d]_{%d}.flo`` for frame t reads ``backward_t_(t-1).flo``.

Host converters live at the edges (:mod:`fav_core.flow.convert`): Blender Vector pass backward = (X, -Y),
forward = (-Z, +W); Nuke ``backward.u/v`` -> (u, -v) (shared/reference/hosts.md §A2, §B2).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fav_core.flow.io import read_flo, read_flo_header, write_flo
from fav_core.flow.patterns import check_pattern, format_pattern

if TYPE_CHECKING:
    from fav_core.flow.providers import PROVIDERS, DeepFlow, DISFlow, FlowProvider, RAFTFlow, make_provider
    from fav_core.flow.vectors import HostVectors, vectors_from_channels

# Names whose modules import OpenCV are re-exported lazily, so that hosts can import the pure-numpy
# ``fav_core.flow.convert`` (and io/patterns) in a Python without cv2.
_LAZY = {
    "PROVIDERS": "fav_core.flow.providers",
    "DISFlow": "fav_core.flow.providers",
    "DeepFlow": "fav_core.flow.providers",
    "FlowProvider": "fav_core.flow.providers",
    "RAFTFlow": "fav_core.flow.providers",
    "make_provider": "fav_core.flow.providers",
    "HostVectors": "fav_core.flow.vectors",
    "vectors_from_channels": "fav_core.flow.vectors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fav_core.flow' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "PROVIDERS",
    "DISFlow",
    "DeepFlow",
    "FlowProvider",
    "HostVectors",
    "RAFTFlow",
    "check_pattern",
    "format_pattern",
    "make_provider",
    "read_flo",
    "read_flo_header",
    "vectors_from_channels",
    "write_flo",
]
