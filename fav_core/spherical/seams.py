"""Seam measurement on an equirectangular frame: how much the colour jumps where the source face changes."""
from __future__ import annotations

import numpy as np

from fav_core.errors import ShapeError, check_shape


def _pairs(face_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks of horizontally (incl. the wrap-around) and vertically neighbouring pixel pairs on a face border."""
    horiz = face_index != np.roll(face_index, -1, axis=1)
    vert = face_index[:-1] != face_index[1:]
    return horiz, vert


def _pair_differences(image: np.ndarray, face_index: np.ndarray, across: bool) -> np.ndarray:
    horiz, vert = _pairs(face_index)
    if not across:
        horiz, vert = ~horiz, ~vert
    dh = np.abs(image - np.roll(image, -1, axis=1)).mean(axis=-1)[horiz]
    dv = np.abs(image[:-1] - image[1:]).mean(axis=-1)[vert]
    return np.concatenate([dh, dv])


def seam_difference(image: np.ndarray, face_index: np.ndarray) -> float:
    """Mean absolute colour difference (averaged over channels) between neighbouring pixels that come from
    different cube faces.

    Args:
        image: :math:`(H, W, C)` equirectangular frame.
        face_index: :math:`(H, W)` slot of each pixel (projection.CubeToEquirect.face_index).

    Raises:
        ShapeError: sizes differ.
    """
    check_shape(image, "H W C", "image")
    if face_index.shape != image.shape[:2]:
        raise ShapeError(f"face_index: expected {image.shape[:2]}, got {face_index.shape}")
    return float(_pair_differences(image.astype(np.float64), face_index, across=True).mean())


def interior_difference(image: np.ndarray, face_index: np.ndarray) -> float:
    """The same measure between neighbouring pixels of the *same* face (the image's ordinary texture)."""
    check_shape(image, "H W C", "image")
    return float(_pair_differences(image.astype(np.float64), face_index, across=False).mean())


def _step_residuals(image: np.ndarray, face_index: np.ndarray, across: bool) -> np.ndarray:
    """|(p1 − p0) − ((p0 − p−1) + (p2 − p1))/2| for horizontal pairs (p0, p1) (wrapping around), channel mean."""
    img = image.astype(np.float64)
    pm1, p0, p1, p2 = (np.roll(img, s, axis=1) for s in (1, 0, -1, -2))
    step = np.abs((p1 - p0) - 0.5 * ((p0 - pm1) + (p2 - p1))).mean(axis=-1)
    horiz = face_index != np.roll(face_index, -1, axis=1)
    # Only pairs whose outer neighbours come from the same face as their inner pixel.
    sel = horiz if across else ~horiz
    sel = sel & (np.roll(face_index, 1, axis=1) == face_index) & (np.roll(face_index, -2, axis=1) == np.roll(face_index, -1, axis=1))
    return step[sel]


def seam_step(image: np.ndarray, face_index: np.ndarray) -> float:
    """Mean jump across vertical face borders beyond the local gradient (second difference), horizontal pairs."""
    check_shape(image, "H W C", "image")
    return float(_step_residuals(image, face_index, True).mean())


def interior_step(image: np.ndarray, face_index: np.ndarray) -> float:
    """:func:`seam_step` for pairs inside one face (the texture's own curvature)."""
    check_shape(image, "H W C", "image")
    return float(_step_residuals(image, face_index, False).mean())


def seam_contrast(image: np.ndarray, face_index: np.ndarray) -> tuple[float, float]:
    """The colour difference across face borders and right beside them, on the same rows/columns.

    For every neighbouring pair (p0, p1) across a border (horizontal pairs, wrapping around, and vertical pairs)
    whose outer neighbours p−1 and p2 come from the same face as p0 and p1 respectively: ``|p1 − p0|`` and the
    mean of ``|p0 − p−1|`` and ``|p2 − p1|`` (channel means). Unlike :func:`interior_difference` the second number
    is taken at the same places, so the content's own gradient there cancels: a seamless image has
    ``across ≈ beside``, a seam makes ``across`` larger.

    Args:
        image: :math:`(H, W, C)` equirectangular frame.
        face_index: :math:`(H, W)` slot of each pixel.

    Returns:
        (mean across, mean beside).

    Raises:
        ShapeError: sizes differ or there is no border pair.
    """
    check_shape(image, "H W C", "image")
    if face_index.shape != image.shape[:2]:
        raise ShapeError(f"face_index: expected {image.shape[:2]}, got {face_index.shape}")
    img = image.astype(np.float64)
    across: list[np.ndarray] = []
    beside: list[np.ndarray] = []
    for axis in (0, 1):
        idx = [np.roll(face_index, s, axis=axis) for s in (1, 0, -1, -2)]
        pix = [np.roll(img, s, axis=axis) for s in (1, 0, -1, -2)]
        sel = (idx[1] != idx[2]) & (idx[0] == idx[1]) & (idx[3] == idx[2])
        if axis == 0:  # no wrap-around between the top and bottom rows
            sel[:1] = False
            sel[-2:] = False
        across.append(np.abs(pix[2] - pix[1]).mean(axis=-1)[sel])
        beside.append((0.5 * (np.abs(pix[1] - pix[0]) + np.abs(pix[3] - pix[2]))).mean(axis=-1)[sel])
    a, b = np.concatenate(across), np.concatenate(beside)
    if a.size == 0:
        raise ShapeError("face_index: no pair of pixels across a face border")
    return float(a.mean()), float(b.mean())


def seam_excess(image: np.ndarray, face_index: np.ndarray) -> float:
    """:func:`seam_contrast`'s ``across − beside``: ≈ 0 for a seamless image, > 0 with a visible seam."""
    a, b = seam_contrast(image, face_index)
    return a - b
