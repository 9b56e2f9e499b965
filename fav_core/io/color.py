"""sRGB transfer function and alpha association, exact and vectorised (numpy only).

The sRGB curve is the piecewise IEC 61966-2-1 function. It is extended beyond [0, 1]: values above 1 follow the
same power segment (so HDR highlights survive a round trip) and negative values are mirrored
(``f(-x) = -f(x)``), which keeps the functions odd, monotonic and exactly invertible.
"""

from __future__ import annotations

import numpy as np

from fav_core.errors import ShapeError

# IEC 61966-2-1 constants.
_SRGB_BREAK = 0.04045  # encoded value where the linear segment ends
_LIN_BREAK = 0.0031308  # linear value where the linear segment ends
_SLOPE = 12.92
_A = 0.055
_GAMMA = 2.4


def _float_dtype(x: np.ndarray) -> np.dtype:
    """The float dtype results keep: float32/float16/float64 stay, anything else becomes float32."""
    return x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float32)


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """Decode sRGB-encoded values to linear light (the sRGB EOTF, piecewise and exact).

    Args:
        x: any shape, sRGB-encoded values (nominally [0, 1]; larger and negative values allowed).

    Returns:
        Array of the same shape, linear values; float dtype of ``x`` kept (integers give float32).
        Computed in float64, so ``linear_to_srgb(srgb_to_linear(x))`` matches ``x`` to float rounding.
    """
    a = np.asarray(x)
    v = a.astype(np.float64)
    m = np.abs(v)
    lin = np.where(m <= _SRGB_BREAK, m / _SLOPE, ((m + _A) / (1.0 + _A)) ** _GAMMA)
    return (np.sign(v) * lin).astype(_float_dtype(a))


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Encode linear light with the sRGB curve (the inverse of ``srgb_to_linear``).

    Args:
        x: any shape, linear values (negative and > 1 allowed, handled sign-symmetrically / extended).

    Returns:
        Array of the same shape, sRGB-encoded values; float dtype of ``x`` kept (integers give float32).
    """
    a = np.asarray(x)
    v = a.astype(np.float64)
    m = np.abs(v)
    enc = np.where(m <= _LIN_BREAK, m * _SLOPE, (1.0 + _A) * np.power(m, 1.0 / _GAMMA) - _A)
    return (np.sign(v) * enc).astype(_float_dtype(a))


def premultiply(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Associate alpha: colour × alpha.

    Args:
        rgb: (H, W, C) float, unpremultiplied colour.
        alpha: (H, W) float in [0, 1].

    Returns:
        (H, W, C) premultiplied colour, a new array (inputs untouched), dtype of ``rgb``.
    """
    c = np.asarray(rgb)
    al = np.asarray(alpha)
    if al.shape != c.shape[:2]:
        raise ShapeError(f"alpha: expected {c.shape[:2]}, got {al.shape}")
    return (c * al[..., None]).astype(_float_dtype(c), copy=False)


def unpremultiply(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Dissociate alpha: colour / alpha, with colour 0 where alpha <= 0 (never NaN or Inf).

    Args:
        rgb: (H, W, C) float, premultiplied colour.
        alpha: (H, W) float.

    Returns:
        (H, W, C) unpremultiplied colour, a new array (inputs untouched), dtype of ``rgb``.
    """
    c = np.asarray(rgb)
    al = np.asarray(alpha)
    if al.shape != c.shape[:2]:
        raise ShapeError(f"alpha: expected {c.shape[:2]}, got {al.shape}")
    safe = np.where(al > 0, al, 1.0)[..., None]
    out = np.where(al[..., None] > 0, c / safe, 0.0)
    return out.astype(_float_dtype(c), copy=False)
