"""Perspective border maps of the reference (``vr_helper.lua``, algorithm.md §9.4), ported literally.

Each map is an offset field for :func:`fav_core.warp.warp_backward`: output pixel (x, y) of a face samples the
(rotated) neighbour face at (x + dx, y + dy). Only a strip of ``crop`` columns (rows) is filled; every other entry
is 99999, which samples far outside the image and therefore gives 0 (no content, zero coverage).

- ``warp_map_left`` fills the **last** ``crop`` columns with content from the neighbour's **left** part (used for a
  face whose *right* border touches the neighbour's *left* edge); ``warp_map_right`` fills the first columns from
  the neighbour's right part; ``warp_map_top`` fills the last rows from the neighbour's top part;
  ``warp_map_bottom`` the first rows from its bottom part.
- The formulas are the reference's, including its 1-based loop values inside the formulas and the fractional loop
  start (``x = W_c - crop + k``, ``k = 1..crop``); the output pixel of loop step ``k`` is the reference's 1-based
  column ``orig_width - crop + k``, i.e. 0-based ``orig_width - crop + k - 1``. The maps approximate the exact
  perspective between neighbouring cube faces to a fraction of a pixel (see tests/unit/test_spherical_maps.py).
"""
from __future__ import annotations

import numpy as np

from fav_core.errors import ConfigError

#: Offset written where a map has no content (the reference's 99999: samples far outside → 0).
NO_CONTENT = 99999.0


def _check(size: int, crop: int, other: int, name: str) -> None:
    if size < 2 or other < 2:
        raise ConfigError(f"{name}: face size must be at least 2 px, got {size}x{other}")
    if crop < 1 or crop > other:
        raise ConfigError(f"{name}: border width must be in 1..{other}, got {crop}")


def _core_extent(size: float, oversize_a: float) -> float:
    """The reference's W_c: ``W0 = size / 2 / ((2·o + size) / size)``, ``r = (W0 + o) / W0``,
    ``W_c = W0 − ((r − 1) / r)·o``."""
    w0 = size / 2.0 / ((2.0 * oversize_a + size) / size)
    r = (w0 + oversize_a) / w0
    return w0 - (r - 1.0) / r * oversize_a


def warp_map_left(
    height: int, crop_w: int, orig_width: int, oversize_h: float | None = None, oversize_w: float | None = None
) -> np.ndarray:
    """Offsets that fill the last ``crop_w`` columns from the neighbour's left part (``make_perspective_warp_map_left``).

    Args:
        height: face height H_p (with overlap).
        crop_w: width c of the filled strip (the reference passes the total overlap).
        orig_width: face width W_p (with overlap).
        oversize_h: o_h, default c / 2.
        oversize_w: o_w, default c / 2.

    Returns:
        :math:`(H_p, W_p, 2)` float32 offsets, channel 0 = dx, 1 = dy; 99999 outside the strip.

    Convention:
        - offsets for :func:`fav_core.warp.warp_backward` (0-based pixel centres);
        - for k = 1..c, x = W_c − c + k, y = 1..H_p (1-based values, as the reference), f_h = (x + o_h)/W_c,
          f_w = (x + o_w)/W_c: dy = (H_p/2 − y)(1 − 1/f_h), dx = (W_c − x − o_w)(f_w − 1)/f_w − W_p + c,
          written to 0-based row y − 1, column W_p − c + k − 1.
    """
    _check(height, crop_w, orig_width, "warp_map_left")
    o_h = crop_w / 2.0 if oversize_h is None else float(oversize_h)
    o_w = crop_w / 2.0 if oversize_w is None else float(oversize_w)
    wc = _core_extent(height, o_h)
    k = np.arange(1, crop_w + 1, dtype=np.float64)
    x = wc - crop_w + k
    y = np.arange(1, height + 1, dtype=np.float64)[:, None]
    f_h = (x + o_h) / wc
    f_w = (x + o_w) / wc
    out = np.full((height, orig_width, 2), NO_CONTENT, dtype=np.float64)
    out[:, orig_width - crop_w:, 1] = (height / 2.0 - y) * (1.0 - 1.0 / f_h)
    out[:, orig_width - crop_w:, 0] = (wc - x - o_w) * (f_w - 1.0) / f_w - orig_width + crop_w
    return out.astype(np.float32)


