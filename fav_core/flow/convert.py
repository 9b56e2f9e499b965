"""Host motion-vector conventions <-> our flow convention (pure numpy, exact).

Our flow: (H, W, 2) float32 pixels, channel 0 = dx (right), 1 = dy (down), row 0 = top row; backward(t) maps t to
t-1, forward(t) maps t to t+1.

Blender Vector pass (shared/reference/hosts.md §A2): four channels X, Y, Z, W in raster space, origin bottom-left,
**y up**, pixels: ``X, Y = p(t-1) - p(t)`` and ``Z, W = p(t) - p(t+1)`` (the forward half is negated). Hence
``backward(t) = (X, -Y)`` and ``forward(t) = (-Z, +W)``. Two storage layouts exist:

- *top-down* arrays, row 0 = top: what OpenEXR / OpenImageIO give when reading a rendered EXR (EXR stores the
  top row first) -- only the y sign flips;
- Blender *pixel buffers* (``bpy.types.Image.pixels``, Viewer node): flat RGBA float, row 0 = **bottom** row --
  the rows are flipped as well. Use the ``*_pixels`` functions for those.

Caveat (hosts.md §A2): Cycles writes no motion for world/background pixels (Depth = 1e10) and an orthographic
camera gave wrong Z, W in Blender 5.0.1; :mod:`fav_core.flow.vectors` masks the former.

Nuke (shared/reference/hosts.md §B2): layers ``forward.u/v`` and ``backward.u/v`` (the channel set ``motion``
holds all four), pixels, y up; forward = position in t+1 minus p, backward = position in t-1 minus p. With
top-down arrays (read from an EXR): ``backward(t) = (backward.u, -backward.v)``, ``forward(t) = (forward.u,
-forward.v)``. Blender -> Nuke: ``backward.u = X, backward.v = Y, forward.u = -Z, forward.v = -W``.
"""

from __future__ import annotations

import numpy as np

from fav_core.errors import ShapeError, check_shape

# ---------------------------------------------------------------------------------------------- Blender


def blender_backward(vector: np.ndarray) -> np.ndarray:
    """Backward flow (t -> t-1) from a top-down Blender Vector pass.

    Args:
        vector: :math:`(H, W, 4)` channels X, Y, Z, W of frame t's pass, row 0 = top row.

    Returns:
        :math:`(H, W, 2)` float32 ``(X, -Y)``.

    Convention:
        - Blender: y up, X, Y = p(t-1) - p(t) in pixels (hosts.md §A2)
        - result: dx right, dy down, backward flow of frame t

    Example:
        >>> import numpy as np
        >>> blender_backward(np.array([[[-8.0, -4.0, -8.0, -4.0]]], np.float32)).tolist()
        [[[-8.0, 4.0]]]
    """
    check_shape(vector, "H W 4", "vector")
    v = np.asarray(vector, dtype=np.float32)
    return np.stack([v[..., 0], -v[..., 1]], axis=-1)


def blender_forward(vector: np.ndarray) -> np.ndarray:
    """Forward flow (t -> t+1) from a top-down Blender Vector pass.

    Args:
        vector: :math:`(H, W, 4)` channels X, Y, Z, W of frame t's pass, row 0 = top row.

    Returns:
        :math:`(H, W, 2)` float32 ``(-Z, +W)``.

    Convention:
        - Blender: y up, Z, W = p(t) - p(t+1) in pixels (negated forward motion, hosts.md §A2)
        - result: dx right, dy down, forward flow of frame t

    Example:
        >>> import numpy as np
        >>> blender_forward(np.array([[[-8.0, -4.0, -8.0, -4.0]]], np.float32)).tolist()
        [[[8.0, -4.0]]]
    """
    check_shape(vector, "H W 4", "vector")
    v = np.asarray(vector, dtype=np.float32)
    return np.stack([-v[..., 2], v[..., 3]], axis=-1)


def blender_vector_from_flows(flow_to_prev: np.ndarray, flow_to_next: np.ndarray) -> np.ndarray:
    """Inverse of :func:`blender_backward` / :func:`blender_forward`: a top-down (H, W, 4) Vector pass.

    Args:
        flow_to_prev: :math:`(H, W, 2)` backward flow of frame t (our convention).
        flow_to_next: :math:`(H, W, 2)` forward flow of frame t (our convention).

    Returns:
        :math:`(H, W, 4)` float32 X, Y, Z, W = (bx, -by, -fx, fy), row 0 = top row.
    """
    sizes = check_shape(flow_to_prev, "H W 2", "flow_to_prev")
    if check_shape(flow_to_next, "H W 2", "flow_to_next") != sizes:
        raise ShapeError(
            f"flow_to_next: expected {tuple(flow_to_prev.shape)}, got {tuple(flow_to_next.shape)}"
        )
    b = np.asarray(flow_to_prev, dtype=np.float32)
    f = np.asarray(flow_to_next, dtype=np.float32)
    return np.stack([b[..., 0], -b[..., 1], -f[..., 0], f[..., 1]], axis=-1)


