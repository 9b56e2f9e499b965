"""Device-side reliability maps (fav_core.occlusion_torch) against the numpy reference (fav_core.occlusion), on CPU."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import fav_core.occlusion_torch as ot
from fav_core.errors import ConfigError, ShapeError
from fav_core.occlusion import consistency_check, fix_occlusions, invert, min_filter, structure_term
from fav_core.occlusion_torch import (
    consistency_check_t,
    fix_occlusions_t,
    invert_t,
    min_filter_t,
    structure_term_t,
)


def _t(a: np.ndarray) -> torch.Tensor:
    """(H, W, C) numpy -> (1, C, H, W) tensor."""
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]


def _flows(rng: np.random.Generator, h: int, w: int, bad: bool = False) -> tuple[np.ndarray, np.ndarray]:
    bwd = rng.normal(0.0, 2.0, (h, w, 2)).astype(np.float32)
    fwd = (-bwd + rng.normal(0.0, 0.6, (h, w, 2))).astype(np.float32)
    if bad:
        bwd[0, 0, 0] = np.nan
        fwd[1, 1, 1] = np.inf
        bwd[2, 3, 1] = -np.inf
    return bwd, fwd


SIZES = [(1, 1), (2, 5), (7, 3), (16, 24), (23, 17)]


@pytest.mark.parametrize("h,w", SIZES)
@pytest.mark.parametrize("motion_boundaries", [False, True])
def test_check_without_image_is_bit_identical(h: int, w: int, motion_boundaries: bool) -> None:
    rng = np.random.default_rng(h * 100 + w)
    bwd, fwd = _flows(rng, h, w, bad=h > 3 and w > 3)
    with np.errstate(invalid="ignore"):
        want = consistency_check(bwd, fwd, motion_boundaries=motion_boundaries)
    got = consistency_check_t(_t(bwd), _t(fwd), motion_boundaries=motion_boundaries)
    assert got.shape == (1, 1, h, w) and got.dtype == torch.float32
    np.testing.assert_array_equal(got[0, 0].numpy(), want)


def test_check_example_of_the_numpy_docstring() -> None:
    w = np.zeros((4, 5, 2), np.float32)
    w[..., 0] = 1.0
    assert consistency_check_t(_t(w), _t(-w))[0, 0, 0].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]


def test_check_is_per_sample_in_a_batch() -> None:
    rng = np.random.default_rng(3)
    pairs = [_flows(rng, 9, 11) for _ in range(3)]
    images = [rng.random((9, 11, 3)).astype(np.float32) * 255 for _ in range(3)]
    batch = consistency_check_t(torch.cat([_t(b) for b, _ in pairs]), torch.cat([_t(f) for _, f in pairs]),
                                torch.cat([_t(i) for i in images]))
    for n, ((b, f), img) in enumerate(zip(pairs, images, strict=True)):
        np.testing.assert_array_equal(batch[n], consistency_check_t(_t(b), _t(f), _t(img))[0])


@pytest.mark.parametrize("h,w", [(5, 4), (16, 24), (31, 29)])
def test_structure_term_within_tolerance(h: int, w: int) -> None:
    rng = np.random.default_rng(h + w)
    img = (rng.random((h, w, 3)) * 255).astype(np.float32)
    img[: h // 2, : w // 2] = 80.0  # a textureless patch: S > 0 there
    want = structure_term(img)
    got = structure_term_t(_t(img))[0].numpy()
    assert want.max() > 0.5
    # OpenCV sums the 25 Gaussian taps in float32 in its own order; the smallest-eigenvalue step (a difference of
    # near-equal numbers) and the min-max normalisation amplify that rounding most on white noise.
    np.testing.assert_allclose(got, want, rtol=0, atol=5e-4)


def test_structure_term_on_a_smooth_image_within_2e_5() -> None:
    import cv2

    rng = np.random.default_rng(2)
    img = cv2.resize(rng.random((6, 8, 3)).astype(np.float32), (80, 60), interpolation=cv2.INTER_CUBIC) * 255
    np.testing.assert_allclose(structure_term_t(_t(img))[0].numpy(), structure_term(img), rtol=0, atol=2e-5)


def test_structure_term_flat_image_is_zero() -> None:
    assert structure_term_t(torch.full((1, 3, 6, 7), 42.0)).abs().max().item() == 0.0


def test_check_with_image_is_exact_given_the_same_structure_term(monkeypatch: pytest.MonkeyPatch) -> None:
    """All arithmetic but the Gaussian is identical: with the numpy S the torch check equals the numpy check."""
    rng = np.random.default_rng(7)
    bwd, fwd = _flows(rng, 19, 23)
    img = (rng.random((19, 23, 3)) * 255).astype(np.float32)
    want = consistency_check(bwd, fwd, image=img)
    monkeypatch.setattr(ot, "structure_term_t", lambda image: torch.from_numpy(structure_term(img))[None])
    np.testing.assert_array_equal(consistency_check_t(_t(bwd), _t(fwd), _t(img))[0, 0].numpy(), want)


def test_check_with_image_differs_only_at_near_ties() -> None:
    rng = np.random.default_rng(11)
    bwd = rng.normal(0.0, 1.0, (32, 40, 2)).astype(np.float32)
    fwd = (-bwd + rng.normal(0.0, 0.3, (32, 40, 2))).astype(np.float32)
    img = (rng.random((32, 40, 3)) * 255).astype(np.float32)
    want = consistency_check(bwd, fwd, image=img)
    got = consistency_check_t(_t(bwd), _t(fwd), _t(img))[0, 0].numpy()
    assert 0.1 < want.mean() < 0.9  # both outcomes occur
    assert np.mean(got != want) <= 0.002


def test_check_shape_errors() -> None:
    f = torch.zeros(1, 2, 4, 5)
    with pytest.raises(ShapeError, match="flow_fwd"):
        consistency_check_t(f, torch.zeros(1, 2, 4, 6))
    with pytest.raises(ShapeError, match="flow_bwd"):
        consistency_check_t(torch.zeros(2, 4, 5), f)
    with pytest.raises(ShapeError, match="image"):
        consistency_check_t(f, f, torch.zeros(1, 3, 4, 4))


@pytest.mark.parametrize("k", [1, 3, 5, 7, 9])
def test_min_filter_is_bit_identical(k: int) -> None:
    rng = np.random.default_rng(k)
    m = rng.random((13, 17)).astype(np.float32)
    m[rng.random((13, 17)) < 0.2] = 0.0
    got = min_filter_t(torch.from_numpy(m)[None, None], k)
    np.testing.assert_array_equal(got[0, 0].numpy(), min_filter(m, k))


def test_min_filter_border_does_not_erode_and_errors() -> None:
    ones = torch.ones(1, 1, 5, 6)
    assert min_filter_t(ones, 7).min().item() == 1.0
    with pytest.raises(ConfigError, match="odd"):
        min_filter_t(ones, 4)
    with pytest.raises(ShapeError):
        min_filter_t(torch.ones(1, 2, 5, 6), 3)


def test_min_filter_returns_a_new_tensor() -> None:
    m = torch.ones(1, 1, 3, 3)
    out = min_filter_t(m, 1)
    out[0, 0, 0, 0] = 0.0
    assert m[0, 0, 0, 0].item() == 1.0


def test_invert_and_fix_are_bit_identical() -> None:
    rng = np.random.default_rng(5)
    m = (rng.random((14, 18)) > 0.3).astype(np.float32)
    flow = rng.normal(0, 4, (14, 18, 2)).astype(np.float32)
    np.testing.assert_array_equal(invert_t(torch.from_numpy(m)[None, None])[0, 0].numpy(), invert(m))
    got = fix_occlusions_t(torch.from_numpy(m)[None, None], _t(flow))[0, 0].numpy()
    want = fix_occlusions(m, flow)
    assert (want < m).any()  # some flow leaves the frame
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ShapeError, match="flow"):
        fix_occlusions_t(torch.from_numpy(m)[None, None], torch.zeros(1, 2, 3, 3))
