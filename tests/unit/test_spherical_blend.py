"""Border priors and blending: faces cut from one sphere agree through the maps; seams shrink after blending."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fav_core.errors import ConfigError, ShapeError
from fav_core.spherical.blend import (
    LOCK_HOLD,
    Border,
    blend_other_sides,
    blend_prior,
    gather_border,
    lock_border,
    lock_weight,
    make_border_set,
    neighbour_fill,
    overlap_disagreement,
    smooth_certainty,
)
from fav_core.spherical.faces import FACES
from fav_core.spherical.projection import CubeGeometry, CubeToEquirect, EquirectToCube
from fav_core.spherical.seams import seam_difference
from fav_core.spherical.synthetic import rotating_scene

GEOM = CubeGeometry(48, 16)


def sphere_faces() -> list[torch.Tensor]:
    faces = EquirectToCube(GEOM, (64, 128))(rotating_scene(128, 64, 0))
    return [torch.from_numpy(f.transpose(2, 0, 1).copy())[None] for f in faces]


@pytest.mark.parametrize("maps,tol", [("reference", 0.03), ("exact", 0.012)])
def test_neighbours_reproduce_each_face_in_its_border(maps: str, tol: float) -> None:
    # Faces cut from one scene: warping the neighbours into a face's strips must give that face's own pixels
    # (this checks maps, rotations and adjacency together).
    borders = make_border_set(GEOM, device="cpu", maps=maps)
    faces = sphere_faces()
    by_name = dict(zip(FACES, faces, strict=True))
    for name in FACES:
        border = gather_border(name, {k: v for k, v in by_name.items() if k != name}, borders)
        assert border.sides == ("left", "right", "top", "bottom")
        full = (border.coverage[0, 0] > 0.999) & (border.certainty[0, 0] > 0.999)
        assert full.float().mean() > 0.45  # the four strips (16 px of 48) are covered
        err = (border.content - by_name[name]).abs()[0].mean(0)[full]
        assert float(err.max()) < tol, (name, float(err.max()))
        assert float(err.mean()) < tol / 4


def test_partial_border_uses_only_done_faces() -> None:
    borders = make_border_set(GEOM)
    faces = sphere_faces()
    left = gather_border("left", {"front": faces[0]}, borders)
    assert left.sides == ("right",)
    assert float(left.content[..., :, :24].abs().max()) == 0.0  # nothing on the left half
    assert torch.equal(left.ramp, borders.ramps["right"])
    assert torch.equal(left.certainty, borders.coverage["right"])
    empty = gather_border("front", {}, borders)
    assert empty.sides == () and float(empty.content.abs().max()) == 0.0 and float(empty.ramp.max()) == 0.0
    with pytest.raises(ShapeError, match="expected a"):
        gather_border("left", {"front": torch.zeros(1, 3, 40, 40)}, borders)


@pytest.mark.parametrize("maps,tol", [("reference", 0.06), ("exact", 0.015)])
def test_blend_keeps_consistent_faces(maps: str, tol: float) -> None:
    # Consistent faces only change by the maps' sub-pixel error (measured max 0.047 reference, 0.009 exact,
    # at the outermost face columns where the reference maps are ~1 px off).
    borders = make_border_set(GEOM, maps=maps)
    faces = sphere_faces()
    for a, b in zip(faces, blend_other_sides(faces, borders), strict=True):
        assert float((a - b).abs().max()) < tol
        assert float((a - b).abs().mean()) < tol / 10


def test_blend_removes_per_face_offsets() -> None:
    borders = make_border_set(GEOM)
    faces = sphere_faces()
    # Give every face its own colour offset (what per-face instance statistics do), then blend.
    shifted = [f + 0.1 * (n - 2.5) for n, f in enumerate(faces)]
    c2e = CubeToEquirect(GEOM, (64, 128))

    def to_np(ts: list[torch.Tensor]) -> list[np.ndarray]:
        return [t[0].permute(1, 2, 0).numpy() for t in ts]

    before = seam_difference(c2e(to_np(shifted)), c2e.face_index)
    after = seam_difference(c2e(to_np(blend_other_sides(shifted, borders))), c2e.face_index)
    base = seam_difference(c2e(to_np(faces)), c2e.face_index)
    assert before > 5 * base
    assert after - base < 0.35 * (before - base)  # measured: the added seam shrinks to ~0.2 of itself


def test_blend_prior_and_smooth_certainty_values() -> None:
    ramp = torch.tensor([0.5, 0.25, 0.0, 0.75]).view(1, 1, 1, 4)
    cert = torch.tensor([1.0, 0.0, 0.0, 1.0]).view(1, 1, 1, 4)
    border = Border(
        content=torch.ones(1, 3, 1, 4), coverage=torch.tensor([1.0, 1.0, 1.0, 0.5]).view(1, 1, 1, 4),
        certainty=cert, ramp=ramp, sides=("right",),
    )
    prior = blend_prior(torch.zeros(1, 3, 1, 4), border, cert)
    # alpha = coverage * max(ramp, ceil(ramp) * (1 - certainty))
    np.testing.assert_allclose(prior[0, 0, 0].numpy(), [0.5, 1.0, 0.0, 0.375])
    sm = smooth_certainty(torch.tensor([0.9, 0.9, 0.1, 1.0]).view(1, 1, 1, 4), ramp)
    np.testing.assert_allclose(sm[0, 0, 0].numpy(), [0.25, 0.25, 0.1, 1.0])


def test_border_set_settings() -> None:
    b = make_border_set(CubeGeometry(768, 128))
    assert b.ramp_width == 118
    assert b.maps["right"].shape == (1, 2, 768, 768)
    assert float(b.ramp_all.max()) == pytest.approx(118 / 119)
    with pytest.raises(ConfigError, match="ramp width"):
        make_border_set(GEOM, ramp_width=17)
    with pytest.raises(ConfigError, match="at least 2 px"):
        make_border_set(CubeGeometry(48, 0))
    with pytest.raises(ShapeError, match="expected 6"):
        blend_other_sides(sphere_faces()[:5], make_border_set(GEOM))


def test_lock_weight_profile() -> None:
    # 48-px faces, 16 px overlap (8 per side); exact maps cover the full strip, ramp width g = 14 of which
    # 6 px lie inside the core. hold=3 keeps min(3, 6 // 2) = 3 core px next to the seam at 1.
    borders = make_border_set(GEOM, maps="exact")
    faces = sphere_faces()
    left = gather_border("left", {"front": faces[0]}, borders)  # strip on the left face's right side
    w = lock_weight(left, borders, hold=3)[0, 0, 24]  # middle row
    g, half, edge = borders.ramp_width, GEOM.overlap // 2, GEOM.edge
    assert g == 14
    held = edge - half - 1 - 3  # first column at 1: 3 core px before the seam column
    assert float(w[: edge - g].abs().max()) == 0.0  # nothing outside the ramp
    np.testing.assert_allclose(w[held:].numpy(), 1.0, atol=1e-6)  # held core px, the seam, the overlap
    rising = w[edge - g: held + 1].numpy()
    assert np.all(np.diff(rising) > 0) and rising[:-1].max() < 1.0
    # smoothstep: the last step into the held part is smaller than the largest one (no kink where it reaches 1)
    steps = np.diff(rising)
    assert steps[-1] < steps.max()
    # the default (LOCK_HOLD = 0): 1 exactly from the seam column outwards
    assert LOCK_HOLD == 0
    w0 = lock_weight(left, borders)[0, 0, 24]
    np.testing.assert_allclose(w0[edge - half - 1:].numpy(), 1.0, atol=1e-6)
    assert float(w0[edge - half - 2]) < 1.0
    # a ramp no wider than half the overlap: the lock covers exactly the ramp pixels
    narrow = make_border_set(GEOM, ramp_width=half, maps="exact")
    wn = lock_weight(gather_border("left", {"front": faces[0]}, narrow), narrow)[0, 0, 24]
    np.testing.assert_allclose(wn.numpy(), np.r_[np.zeros(edge - half), np.ones(half)], atol=1e-6)


def test_lock_border_composites_the_neighbour_content() -> None:
    border = Border(
        content=torch.full((1, 3, 1, 4), 0.5), coverage=torch.tensor([1.0, 0.5, 1.0, 0.0]).view(1, 1, 1, 4),
        certainty=torch.ones(1, 1, 1, 4), ramp=torch.zeros(1, 1, 1, 4), sides=("right",),
    )
    weight = torch.tensor([1.0, 0.5, 0.25, 0.0]).view(1, 1, 1, 4)
    face = torch.zeros(1, 3, 1, 4)
    out = lock_border(face, border, weight)
    # content / coverage: 0.5, 1.0 (dimmed by half coverage), 0.5, -
    np.testing.assert_allclose(out[0, 0, 0].numpy(), [0.5, 0.5, 0.125, 0.0])
    assert lock_border(face, Border(border.content, border.coverage, border.certainty, border.ramp, ()),
                       weight) is face


def test_overlap_disagreement() -> None:
    borders = make_border_set(GEOM, maps="exact")
    faces = sphere_faces()
    left = gather_border("left", {"front": faces[0]}, borders)
    assert overlap_disagreement(faces[1], left) == pytest.approx(0.0, abs=0.005)  # cut from one sphere
    assert overlap_disagreement(faces[1] + 0.2, left) == pytest.approx(0.2, abs=0.005)
    assert overlap_disagreement(faces[0], gather_border("front", {}, borders)) is None


def test_neighbour_fill_brings_the_neighbours_content_in() -> None:
    # Faces cut from one sphere: the neighbours' (fully reliable) content warped into a face's strips is the
    # face's own content there; an unreliable neighbour contributes nothing.
    borders = make_border_set(GEOM, maps="exact")
    faces = sphere_faces()
    by_name = dict(zip(FACES, faces, strict=True))
    ones = {n: torch.ones(1, 1, 48, 48) for n in FACES}
    fill, weight = neighbour_fill("left", by_name, ones, borders)
    strips = weight[0, 0] > 0.999
    assert 0.7 < float(strips.float().mean()) < 0.85  # the four strips, about 14 px each (1 - (20/48)^2 = 0.83)
    assert float(weight[0, 0, 24, 24]) == 0.0  # nothing in the middle of the face
    err = (fill - by_name["left"]).abs()[0].mean(0)[strips]
    assert float(err.max()) < 0.015
    no_front = dict(ones, front=torch.zeros(1, 1, 48, 48))
    _, w2 = neighbour_fill("left", by_name, no_front, borders)
    assert float(w2[0, 0, 24, 47]) == 0.0  # the right strip comes from the front face only
    assert float(w2[0, 0, 24, 0]) > 0.999  # the left strip from the back face is still there
