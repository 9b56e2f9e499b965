"""VR evaluation extras (algorithm.md §9.6): cut-edge gradient ratio, trimmed edge MSE, temporal/perceptual per face."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fav_core.errors import ShapeError
from fav_core.spherical.evaluate import (
    CubeReport,
    PreviousFrame,
    cube_edge_mse,
    cut_band,
    cut_mask,
    edge_mse,
    edge_pair,
    evaluate_cube,
    gradient_ratio,
    prior_sides,
    seam_band,
    write_report,
)
from fav_core.spherical.faces import FACES, SIDES, face_directions
from fav_core.spherical.projection import CubeGeometry

GEOM = CubeGeometry(12, 4)


def seamless_cube(geometry: CubeGeometry = GEOM) -> list[np.ndarray]:
    """Faces coloured by a function of the direction that is invariant under swapping two coordinates and under
    flipping the signs of two of them (the mirror across each cube edge's bisecting plane), but not under flipping
    one sign: the touching pixels of two faces are such mirror images, so their colours agree exactly — and only
    when the neighbour is lined up the right way round (xyz changes sign if an edge is reversed)."""
    out = []
    for face in FACES:
        d = face_directions(face, geometry.coords())
        mag = np.sort(np.abs(d), axis=-1)
        sign = np.prod(np.sign(d), axis=-1)
        sq = mag * mag
        norm2 = sq[..., 0] + sq[..., 1] + sq[..., 2]
        r = (sq[..., 0] + 0.5 * sq[..., 1]) / norm2
        g = 0.5 + 2.0 * sign * mag[..., 0] * mag[..., 1] * mag[..., 2] / norm2 ** 1.5
        b = sq[..., 2] / norm2
        out.append(np.stack([r, g, b], axis=-1).astype(np.float32))
    return out


def full_coverage(edge: int) -> dict[str, np.ndarray]:
    """Toy coverage: each side's strip is its outer 3 pixels."""
    cov = {s: np.zeros((edge, edge), np.float32) for s in SIDES}
    cov["left"][:, :3] = 1
    cov["right"][:, -3:] = 1
    cov["top"][:3] = 1
    cov["bottom"][-3:] = 1
    return cov


def test_prior_sides_follow_the_processing_order() -> None:
    assert prior_sides("front") == ()
    assert prior_sides("left") == ("right",)
    assert prior_sides("right") == ("left",)
    assert prior_sides("back") == ("left", "right")
    assert prior_sides("top") == SIDES
    assert prior_sides("bottom") == SIDES


def test_gradient_ratio_of_a_step_on_the_cut_is_exact() -> None:
    img = np.zeros((8, 8, 3), np.float32)
    img[:, 5:, 1] = 1.0  # a step where the border strip starts; only one channel (max over channels)
    mask = np.zeros((8, 8), np.float32)
    mask[:, 5:] = 1.0
    assert np.nonzero(cut_band(mask)[3])[0].tolist() == [4, 5]
    # interior 6x6: |gx| = 1 in columns 4, 5 (12 of 36 px) -> mean 1/3; the band holds exactly those -> 3
    assert gradient_ratio(img, mask) == pytest.approx(3.0, rel=1e-12)
    # the same step away from the cut: the band sees no gradient
    shifted = np.zeros_like(img)
    shifted[:, 2:] = 1.0
    assert gradient_ratio(shifted, mask) == 0.0


def test_gradient_ratio_undefined_without_cut_or_texture() -> None:
    img = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    assert gradient_ratio(img, np.zeros((8, 8), np.float32)) is None
    mask = np.zeros((8, 8), np.float32)
    mask[:, 4:] = 1
    assert gradient_ratio(np.full((8, 8, 3), 0.3, np.float32), mask) is None
    with pytest.raises(ShapeError):
        gradient_ratio(img, np.zeros((8, 7), np.float32))


def test_cut_mask_unions_the_prior_sides() -> None:
    cov = full_coverage(12)
    assert cut_mask("front", cov).sum() == 0
    assert np.array_equal(cut_mask("left", cov), cov["right"])
    assert np.array_equal(cut_mask("back", cov), np.maximum(cov["left"], cov["right"]))
    assert cut_mask("top", cov).sum() == 12 * 12 - 6 * 6


def test_seamless_cube_has_zero_edge_mse() -> None:
    faces = seamless_cube()
    assert float(np.ptp(faces[0][..., 1])) > 0.05  # not a constant picture
    for face in FACES:
        for side in SIDES:
            a, b = edge_pair(faces, GEOM, face, side)
            assert a.shape == (GEOM.core, 3)
            assert edge_mse(faces, GEOM, face, side) == 0.0, (face, side)


def test_a_wrongly_rotated_neighbour_would_show() -> None:
    """The test texture is not symmetric along an edge: a reversed edge gives a clearly non-zero MSE."""
    faces = seamless_cube()
    a, b = edge_pair(faces, GEOM, "top", "right")
    assert np.mean((a - b[::-1]) ** 2) > 1e-4


def test_one_face_offset_by_a_constant_gives_the_known_mse() -> None:
    c = 0.25
    faces = seamless_cube()
    faces[FACES.index("top")] = faces[FACES.index("top")] + np.float32(c)
    metrics = evaluate_cube(faces, GEOM, full_coverage(GEOM.edge))
    by = {m.face: m for m in metrics}
    assert by["top"].edge_mse == pytest.approx(c * c, rel=1e-6)
    assert all(v == pytest.approx(c * c, rel=1e-6) for v in by["top"].edge_mse_sides.values())
    for name in ("front", "left", "right", "back"):  # one of four sides touches the top
        assert by[name].edge_mse == pytest.approx(c * c / 4, rel=1e-6)
        assert sorted(by[name].edge_mse_sides.values())[-1] == pytest.approx(c * c, rel=1e-6)
    assert by["bottom"].edge_mse == 0.0
    assert cube_edge_mse(metrics) == pytest.approx(c * c / 3, rel=1e-6)  # 4 of 12 edges


def test_temporal_and_perceptual_per_face() -> None:
    faces = seamless_cube()
    prev = [f - np.float32(0.5) for f in faces]
    flows = [np.zeros((GEOM.edge, GEOM.edge, 2), np.float32)] * 6
    masks = [np.ones((GEOM.edge, GEOM.edge), np.float32)] * 6
    masks[2] = np.zeros_like(masks[2])  # nothing reliable on the right face
    inputs = [np.full_like(f, 0.1 * n) for n, f in enumerate(faces)]
    seen: list[float] = []

    def perceptual(stylized: np.ndarray, content: np.ndarray) -> dict[str, float | None]:
        seen.append(float(content[0, 0, 0]))
        return {"content_loss": float(np.mean((stylized - content) ** 2)), "style_loss": None}

    metrics = evaluate_cube(faces, GEOM, full_coverage(GEOM.edge), inputs=inputs,
                            previous=PreviousFrame(prev, flows, masks), perceptual=perceptual)
    assert [m.temporal_error for m in metrics] == pytest.approx([0.25, 0.25, 0.0, 0.25, 0.25, 0.25])
    assert seen == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert metrics[3].content_loss == pytest.approx(float(np.mean((faces[3] - np.float32(0.3)) ** 2)))
    assert metrics[0].style_loss is None
    assert metrics[0].gradient_ratio is None  # the front face has no cut
    assert metrics[4].gradient_ratio is not None


def test_temporal_error_next_to_the_seams() -> None:
    geom = CubeGeometry(16, 8)  # core 4..11, band width 8 // 4 = 2 px: the core's outer ring of 2 px
    band = seam_band(geom)
    assert band.sum() == 8 * 8 - 4 * 4
    assert band[4, 4] and band[5, 8] and not band[6, 6] and not band[3, 8] and not band[12, 8]
    faces = [np.zeros((16, 16, 3), np.float32) for _ in range(6)]
    prev = [f.copy() for f in faces]
    prev[1][4:6, 4:12] = 1.0  # a change only in the band of the left face (2 rows of 8 px)
    flows = [np.zeros((16, 16, 2), np.float32)] * 6
    masks = [np.ones((16, 16), np.float32)] * 6
    metrics = evaluate_cube(faces, geom, full_coverage(16), previous=PreviousFrame(prev, flows, masks))
    assert metrics[1].temporal_error == pytest.approx(16 / 256)
    assert metrics[1].temporal_error_seam_band == pytest.approx(16 / 48)
    assert metrics[0].temporal_error_seam_band == 0.0
    assert evaluate_cube(faces, geom, full_coverage(16))[1].temporal_error_seam_band is None


def test_evaluate_cube_rejects_bad_input() -> None:
    faces = seamless_cube()
    with pytest.raises(ShapeError):
        evaluate_cube(faces[:5], GEOM, full_coverage(GEOM.edge))
    with pytest.raises(ShapeError):
        evaluate_cube([f[:-1] for f in faces], GEOM, full_coverage(GEOM.edge))
    with pytest.raises(ShapeError):
        evaluate_cube(faces, GEOM, full_coverage(GEOM.edge), perceptual=lambda a, b: {})


def test_report_summary_and_json(tmp_path: Path) -> None:
    faces = seamless_cube()
    cov = full_coverage(GEOM.edge)
    report = CubeReport(settings={"model": "x"})
    report.add(1, evaluate_cube(faces, GEOM, cov))
    shifted = list(faces)
    shifted[FACES.index("top")] = faces[FACES.index("top")] + np.float32(0.5)
    report.add(2, evaluate_cube(shifted, GEOM, cov))
    summary = report.summary()
    assert summary["frames"] == 2
    assert summary["faces"]["top"]["edge_mse"] == pytest.approx(0.125)  # (0 + 0.25) / 2
    assert summary["cube_edge_mse"] == pytest.approx(0.25 / 3 / 2)
    assert summary["faces"]["front"]["temporal_error"] is None
    path = write_report(tmp_path / "sub" / "report.json", report)
    data = json.loads(path.read_text())
    assert [f["frame"] for f in data["frames"]] == [1, 2]
    assert [f["face"] for f in data["frames"][1]["faces"]] == list(FACES)
    assert data["frames"][1]["faces"][4]["edge_mse_sides"]["left"] == pytest.approx(0.25)


def test_run_evaluator_chains_frames_and_resumes() -> None:
    from types import SimpleNamespace

    from fav_core.motion import Motion
    from fav_core.spherical.evaluate import RunEvaluator

    faces = seamless_cube()
    still = [Motion(np.zeros((GEOM.edge, GEOM.edge, 2), np.float32), np.ones((GEOM.edge, GEOM.edge), np.float32),
                    "test")] * 6
    first = SimpleNamespace(index=1, raw=faces, motions=[None] * 6)
    second = SimpleNamespace(index=2, raw=[f + np.float32(0.25) for f in faces], motions=still)
    run = RunEvaluator(GEOM, full_coverage(GEOM.edge))
    assert all(m.temporal_error is None for m in run.add(first))
    assert [m.temporal_error for m in run.add(second)] == pytest.approx([0.0625] * 6)
    resumed = RunEvaluator(GEOM, full_coverage(GEOM.edge))
    resumed.resume_from(faces)  # frame 1's faces from the saved state
    assert [m.temporal_error for m in resumed.add(second)] == pytest.approx([0.0625] * 6)
    assert sorted(run.report.frames) == [1, 2] and sorted(resumed.report.frames) == [2]
    with pytest.raises(ShapeError):
        resumed.resume_from(faces[:3])
