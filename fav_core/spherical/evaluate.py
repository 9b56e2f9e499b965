"""Evaluation extras for spherical video (algorithm.md §9.6 ``func_eval``): seams per cube face, plus §7's numbers.

Per face and frame (7 numbers, as the reference):

- ``gradient_ratio``: mean gradient magnitude on the *cut edges* divided by the mean over the whole face. The cut
  edges are the inner borders of the strips where the face got its neighbours' content as a prior (the boundary
  of the union of the border-map coverage masks of those sides, :func:`cut_mask`); a visible seam there makes the
  ratio large, a seamless face has a ratio near the texture's own (≈ 1). None where the face has no cut (the front
  face, the first one stylized) or no gradient at all.
- ``edge_mse``: MSE between each trimmed face edge (the outermost pixel row/column of the face without its
  overlap) and the touching trimmed edge of its neighbour, lined up by :func:`~fav_core.spherical.faces.neighbour`
  (rotation included); per face the mean over its four sides, per side in ``edge_mse_sides``.
- ``content_loss``, ``style_loss``: :class:`fav_core.evaluate.perceptual.PerceptualEvaluator` of the face against
  its input face (when a loss network is given).
- ``temporal_error``: :func:`fav_core.evaluate.temporal.temporal_error` of the face against its previous frame,
  warped with the face's motion (backward flow, reliability as the mask).
- ``temporal_error_seam_band`` (ours): the same per-pixel temporal error, averaged only over the core pixels
  within ``overlap // 4`` px of the face's border (:func:`seam_band`): flicker right next to the seams, where
  faces hand over to each other.
- ``overlap_disagreement`` (ours, not the reference's): how far the net's own output for the face is from the
  already stylized neighbours in their shared border strips, before blending or the border lock hide it
  (``CubeResult.disagreement``, :func:`fav_core.spherical.blend.overlap_disagreement`); None for the front face.

Fixed against the reference: the back face's edge MSE compares both of its side edges (the reference adds the
left-face edge twice), the top face compares its own edges (the reference reads the top face on both sides), the
bottom face gets an edge MSE too, the gradient mask is not min-filtered with an undefined option, and undefined
values are None instead of 0. The gradient follows the reference: central differences ``[-1, 0, 1]``, per
direction the maximum over the channels, magnitude ``√(gx² + gy²)`` on the interior pixels.

Numpy only; torch enters through the (optional) perceptual evaluator the caller passes in.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from fav_core.errors import OutputError, ShapeError, check_shape
from fav_core.evaluate.temporal import temporal_error, temporal_error_map
from fav_core.io.atomic import temp_path_for
from fav_core.spherical.faces import FACES, SIDES, Side, neighbour
from fav_core.spherical.layout import trim
from fav_core.spherical.projection import CubeGeometry

#: Metrics reported per face, in this order.
METRICS: tuple[str, ...] = (
    "gradient_ratio", "edge_mse", "content_loss", "style_loss", "temporal_error", "temporal_error_seam_band",
    "overlap_disagreement",
)


class Perceptual(Protocol):
    """What :class:`fav_core.evaluate.perceptual.PerceptualEvaluator` offers (kept structural: no torch here)."""

    def __call__(self, stylized_rgb: np.ndarray, content_rgb: np.ndarray) -> dict[str, float | None]:
        ...


def prior_sides(face: str) -> tuple[Side, ...]:
    """Sides of ``face`` whose neighbour is stylized before it in a frame (faces.FACES order).

    These are the sides that get a border prior: none for the front, the right side for the left face, the left
    side for the right face, both for the back, all four for top and bottom (reference §9.5).
    """
    before = FACES[: FACES.index(face)]
    return tuple(side for side in SIDES if neighbour(face, side).face in before)


def cut_mask(face: str, coverage: Mapping[Side, np.ndarray], sides: Sequence[Side] | None = None) -> np.ndarray:
    """Union (max) of the coverage masks of the sides that got a border prior.

    Args:
        face: face name.
        coverage: per side, the :math:`(E, E)` coverage of its border map (blend.BorderSet.coverage as numpy).
        sides: which sides; default :func:`prior_sides`.

    Returns:
        :math:`(E, E)` float32 in [0, 1] (all zeros for a face without a cut).
    """
    used = prior_sides(face) if sides is None else tuple(sides)
    shape = next(iter(coverage.values())).shape
    out = np.zeros(shape, np.float32)
    for side in used:
        out = np.maximum(out, np.asarray(coverage[side], dtype=np.float32))
    return out


def seam_band(geometry: CubeGeometry) -> np.ndarray:
    """Core pixels within ``max(1, overlap // 4)`` px of the core's border, :math:`(E, E)` bool.

    Convention:
        - the core is ``[overlap/2, E − overlap/2)`` on both axes (what the equirect output shows).
    """
    edge, half = geometry.edge, geometry.overlap // 2
    width = max(1, geometry.overlap // 4)
    idx = np.arange(edge)
    inside = (idx >= half) & (idx < edge - half)
    near = inside & ((idx < half + width) | (idx >= edge - half - width))
    core = inside[:, None] & inside[None, :]
    return core & (near[:, None] | near[None, :])


def gradient_magnitude(image: np.ndarray) -> np.ndarray:
    """Reference gradient magnitude on the interior pixels.

    Args:
        image: :math:`(H, W, C)` float image, H, W ≥ 3.

    Returns:
        :math:`(H − 2, W − 2)` float64, ``√(gx² + gy²)``, ``gx = max_c |I[y, x+1] − I[y, x−1]|``, gy alike.
    """
    check_shape(image, "H W C", "face")
    img = np.asarray(image, dtype=np.float64)
    if img.shape[0] < 3 or img.shape[1] < 3:
        raise ShapeError(f"face: need at least 3x3 pixels for gradients, got {img.shape[1]}x{img.shape[0]}")
    gx = np.abs(img[1:-1, 2:] - img[1:-1, :-2]).max(axis=-1)
    gy = np.abs(img[2:, 1:-1] - img[:-2, 1:-1]).max(axis=-1)
    return np.sqrt(gx * gx + gy * gy)


def cut_band(mask: np.ndarray) -> np.ndarray:
    """Pixels on either side of the boundary of ``mask > 0.5`` (3×3 dilation minus 3×3 erosion).

    Args:
        mask: :math:`(H, W)` coverage.

    Returns:
        :math:`(H, W)` bool. The image border is not a boundary (edges are replicated).
    """
    check_shape(mask, "H W", "cut mask")
    inside = (np.asarray(mask) > 0.5).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    grown = cv2.dilate(inside, kernel, borderType=cv2.BORDER_REPLICATE)
    shrunk = cv2.erode(inside, kernel, borderType=cv2.BORDER_REPLICATE)
    return (grown - shrunk).astype(bool)


def gradient_ratio(image: np.ndarray, mask: np.ndarray) -> float | None:
    """Mean gradient magnitude on the cut band of ``mask`` over the mean on the whole face (interior pixels).

    Args:
        image: :math:`(H, W, C)` face.
        mask: :math:`(H, W)` cut mask (:func:`cut_mask`).

    Returns:
        the ratio; None when the band is empty (no cut) or the face has no gradient.

    Raises:
        ShapeError: the sizes differ.
    """
    grad = gradient_magnitude(image)
    if mask.shape != image.shape[:2]:
        raise ShapeError(f"cut mask: expected {image.shape[:2]}, got {mask.shape}")
    band = cut_band(mask)[1:-1, 1:-1]
    whole = float(grad.mean())
    if not band.any() or whole <= 0.0:
        return None
    return float(grad[band].mean()) / whole


def _edge(image: np.ndarray, side: Side) -> np.ndarray:
    """The outermost row/column of ``image`` on ``side``, as (N, C), top-to-bottom or left-to-right."""
    if side == "left":
        return image[:, 0]
    if side == "right":
        return image[:, -1]
    if side == "top":
        return image[0]
    return image[-1]


_OPPOSITE: dict[Side, Side] = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}


def edge_pair(faces: Sequence[np.ndarray], geometry: CubeGeometry, face: str, side: Side) -> tuple[np.ndarray,
                                                                                                    np.ndarray]:
    """The trimmed edge of ``face`` on ``side`` and the neighbour's trimmed edge that touches it.

    Args:
        faces: 6 × :math:`(E, E, C)` in slot order (faces.FACES), with overlap.
        geometry: face size and overlap.
        face, side: which edge.

    Returns:
        two :math:`(E − overlap, C)` float64 arrays, pixel k of one next to pixel k of the other.

    Convention:
        - the neighbour is turned with ``numpy.rot90(k=rot)`` (faces.neighbour) so that it lies on ``side`` of the
          face; its edge on the opposite side is the touching one.
    """
    if len(faces) != len(FACES):
        raise ShapeError(f"faces: expected 6 cube faces, got {len(faces)}")
    by_name = dict(zip(FACES, faces, strict=True))
    nb = neighbour(face, side)
    own = trim(np.asarray(by_name[face]), geometry)
    other = np.rot90(trim(np.asarray(by_name[nb.face]), geometry), nb.rot)
    return _edge(own, side).astype(np.float64), _edge(other, _OPPOSITE[side]).astype(np.float64)


def edge_mse(faces: Sequence[np.ndarray], geometry: CubeGeometry, face: str, side: Side) -> float:
    """MSE (over pixels and channels) between the trimmed edge of ``face`` on ``side`` and its neighbour's."""
    a, b = edge_pair(faces, geometry, face, side)
    return float(np.mean((a - b) ** 2))


@dataclass(frozen=True)
class FaceMetrics:
    """The numbers of one face in one frame (None = not defined / not measured).

    Attributes:
        face: face name.
        gradient_ratio: cut-edge / whole-face mean gradient magnitude.
        edge_mse: mean of ``edge_mse_sides``.
        edge_mse_sides: per side, MSE to the touching neighbour edge.
        content_loss, style_loss: §7 perceptual losses (with a loss network / style image).
        temporal_error: §7 temporal error against the previous frame.
        temporal_error_seam_band: the same over :func:`seam_band` only.
        overlap_disagreement: the net's output against its neighbours in the shared strips (module docstring).
    """

    face: str
    gradient_ratio: float | None
    edge_mse: float
    edge_mse_sides: dict[str, float]
    content_loss: float | None = None
    style_loss: float | None = None
    temporal_error: float | None = None
    temporal_error_seam_band: float | None = None
    overlap_disagreement: float | None = None


@dataclass(frozen=True)
class PreviousFrame:
    """What the temporal error of a frame needs from the frame before it.

    Attributes:
        faces: 6 × :math:`(E, E, 3)` the previous frame's outputs (same kind as the evaluated faces).
        flows: 6 × :math:`(E, E, 2)` backward flow of each face (current → previous).
        masks: 6 × :math:`(E, E)` reliability of each face (1 = reliable).
    """

    faces: Sequence[np.ndarray]
    flows: Sequence[np.ndarray]
    masks: Sequence[np.ndarray]


def evaluate_cube(
    faces: Sequence[np.ndarray],
    geometry: CubeGeometry,
    coverage: Mapping[Side, np.ndarray],
    *,
    inputs: Sequence[np.ndarray] | None = None,
    previous: PreviousFrame | None = None,
    perceptual: Perceptual | None = None,
    disagreement: Sequence[float | None] | None = None,
) -> list[FaceMetrics]:
    """The per-face numbers of one frame.

    Args:
        faces: 6 × :math:`(E, E, 3)` stylized faces, slot order.
        geometry: face size and overlap.
        coverage: per side, :math:`(E, E)` border-map coverage (for the cut edges).
        inputs: 6 × :math:`(E, E, 3)` input faces (content targets), needed with ``perceptual``.
        previous: the previous frame's faces and this frame's motion, for the temporal error.
        perceptual: content/style losses per face.
        disagreement: 6 × the stylizer's overlap disagreement per face (CubeResult.disagreement), or None.

    Returns:
        6 :class:`FaceMetrics`, slot order.

    Raises:
        ShapeError: not 6 faces, or faces of the wrong size.
    """
    if len(faces) != len(FACES):
        raise ShapeError(f"faces: expected 6 cube faces, got {len(faces)}")
    edge = geometry.edge
    for n, f in enumerate(faces):
        check_shape(f, f"{edge} {edge} 3", f"face {FACES[n]}")
    if perceptual is not None and inputs is None:
        raise ShapeError("perceptual losses need the 6 input faces")
    if disagreement is not None and len(disagreement) != len(FACES):
        raise ShapeError(f"disagreement: expected 6 values, got {len(disagreement)}")
    out = []
    band = seam_band(geometry)
    for slot, name in enumerate(FACES):
        sides = {side: edge_mse(faces, geometry, name, side) for side in SIDES}
        losses: dict[str, float | None] = {}
        if perceptual is not None and inputs is not None:
            losses = perceptual(np.asarray(faces[slot], np.float32), np.asarray(inputs[slot], np.float32))
        temporal = temporal_band = None
        if previous is not None:
            temporal = temporal_error(previous.faces[slot], faces[slot], previous.flows[slot], previous.masks[slot])
            errors = temporal_error_map(previous.faces[slot], faces[slot], previous.flows[slot],
                                        previous.masks[slot])
            temporal_band = float(errors[band].mean())
        out.append(FaceMetrics(
            face=name,
            gradient_ratio=gradient_ratio(faces[slot], cut_mask(name, coverage)),
            edge_mse=math.fsum(sides.values()) / len(sides),
            edge_mse_sides=sides,
            content_loss=losses.get("content_loss"),
            style_loss=losses.get("style_loss"),
            temporal_error=temporal,
            temporal_error_seam_band=temporal_band,
            overlap_disagreement=None if disagreement is None else disagreement[slot],
        ))
    return out


def cube_edge_mse(metrics: Sequence[FaceMetrics]) -> float:
    """Mean edge MSE over the cube's 12 edges (every edge is seen from both faces with the same value)."""
    values = [v for m in metrics for v in m.edge_mse_sides.values()]
    return math.fsum(values) / len(values)


@dataclass
class CubeReport:
    """Per-frame face metrics of a run and their summary.

    Attributes:
        settings: what was evaluated (free-form, JSON-serialisable).
        frames: frame number → 6 face metrics.
    """

    settings: dict[str, Any] = field(default_factory=dict)
    frames: dict[int, list[FaceMetrics]] = field(default_factory=dict)

    def add(self, index: int, metrics: list[FaceMetrics]) -> None:
        self.frames[index] = metrics

    def summary(self) -> dict[str, Any]:
        """Per face and over all faces: mean of every metric over the frames that have it; mean cube edge MSE."""
        out: dict[str, Any] = {"frames": len(self.frames)}
        per_face: dict[str, dict[str, float | None]] = {}
        for slot, name in enumerate(FACES):
            per_face[name] = {key: _mean([getattr(m[slot], key) for m in self.frames.values()]) for key in METRICS}
        out["faces"] = per_face
        out["all_faces"] = {key: _mean([getattr(f, key) for m in self.frames.values() for f in m])
                            for key in METRICS}
        out["cube_edge_mse"] = _mean([cube_edge_mse(m) for m in self.frames.values()])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "summary": self.summary(),
            "frames": [{"frame": index, "cube_edge_mse": cube_edge_mse(m), "faces": [asdict(f) for f in m]}
                       for index, m in sorted(self.frames.items())],
        }


