"""sRGB transfer functions and alpha association (fav_core.io.color)."""

from __future__ import annotations

import numpy as np
import pytest

from fav_core.errors import ShapeError
from fav_core.io.color import linear_to_srgb, premultiply, srgb_to_linear, unpremultiply


def test_known_values() -> None:
    x = np.array([0.0, 0.04045, 0.5, 1.0, 2.0], dtype=np.float64)
    want = np.array([0.0, 0.04045 / 12.92, ((0.5 + 0.055) / 1.055) ** 2.4, 1.0, (2.055 / 1.055) ** 2.4])
    np.testing.assert_allclose(srgb_to_linear(x), want, rtol=0, atol=1e-15)
    np.testing.assert_allclose(
        linear_to_srgb(np.array([0.0031308, 0.18])),
        [0.0031308 * 12.92, 1.055 * 0.18 ** (1 / 2.4) - 0.055],
        rtol=0,
        atol=1e-15,
    )
    assert srgb_to_linear(np.array([0.5]))[0] == pytest.approx(0.21404114048223255, abs=1e-15)


def test_round_trip_float64_is_exact_over_extended_range() -> None:
    x = np.linspace(-3.0, 5.0, 20001)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(x)), x, rtol=0, atol=1e-13)
    np.testing.assert_allclose(srgb_to_linear(linear_to_srgb(x)), x, rtol=0, atol=1e-12)


def test_round_trip_float32_keeps_dtype() -> None:
    x = np.linspace(-1.0, 4.0, 4097, dtype=np.float32).reshape(1, -1)
    y = srgb_to_linear(x)
    assert y.dtype == np.float32
    back = linear_to_srgb(y)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, x, rtol=2e-6, atol=2e-7)


def test_negative_values_are_sign_symmetric_and_monotonic() -> None:
    x = np.linspace(0.0, 3.0, 301)
    np.testing.assert_array_equal(srgb_to_linear(-x), -srgb_to_linear(x))
    np.testing.assert_array_equal(linear_to_srgb(-x), -linear_to_srgb(x))
    assert np.all(np.diff(srgb_to_linear(np.linspace(-3, 3, 601))) > 0)
    assert np.all(np.diff(linear_to_srgb(np.linspace(-3, 3, 601))) > 0)


def test_integer_input_becomes_float32() -> None:
    assert srgb_to_linear(np.array([0, 1], dtype=np.uint8)).dtype == np.float32


def test_premultiply_unpremultiply() -> None:
    rgb = np.array([[[0.2, 0.4, 0.8], [1.0, 0.5, 0.25], [0.3, 0.3, 0.3]]], dtype=np.float32)
    alpha = np.array([[0.5, 0.0, 1.0]], dtype=np.float32)
    rgb_copy, alpha_copy = rgb.copy(), alpha.copy()
    pre = premultiply(rgb, alpha)
    np.testing.assert_array_equal(pre[0, 0], np.array([0.1, 0.2, 0.4], np.float32))
    np.testing.assert_array_equal(pre[0, 1], [0.0, 0.0, 0.0])
    back = unpremultiply(pre, alpha)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back[0, 0], rgb[0, 0], rtol=1e-7)
    np.testing.assert_array_equal(back[0, 1], [0.0, 0.0, 0.0])  # alpha 0 -> colour 0
    np.testing.assert_array_equal(back[0, 2], rgb[0, 2])
    np.testing.assert_array_equal(rgb, rgb_copy)  # inputs untouched
    np.testing.assert_array_equal(alpha, alpha_copy)


def test_unpremultiply_never_makes_nan() -> None:
    rgb = np.zeros((2, 2, 3), np.float32)
    rgb[0, 0] = 0.5
    alpha = np.array([[0.0, 0.0], [-0.1, 1e-30]], np.float32)
    out = unpremultiply(rgb, alpha)
    assert np.isfinite(out).all()
    assert out[0, 0].tolist() == [0.0, 0.0, 0.0]


def test_alpha_shape_checked() -> None:
    with pytest.raises(ShapeError):
        premultiply(np.zeros((2, 3, 3)), np.zeros((3, 2)))
    with pytest.raises(ShapeError):
        unpremultiply(np.zeros((2, 3, 3)), np.zeros((2,)))