def warp_map_right(
    height: int, crop_w: int, orig_width: int, oversize_h: float | None = None, oversize_w: float | None = None
) -> np.ndarray:
    """Offsets that fill the first ``crop_w`` columns from the neighbour's right part
    (``make_perspective_warp_map_right``).

    Args: as :func:`warp_map_left`.

    Returns:
        :math:`(H_p, W_p, 2)` float32 offsets, channel 0 = dx, 1 = dy; 99999 outside the strip.

    Convention:
        - for x = 1..c (0-based column x − 1), y = 1..H_p: f_h = (W_c − x + o_h)/W_c, f_w = (W_c − x + o_w)/W_c,
          dy = (H_p/2 − y)(1 − 1/f_h), dx = −(x − o_w)(f_w − 1)/f_w + W_p − c.
    """
    _check(height, crop_w, orig_width, "warp_map_right")
    o_h = crop_w / 2.0 if oversize_h is None else float(oversize_h)
    o_w = crop_w / 2.0 if oversize_w is None else float(oversize_w)
    wc = _core_extent(height, o_h)
    x = np.arange(1, crop_w + 1, dtype=np.float64)
    y = np.arange(1, height + 1, dtype=np.float64)[:, None]
    f_h = (wc - x + o_h) / wc
    f_w = (wc - x + o_w) / wc
    out = np.full((height, orig_width, 2), NO_CONTENT, dtype=np.float64)
    out[:, :crop_w, 1] = (height / 2.0 - y) * (1.0 - 1.0 / f_h)
    out[:, :crop_w, 0] = -(x - o_w) * (f_w - 1.0) / f_w + orig_width - crop_w
    return out.astype(np.float32)


def warp_map_top(
    width: int, crop_h: int, orig_height: int, oversize_w: float | None = None, oversize_h: float | None = None
) -> np.ndarray:
    """Offsets that fill the last ``crop_h`` rows from the neighbour's top part (``make_perspective_warp_map_top``).

    Note the reference's argument order (width first, then ``oversize_w``, ``oversize_h``).

    Returns:
        :math:`(H_p, W_p, 2)` float32 offsets (H_p = ``orig_height``, W_p = ``width``), channel 0 = dx, 1 = dy.

    Convention:
        - H_c from ``width`` and o_w; for k = 1..c, y = H_c − c + k, x = 1..W_p: f_w = (y + o_w)/H_c,
          f_h = (y + o_h)/H_c, dy = (H_c − y − o_h)(f_h − 1)/f_h − H_p + c, dx = (W_p/2 − x)(1 − 1/f_w),
          written to 0-based row H_p − c + k − 1, column x − 1.
    """
    _check(width, crop_h, orig_height, "warp_map_top")
    o_h = crop_h / 2.0 if oversize_h is None else float(oversize_h)
    o_w = crop_h / 2.0 if oversize_w is None else float(oversize_w)
    hc = _core_extent(width, o_w)
    k = np.arange(1, crop_h + 1, dtype=np.float64)
    y = (hc - crop_h + k)[:, None]
    x = np.arange(1, width + 1, dtype=np.float64)
    f_w = (y + o_w) / hc
    f_h = (y + o_h) / hc
    out = np.full((orig_height, width, 2), NO_CONTENT, dtype=np.float64)
    out[orig_height - crop_h:, :, 1] = (hc - y - o_h) * (f_h - 1.0) / f_h - orig_height + crop_h
    out[orig_height - crop_h:, :, 0] = (width / 2.0 - x) * (1.0 - 1.0 / f_w)
    return out.astype(np.float32)