def _mean(values: Sequence[float | None]) -> float | None:
    have = [v for v in values if v is not None]
    return math.fsum(have) / len(have) if have else None


def write_report(path: str | Path, report: CubeReport) -> Path:
    """Write ``report`` as JSON, atomically.

    Raises:
        OutputError: the folder cannot be written (names the file).
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(final, f"cannot create its folder ({exc.strerror or exc})") from None
    text = json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"
    with temp_path_for(final) as tmp:
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, final)
        except OSError as exc:
            raise OutputError(final, f"cannot write ({exc.strerror or exc})") from None
    return final


class RunEvaluator:
    """Collects the metrics of a run frame by frame (what ``fav stylize-360 --evaluate`` uses).

    The evaluated faces are the blended, unclamped faces before the median filter (``CubeResult.raw``: what the
    next frame is warped from and what §7 measures); the temporal error uses the motion each face was stylized
    with (``CubeResult.motions``: backward flow and reliability before the min filter).

    Args:
        geometry: face size and overlap.
        coverage: per side, :math:`(E, E)` border-map coverage.
        perceptual: content/style losses per face, or None.
    """

    def __init__(
        self,
        geometry: CubeGeometry,
        coverage: Mapping[Side, np.ndarray],
        perceptual: Perceptual | None = None,
    ) -> None:
        self.geometry = geometry
        self.coverage = {side: np.asarray(c, dtype=np.float32) for side, c in coverage.items()}
        self.perceptual = perceptual
        self.report = CubeReport()
        self._prev: Sequence[np.ndarray] | None = None

    def resume_from(self, raw: Sequence[np.ndarray]) -> None:
        """The raw faces of the frame before the first one evaluated (a resumed run), for its temporal error."""
        if len(raw) != len(FACES):
            raise ShapeError(f"prior faces: expected 6 cube faces, got {len(raw)}")
        self._prev = list(raw)

    @property
    def needs_inputs(self) -> bool:
        """True when :meth:`add` needs the input faces (content loss)."""
        return self.perceptual is not None

    def add(self, result: Any, inputs: Sequence[np.ndarray] | None = None) -> list[FaceMetrics]:
        """Measure one :class:`~fav_core.spherical.stylizer360.CubeResult` (``index``, ``raw``, ``motions``).

        Args:
            result: the stylized frame.
            inputs: its 6 input faces (needed with a perceptual evaluator).
        """
        previous = None
        motions = list(getattr(result, "motions", []) or [])
        if self._prev is not None and len(motions) == len(FACES) and all(m is not None for m in motions):
            previous = PreviousFrame(self._prev, [m.flow for m in motions], [m.reliable for m in motions])
        measured = list(getattr(result, "disagreement", []) or [])
        metrics = evaluate_cube(result.raw, self.geometry, self.coverage, inputs=inputs, previous=previous,
                                perceptual=self.perceptual, disagreement=measured or None)
        self.report.add(int(result.index), metrics)
        self._prev = result.raw
        return metrics


#: The per-frame metrics of a run, one JSON line per frame, kept with the run state so that a resumed or continued
#: run reports every frame of the output, not only the frames it stylized itself.
METRICS_LOG = "evaluation.jsonl"


def log_frame_metrics(folder: str | Path, index: int, metrics: Sequence[FaceMetrics], key: Mapping[str, Any]) -> None:
    """Append frame ``index``'s metrics to ``folder/evaluation.jsonl`` (one line, flushed to disk).

    Args:
        folder: the run-state folder (``.fav-state``).
        index: frame number.
        metrics: its 6 face metrics.
        key: what the numbers depend on besides the frames (the loss network, style image ...): a later run
            only takes over lines with the same key.

    Raises:
        OutputError: the file cannot be written.
    """
    path = Path(folder) / METRICS_LOG
    line = json.dumps({"frame": int(index), "key": dict(key), "faces": [asdict(m) for m in metrics]},
                      allow_nan=False, sort_keys=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise OutputError(path, f"cannot write the evaluation log ({exc.strerror or exc})") from None


def load_frame_metrics(folder: str | Path, frames: Sequence[int], key: Mapping[str, Any]) -> dict[int, list[FaceMetrics]]:
    """The metrics an earlier run logged for ``frames`` with the same ``key`` (the last line of a frame wins; a
    torn or foreign line is skipped). Frames without a usable line are left out."""
    path = Path(folder) / METRICS_LOG
    wanted = set(frames)
    found: dict[int, list[FaceMetrics]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return found
    for text in lines:
        try:
            rec = json.loads(text)
            index = int(rec["frame"])
            if index not in wanted or rec.get("key") != dict(key):
                continue
            faces = [FaceMetrics(**face) for face in rec["faces"]]
        except (ValueError, TypeError, KeyError, RecursionError):
            continue
        if [m.face for m in faces] == list(FACES):
            found[index] = faces
    return found
