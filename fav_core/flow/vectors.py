"""Pick host motion vectors out of a frame's named channels (an EXR's channel dict) and judge where they hold.

Recognised channel names (matched by tokens, not a fixed view-layer prefix; hosts.md §A2, §B2):

- Blender: ``<ViewLayer>.Vector.X/Y/Z/W`` (or bare ``Vector.X`` ...), optional depth ``<ViewLayer>.Depth.Z``;
- Nuke: ``backward.u/v`` and/or ``forward.u/v`` (Nuke's ``motion`` channel set is these four), with any
  prefix before them (``motion.backward.u``). A lone ``motion.u/v`` pair carries no direction and is not guessed.

Arrays must be top-down (row 0 = top), as OpenEXR / OpenImageIO return them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import cv2
import numpy as np

from fav_core.errors import ConfigError, ShapeError, check_shape
from fav_core.flow.convert import blender_backward, blender_forward, nuke_to_flow

logger = logging.getLogger(__name__)

CYCLES_WORLD_DEPTH = 1e9
"""Depth at or above which a pixel is Cycles' world background (written as 1e10, with no motion)."""

_BLENDER_RE = re.compile(r"^(?P<prefix>(?:.*\.)?)Vector\.(?P<chan>[XYZW])$")
_BLENDER_DEPTH_RE = re.compile(r"^(?P<prefix>(?:.*\.)?)Depth\.(?P<chan>Z)$")
_NUKE_RE = re.compile(r"^(?P<prefix>(?:.*\.)?)(?P<dir>forward|backward)\.(?P<chan>[uv])$")


@dataclass(frozen=True)
class HostVectors:
    """Motion vectors of one frame from a host, in our convention.

    Attributes:
        flow_to_prev: :math:`(H, W, 2)` float32 backward flow t -> t-1, or None if the host gave none.
        flow_to_next: :math:`(H, W, 2)` float32 forward flow t -> t+1, or None.
        valid: :math:`(H, W)` bool, True where the given vectors can be trusted.
        convention: ``"blender"`` or ``"nuke"``.
    """

    flow_to_prev: np.ndarray | None
    flow_to_next: np.ndarray | None
    valid: np.ndarray
    convention: str


def _group(channels: dict[str, np.ndarray], regex: re.Pattern[str]) -> dict[str, dict[str, str]]:
    """Channel names matching ``regex`` grouped by prefix: {prefix: {key: full name}}."""
    groups: dict[str, dict[str, str]] = {}
    for name in channels:
        m = regex.match(name)
        if m:
            key = m.group("chan") if "dir" not in regex.groupindex else f"{m.group('dir')}.{m.group('chan')}"
            groups.setdefault(m.group("prefix"), {})[key] = name
    return groups


def _pick_prefix(groups: dict[str, dict[str, str]], layer: str | None, what: str) -> str:
    if layer is not None:
        prefix = layer if layer == "" or layer.endswith(".") else layer + "."
        if prefix not in groups:
            found = ", ".join(repr(p.rstrip(".")) for p in sorted(groups)) or "none"
            raise ConfigError(f"no {what} channels in layer {layer!r} (found layers: {found})")
        return prefix
    if len(groups) > 1:
        found = ", ".join(repr(p.rstrip(".")) for p in sorted(groups))
        raise ConfigError(f"several {what} layers ({found}); choose one with layer=")
    return next(iter(groups))


def _edges(flow: np.ndarray, threshold: float) -> np.ndarray:
    """True where the vector jumps by more than ``threshold`` px to a 4-neighbour (anti-aliased edges)."""
    jump = np.zeros(flow.shape[:2], dtype=bool)
    dx = np.abs(np.diff(flow, axis=1)).max(axis=2) > threshold
    dy = np.abs(np.diff(flow, axis=0)).max(axis=2) > threshold
    jump[:, 1:] |= dx
    jump[:, :-1] |= dx
    jump[1:, :] |= dy
    jump[:-1, :] |= dy
    return jump


def _validity(
    flows: list[np.ndarray],
    depth: np.ndarray | None,
    shape: tuple[int, int],
    erode: int,
    edge_threshold: float,
) -> np.ndarray:
    finite = np.ones(shape, dtype=bool)
    for f in flows:
        finite &= np.isfinite(f).all(axis=2)
    invalid = ~finite
    if depth is not None:
        invalid |= ~(np.asarray(depth) < CYCLES_WORLD_DEPTH)  # world (and NaN depth) -> unknown
    for f in flows:
        invalid |= _edges(np.where(finite[..., None], f, 0.0), edge_threshold)
    if erode > 0 and invalid.any():
        kernel = np.ones((2 * erode + 1, 2 * erode + 1), np.uint8)
        invalid = cv2.dilate(invalid.astype(np.uint8), kernel).astype(bool)
    return ~invalid


