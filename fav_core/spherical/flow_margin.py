"""Flow for a cube face computed on a wider view of it, then cropped back to the face.

A face's flow is poorest at its own image border: content that enters the face has no match, and the
forward–backward check fails there (on the synthetic bench 48 % of the outer 16 px of a 160-px face came out
unreliable, against 1–4 % inside). With an equirectangular source the faces can be cut with a margin for the flow
(the same pixel grid, ``margin`` more pixels on every side; projection.CubeGeometry with edge + 2·margin and
overlap + 2·margin), so the face's own border is no longer an image border for the flow. The stylizer still warps
the face's own previous output, so pixels whose flow leaves the face stay unreliable.

Convention:
    - flows (H, W, 2) float32, backward flow of frame t maps t → t−1, dx right, dy down (docs/architecture.md);
    - the face is the wide view's centre: wide[margin : margin + E, margin : margin + E].
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fav_core.errors import ConfigError, ShapeError
from fav_core.spherical.projection import CubeGeometry

if TYPE_CHECKING:  # fav_core.motion imports torch; the face sources that use widened() stay without it
    from fav_core.motion import Motion


def widened(geometry: CubeGeometry, margin: int) -> CubeGeometry:
    """The geometry of the wide view: the same core (pixel grid), ``margin`` more pixels on every side.

    Raises:
        ConfigError: a negative margin, or one wider than the face (the wide view would see most of the sphere).
    """
    if margin < 0 or margin > geometry.edge // 2:
        raise ConfigError(f"flow margin must be 0..{geometry.edge // 2} px (half the {geometry.edge}-px face), "
                          f"got {margin}")
    return CubeGeometry(geometry.edge + 2 * margin, geometry.overlap + 2 * margin)


def crop_motion(motion: Motion, margin: int, edge: int) -> Motion:
    """The face's part of a motion computed on its wide view.

    Args:
        motion: flow and reliability of the wide view, :math:`(E + 2m, E + 2m, ·)`.
        margin: m.
        edge: E, the face size.

    Returns:
        :math:`(E, E, 2)` flow and :math:`(E, E)` reliability; reliability 0 where the flow points outside the
        face (its previous output has no pixels there).

    Raises:
        ShapeError: the motion is not (E + 2m) square.
    """
    from fav_core.motion import Motion

    size = edge + 2 * margin
    if motion.flow.shape != (size, size, 2) or motion.reliable.shape != (size, size):
        raise ShapeError(f"wide-view motion: expected ({size}, {size}) maps, got flow {motion.flow.shape}, "
                         f"reliability {motion.reliable.shape}")
    inner = slice(margin, margin + edge)
    flow = np.ascontiguousarray(motion.flow[inner, inner], dtype=np.float32)
    reliable = np.array(motion.reliable[inner, inner], dtype=np.float32)
    ys, xs = np.mgrid[0:edge, 0:edge].astype(np.float32)
    tx, ty = xs + flow[..., 0], ys + flow[..., 1]
    reliable[(tx < 0) | (tx > edge - 1) | (ty < 0) | (ty > edge - 1)] = 0.0
    return Motion(flow, reliable, f"{motion.source} (face cut from a {margin}-px wider view)")