def warp_map_bottom(
    width: int, crop_h: int, orig_height: int, oversize_w: float | None = None, oversize_h: float | None = None
) -> np.ndarray:
    """Offsets that fill the first ``crop_h`` rows from the neighbour's bottom part
    (``make_perspective_warp_map_bottom``).

    Returns:
        :math:`(H_p, W_p, 2)` float32 offsets, channel 0 = dx, 1 = dy.

    Convention:
        - for y = 1..c (0-based row y − 1), x = 1..W_p: f_w = (H_c − y + o_w)/H_c, f_h = (H_c − y + o_h)/H_c,
          dy = −(y − o_h)(f_h − 1)/f_h + H_p − c, dx = (W_p/2 − x)(1 − 1/f_w).
    """
    _check(width, crop_h, orig_height, "warp_map_bottom")
    o_h = crop_h / 2.0 if oversize_h is None else float(oversize_h)
    o_w = crop_h / 2.0 if oversize_w is None else float(oversize_w)
    hc = _core_extent(width, o_w)
    y = np.arange(1, crop_h + 1, dtype=np.float64)[:, None]
    x = np.arange(1, width + 1, dtype=np.float64)
    f_w = (hc - y + o_w) / hc
    f_h = (hc - y + o_h) / hc
    out = np.full((orig_height, width, 2), NO_CONTENT, dtype=np.float64)
    out[:crop_h, :, 1] = -(y - o_h) * (f_h - 1.0) / f_h + orig_height - crop_h
    out[:crop_h, :, 0] = (width / 2.0 - x) * (1.0 - 1.0 / f_w)
    return out.astype(np.float32)


def exact_map(side: str, edge: int, crop: int, overlap: int) -> np.ndarray:
    """The exact perspective counterpart of the reference maps, from the cube geometry (projection.CubeGeometry).

    Fills the same strip as the reference map for ``side`` (the ``crop`` columns/rows next to that side) with the
    offsets that take each pixel to the point of the *rotated* neighbour face that looks in the same direction
    (faces.neighbour); 99999 elsewhere.

    Args:
        side: the side of the face being filled (``left|right|top|bottom``).
        edge: face size (with overlap).
        crop: strip width.
        overlap: total overlap of the faces (defines the geometry: half-extent (edge − overlap)/2).

    Returns:
        :math:`(E, E, 2)` float32 offsets, channel 0 = dx, 1 = dy.

    Convention:
        - pixel (col, row) ↔ a = (col − (E − 1)/2)/h, b = (row − (E − 1)/2)/h, h = (E − overlap)/2; a face turned
          about its right edge has axes (r, −f, d), so a' = −1/a, b' = b/a (and analogous for the other sides).
    """
    _check(edge, crop, edge, "exact_map")
    half = (edge - overlap) / 2.0
    centre = (edge - 1) / 2.0
    pix = np.arange(edge, dtype=np.float64)
    a = ((pix - centre) / half)[None, :].repeat(edge, 0)
    b = ((pix - centre) / half)[:, None].repeat(edge, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        if side == "right":
            na, nb = -1.0 / a, b / a
        elif side == "left":
            na, nb = -1.0 / a, -b / a
        elif side == "bottom":
            na, nb = a / b, -1.0 / b
        elif side == "top":
            na, nb = -a / b, -1.0 / b
        else:
            raise ConfigError(f"unknown face side {side!r}")
    out = np.full((edge, edge, 2), NO_CONTENT, dtype=np.float64)
    strip = {
        "right": (slice(None), slice(edge - crop, None)),
        "left": (slice(None), slice(0, crop)),
        "bottom": (slice(edge - crop, None), slice(None)),
        "top": (slice(0, crop), slice(None)),
    }[side]
    out[strip + (0,)] = (na * half + centre - pix[None, :])[strip]
    out[strip + (1,)] = (nb * half + centre - pix[:, None])[strip]
    bad = ~np.isfinite(out)
    out[bad] = NO_CONTENT
    return out.astype(np.float32)