def vectors_from_channels(
    channels: dict[str, np.ndarray],
    convention: str = "auto",
    *,
    layer: str | None = None,
    erode: int = 1,
    edge_threshold: float = 1.0,
) -> HostVectors | None:
    """Convert a frame's host motion-vector channels to our flows plus a validity mask.

    Args:
        channels: channel name -> :math:`(H, W)` array, top-down (e.g. every channel of a multi-part EXR).
        convention: ``"auto"`` (decide by channel names), ``"blender"`` or ``"nuke"``.
        layer: view layer / prefix to use when several carry vectors (e.g. ``"ViewLayer"``).
        erode: pixels of margin removed around every invalid pixel (anti-aliased edges hold blended
            foreground/background vectors, hosts.md §A2 caveats); 0 = none.
        edge_threshold: a vector that differs from a 4-neighbour by more than this many pixels (either
            component, either direction) marks an edge, which is treated as invalid.

    Returns:
        :class:`HostVectors`, or None when the channels hold no motion vectors.

    Raises:
        ConfigError: unknown convention, both Blender and Nuke vectors present with ``"auto"``, several layers.
        ShapeError: channels of different sizes.

    Convention:
        - input: host convention (y up, see :mod:`fav_core.flow.convert`); rows top-down
        - output: flow (H, W, 2), dx right, dy down; ``valid`` = finite, not Cycles world (Depth >= 1e9, Blender
          only, when a ``Depth.Z`` channel of the same layer is given), not on/next to a vector edge
        - a pair with one channel missing counts as absent (logged)
    """
    if convention not in ("auto", "blender", "nuke"):
        raise ConfigError(f"vector convention {convention!r} is not one of auto, blender, nuke")
    blender = _group(channels, _BLENDER_RE)
    nuke = _group(channels, _NUKE_RE)
    if convention == "auto":
        if blender and nuke:
            raise ConfigError(
                "both Blender (.Vector.X) and Nuke (backward.u) vectors found; pass convention="
            )
        convention = "blender" if blender else "nuke" if nuke else ""
    if convention == "" or (convention == "blender" and not blender) or (convention == "nuke" and not nuke):
        return None

    flow_to_prev: np.ndarray | None = None
    flow_to_next: np.ndarray | None = None
    depth: np.ndarray | None = None
    if convention == "blender":
        prefix = _pick_prefix(blender, layer, "Vector")
        names = blender[prefix]
        arrays = {k: np.asarray(channels[n], dtype=np.float32) for k, n in names.items()}
        shape = _common_shape(arrays)
        if "X" in arrays and "Y" in arrays:
            flow_to_prev = blender_backward(
                np.stack([arrays["X"], arrays["Y"], arrays["X"], arrays["Y"]], -1)
            )
        if "Z" in arrays and "W" in arrays:
            flow_to_next = blender_forward(np.stack([arrays["Z"], arrays["W"], arrays["Z"], arrays["W"]], -1))
        depth_groups = _group(channels, _BLENDER_DEPTH_RE)
        if prefix in depth_groups:
            depth = np.asarray(channels[depth_groups[prefix]["Z"]], dtype=np.float32)
            if depth.shape != shape:
                raise ShapeError(f"{depth_groups[prefix]['Z']}: expected {shape}, got {depth.shape}")
    else:
        prefix = _pick_prefix(nuke, layer, "motion")
        names = nuke[prefix]
        arrays = {k: np.asarray(channels[n], dtype=np.float32) for k, n in names.items()}
        shape = _common_shape(arrays)
        if "backward.u" in arrays and "backward.v" in arrays:
            flow_to_prev = nuke_to_flow(arrays["backward.u"], arrays["backward.v"])
        if "forward.u" in arrays and "forward.v" in arrays:
            flow_to_next = nuke_to_flow(arrays["forward.u"], arrays["forward.v"])

    if flow_to_prev is None and flow_to_next is None:
        logger.warning("incomplete motion-vector channels %s; ignoring them", sorted(names.values()))
        return None
    if flow_to_prev is None or flow_to_next is None:
        logger.info(
            "%s vectors: only the %s half is present",
            convention,
            "forward" if flow_to_prev is None else "backward",
        )
    flows = [f for f in (flow_to_prev, flow_to_next) if f is not None]
    valid = _validity(flows, depth, shape, erode, edge_threshold)
    return HostVectors(
        flow_to_prev=flow_to_prev, flow_to_next=flow_to_next, valid=valid, convention=convention
    )


def _common_shape(arrays: dict[str, np.ndarray]) -> tuple[int, int]:
    shape: tuple[int, int] | None = None
    for key, arr in arrays.items():
        sizes = check_shape(arr, "H W", key)
        s = (sizes["H"], sizes["W"])
        if shape is None:
            shape = s
        elif s != shape:
            raise ShapeError(f"{key}: expected {shape}, got {s}")
    assert shape is not None  # groups are never empty
    return shape