def blender_pixels_to_top_down(pixels: np.ndarray, width: int, height: int, channels: int = 4) -> np.ndarray:
    """Blender pixel buffer (flat or (H, W, C), row 0 = bottom) -> top-down (H, W, C) float32 copy.

    Args:
        pixels: ``Image.pixels`` as read with ``foreach_get`` (length H*W*C) or already shaped (H, W, C).
        width: image width.
        height: image height.
        channels: channels per pixel (4 for RGBA buffers).

    Raises:
        ShapeError: the buffer does not hold width*height*channels values.
    """
    arr = np.asarray(pixels, dtype=np.float32)
    if arr.size != width * height * channels:
        raise ShapeError(
            f"pixels: expected {width}x{height}x{channels} = {width * height * channels} values, got {arr.size}"
        )
    return np.ascontiguousarray(arr.reshape(height, width, channels)[::-1])


def top_down_to_blender_pixels(image: np.ndarray) -> np.ndarray:
    """Top-down (H, W, C) array -> flat float32 Blender pixel buffer (row 0 = bottom), for ``foreach_set``."""
    check_shape(image, "H W C", "image")
    return np.ascontiguousarray(np.asarray(image, dtype=np.float32)[::-1]).reshape(-1)


def blender_pixels_to_flows(pixels: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Backward and forward flow from a Blender RGBA pixel buffer of the Vector pass (row 0 = bottom).

    Args:
        pixels: flat (H*W*4) or (H, W, 4) buffer, R,G,B,A = X,Y,Z,W, bottom row first.
        width: image width.
        height: image height.

    Returns:
        ``(flow_to_prev, flow_to_next)``, each :math:`(H, W, 2)` float32, top-down, our convention.

    Convention:
        - rows are flipped (bottom-up -> top-down) *and* the y components change sign (y up -> y down)
    """
    vector = blender_pixels_to_top_down(pixels, width, height, 4)
    return blender_backward(vector), blender_forward(vector)


def flows_to_blender_pixels(flow_to_prev: np.ndarray, flow_to_next: np.ndarray) -> np.ndarray:
    """Inverse of :func:`blender_pixels_to_flows`: flat float32 RGBA buffer, bottom row first."""
    return top_down_to_blender_pixels(blender_vector_from_flows(flow_to_prev, flow_to_next))


# ---------------------------------------------------------------------------------------------- Nuke


def nuke_to_flow(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Our flow from a Nuke ``backward.u/v`` or ``forward.u/v`` pair read top-down (hosts.md §B2).

    The same formula serves both directions: ``backward(t) = (backward.u, -backward.v)`` and ``forward(t) =
    (forward.u, -forward.v)``.

    Args:
        u: :math:`(H, W)` the ``.u`` channel (pixels, x right).
        v: :math:`(H, W)` the ``.v`` channel (pixels, y up), rows top-down as stored in the EXR.

    Returns:
        :math:`(H, W, 2)` float32 ``(u, -v)``.

    Convention:
        - Nuke: y up, vector = position in the other frame minus p, pixels (hosts.md §B2)
        - result: dx right, dy down

    Example:
        >>> import numpy as np
        >>> nuke_to_flow(np.array([[3.0]]), np.array([[2.0]])).tolist()
        [[[3.0, -2.0]]]
    """
    sizes = check_shape(u, "H W", "u")
    if check_shape(v, "H W", "v") != sizes:
        raise ShapeError(f"v: expected {tuple(np.shape(u))}, got {tuple(np.shape(v))}")
    return np.stack([np.asarray(u, dtype=np.float32), -np.asarray(v, dtype=np.float32)], axis=-1)


def flow_to_nuke(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`nuke_to_flow`: ``(u, v) = (dx, -dy)``, each (H, W) float32, top-down."""
    check_shape(flow, "H W 2", "flow")
    f = np.asarray(flow, dtype=np.float32)
    return np.ascontiguousarray(f[..., 0]), np.ascontiguousarray(-f[..., 1])


def blender_to_nuke(vector: np.ndarray) -> dict[str, np.ndarray]:
    """Blender Vector pass (H, W, 4) -> Nuke ``motion`` channels (hosts.md §B2), both y up, same row order.

    Returns:
        ``{"backward.u": X, "backward.v": Y, "forward.u": -Z, "forward.v": -W}``, each (H, W) float32.
    """
    check_shape(vector, "H W 4", "vector")
    v = np.asarray(vector, dtype=np.float32)
    return {
        "backward.u": np.ascontiguousarray(v[..., 0]),
        "backward.v": np.ascontiguousarray(v[..., 1]),
        "forward.u": np.ascontiguousarray(-v[..., 2]),
        "forward.v": np.ascontiguousarray(-v[..., 3]),
    }
