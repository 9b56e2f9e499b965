"""Border priors from neighbouring faces, ramp blending and ``blend_other_sides`` (algorithm.md §9.5–9.6).

Everything works on ``(1, C, E, E)`` tensors of one face. A face's *side* (left/right/top/bottom) is filled by
warping its (rotated) neighbour with the border map of that side (faces.MAP_FOR_SIDE). Per side we precompute:

- ``maps[side]``: :math:`(1, 2, E, E)` offsets (border_maps, channel 0 = dx);
- ``coverage[side]``: :math:`(1, 1, E, E)` = warp(ones, map), the reference's mask_left/right/top/bottom;
- ``ramps[side]``: :math:`(1, 1, E, E)` blending ramp: over the ``g`` pixels next to that side, from g/(g+1)
  at the face border down to 1/(g+1) (reference ``make_gradient_mask_*``; the reference's grad_mask_right is our
  ``ramps["right"]``).

The reference's ramp width is ``overlap − 10`` (for 768-px faces with 128 px overlap); the 10 pixels are the strip
columns the border map cannot fill (its samples fall outside the neighbour). :func:`default_ramp_width` computes
exactly that count from the map, so it gives 118 for the reference sizes and scales to other sizes.

Beyond the reference, :func:`lock_weight` / :func:`lock_border` composite a face's border content back over the
net's output ("border lock"): the video net only approximately reproduces its prior (mean |out − prior| ≈ 0.07 in
the strips with the shipped model), so without the lock the two faces still differ at the seam.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fav_core.errors import ConfigError, ShapeError
from fav_core.spherical.border_maps import (
    exact_map,
    warp_map_bottom,
    warp_map_left,
    warp_map_right,
    warp_map_top,
)
from fav_core.spherical.faces import FACES, SIDES, Side, neighbour
from fav_core.spherical.projection import CubeGeometry
from fav_core.warp import warp_backward

MAP_KINDS = ("reference", "exact")
#: Core pixels next to the seam that the border lock keeps fully at the neighbour's content (lock_weight). 0: the
#: hand-over starts at the seam; holding 4 px (the Lanczos-4 reach) measured no better at the seams and imported
#: more of the neighbour's least stable pixels (its outer ring) into the face: temporal error next to the seam
#: 0.0067 vs 0.0055 (bench/RESULTS.md).
LOCK_HOLD = 0


def side_map(side: Side, edge: int, overlap: int, kind: str = "reference") -> np.ndarray:
    """The border map that fills ``side`` of an edge × edge face, (E, E, 2) float32.

    ``kind="reference"``: the reference's maps with their defaults (strip = overlap, oversize = overlap / 2);
    ``"exact"``: border_maps.exact_map for the same strip (the true perspective of our cube geometry).
    """
    if kind == "exact":
        return exact_map(side, edge, overlap, overlap)
    if kind != "reference":
        raise ConfigError(f"border maps must be one of {', '.join(MAP_KINDS)}, got {kind!r}")
    if side == "right":
        return warp_map_left(edge, overlap, edge)
    if side == "left":
        return warp_map_right(edge, overlap, edge)
    if side == "bottom":
        return warp_map_top(edge, overlap, edge)
    if side == "top":
        return warp_map_bottom(edge, overlap, edge)
    raise ConfigError(f"unknown face side {side!r}")


def _warp(image: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    return warp_backward(image, offsets)


def _into_strip(image: torch.Tensor, face: str, side: Side, borders: BorderSet) -> torch.Tensor:
    """``image`` of ``face``'s neighbour on ``side``, turned (faces.neighbour) and warped into that side's strip."""
    rot = neighbour(face, side).rot
    return _warp(torch.rot90(image, rot, dims=(2, 3)) if rot else image, borders.maps[side])


def default_ramp_width(geometry: CubeGeometry) -> int:
    """Columns of the reference border strip that its map reaches (coverage > 0 on the middle row): 118 for
    768/128, the reference's ``overlap − 10``."""
    offsets = torch.from_numpy(side_map("right", geometry.edge, geometry.overlap)).permute(2, 0, 1)[None]
    ones = torch.ones(1, 1, geometry.edge, geometry.edge)
    cov = _warp(ones, offsets)[0, 0, geometry.edge // 2, geometry.edge - geometry.overlap:]
    return int((cov > 0).sum())


def ramp(side: Side, edge: int, width: int) -> np.ndarray:
    """Blending ramp next to ``side``: (E, E) float32, g/(g+1) at the border down to 1/(g+1), 0 elsewhere.

    Convention:
        - left: column j < g has (g − j)/(g + 1); right: column E − g + j has (j + 1)/(g + 1); top/bottom the same
          over rows (reference ``make_gradient_mask_{w,h}_{dec,inc}``).
    """
    if width < 0 or width > edge:
        raise ConfigError(f"ramp width must be in 0..{edge}, got {width}")
    out = np.zeros((edge, edge), np.float32)
    values = np.arange(1, width + 1, dtype=np.float32) / np.float32(width + 1)
    if width == 0:
        return out
    if side == "left":
        out[:, :width] = values[::-1]
    elif side == "right":
        out[:, edge - width:] = values
    elif side == "top":
        out[:width, :] = values[::-1, None]
    elif side == "bottom":
        out[edge - width:, :] = values[:, None]
    else:
        raise ConfigError(f"unknown face side {side!r}")
    return out


@dataclass(frozen=True)
class BorderSet:
    """Precomputed per-side maps, coverage masks and ramps for one face size (see module docstring).

    Attributes:
        geometry: face size and overlap.
        ramp_width: g.
        maps, coverage, ramps: per side, tensors on one device.
    """

    geometry: CubeGeometry
    ramp_width: int
    maps: Mapping[Side, torch.Tensor]
    coverage: Mapping[Side, torch.Tensor]
    ramps: Mapping[Side, torch.Tensor]

    @property
    def ramp_all(self) -> torch.Tensor:
        """Max of the four ramps (the reference's grad_mask_all), (1, 1, E, E)."""
        return torch.stack([self.ramps[s] for s in SIDES]).amax(dim=0)


def make_border_set(
    geometry: CubeGeometry,
    ramp_width: int | None = None,
    device: torch.device | str = "cpu",
    maps: str = "reference",
) -> BorderSet:
    """Build the maps, coverage masks and ramps for ``geometry``.

    Args:
        geometry: face size and overlap.
        ramp_width: g, default :func:`default_ramp_width`.
        device: where the tensors live.
        maps: ``reference`` (the literal port) or ``exact`` (see :func:`side_map`).

    Raises:
        ConfigError: overlap < 2 (no border strip to fill) or a ramp wider than the overlap.
    """
    if geometry.overlap < 2:
        raise ConfigError(f"border consistency needs an overlap of at least 2 px, got {geometry.overlap}")
    g = default_ramp_width(geometry) if ramp_width is None else int(ramp_width)
    if g < 1 or g > geometry.overlap:
        raise ConfigError(f"ramp width must be in 1..{geometry.overlap} (the overlap), got {g}")
    edge = geometry.edge
    ones = torch.ones(1, 1, edge, edge, device=device)
    offsets, cov, ramps = {}, {}, {}
    for side in SIDES:
        field = torch.from_numpy(side_map(side, edge, geometry.overlap, maps)).permute(2, 0, 1)[None]
        offsets[side] = field.to(device).contiguous()
        cov[side] = _warp(ones, offsets[side])
        ramps[side] = torch.from_numpy(ramp(side, edge, g))[None, None].to(device)
    return BorderSet(geometry, g, offsets, cov, ramps)


@dataclass(frozen=True)
class Border:
    """What the already-stylized neighbours say about one face.

    Attributes:
        content: :math:`(1, 3, E, E)` rgb01, the warped neighbour edges (0 where none), overlaps averaged.
        coverage: :math:`(1, 1, E, E)` min(1, sum of the used coverage masks) (reference ``masks[mode]``).
        certainty: :math:`(1, 1, E, E)` max of the used coverage masks (reference ``cert_border``).
        ramp: :math:`(1, 1, E, E)` max of the used sides' ramps (reference ``gradMask``); zeros if no side.
        sides: the sides that got content.
    """

    content: torch.Tensor
    coverage: torch.Tensor
    certainty: torch.Tensor
    ramp: torch.Tensor
    sides: tuple[Side, ...]


def gather_border(face: str, done: Mapping[str, torch.Tensor], borders: BorderSet) -> Border:
    """Warp the edges of the faces in ``done`` that touch ``face`` into its border strips.

    Args:
        face: the face being filled.
        done: already stylized faces by name, :math:`(1, 3, E, E)` each (raw rgb01).
        borders: the precomputed maps.

    Returns:
        the :class:`Border`; contributions are summed and divided by max(1, summed coverage), which is the
        reference's division by ``mask_all_div`` where strips overlap (corners) and a no-op elsewhere.

    Convention:
        - the neighbour is rotated (``torch.rot90`` k on H, W, same as numpy) before warping (faces.neighbour).
    """
    edge = borders.geometry.edge
    ref = next(iter(borders.coverage.values()))
    content = torch.zeros(1, 3, edge, edge, device=ref.device, dtype=ref.dtype)
    cov_sum = torch.zeros(1, 1, edge, edge, device=ref.device, dtype=ref.dtype)
    cert = torch.zeros_like(cov_sum)
    ramp_ = torch.zeros_like(cov_sum)
    used: list[Side] = []
    for side in SIDES:
        nb = neighbour(face, side)
        if nb.face not in done:
            continue
        src = done[nb.face]
        if tuple(src.shape) != (1, 3, edge, edge):
            raise ShapeError(f"{nb.face}: expected a (1, 3, {edge}, {edge}) face, got {tuple(src.shape)}")
        content = content + _into_strip(src, face, side, borders)
        cov_sum = cov_sum + borders.coverage[side]
        cert = torch.maximum(cert, borders.coverage[side])
        ramp_ = torch.maximum(ramp_, borders.ramps[side])
        used.append(side)
    content = content / cov_sum.clamp(min=1.0)
    return Border(content, cov_sum.clamp(max=1.0), cert, ramp_, tuple(used))


def neighbour_fill(
    face: str,
    temporal: Mapping[str, torch.Tensor],
    reliable: Mapping[str, torch.Tensor],
    borders: BorderSet,
) -> tuple[torch.Tensor, torch.Tensor]:
    """What the neighbours' temporal priors say about a face's border strips (beyond the reference).

    Content that enters a face since the previous frame has no pixels in the face's own previous output, so its
    temporal prior is unreliable there and the net re-paints it every frame. The neighbours' previous outputs
    do have it: their temporal priors (already warped to this frame) are warped into the face's strips with the
    same maps as the border priors, each weighted by its reliability.

    Args:
        face: the face being filled.
        temporal: per face name, :math:`(1, 3, E, E)` the previous blended face warped with this frame's flow.
        reliable: per face name, :math:`(1, 1, E, E)` its reliability (1 = reliable, before the min filter).
        borders: the precomputed maps.

    Returns:
        (content :math:`(1, 3, E, E)`, weight :math:`(1, 1, E, E)` in [0, 1]): the reliability-weighted mean of
        the neighbours' warped temporal priors, and how much reliable neighbour content each pixel got (0
        outside the strips).
    """
    edge = borders.geometry.edge
    ref = next(iter(borders.coverage.values()))
    num = torch.zeros(1, 3, edge, edge, device=ref.device, dtype=ref.dtype)
    den = torch.zeros(1, 1, edge, edge, device=ref.device, dtype=ref.dtype)
    for side in SIDES:
        nb = neighbour(face, side).face
        num = num + _into_strip(temporal[nb] * reliable[nb], face, side, borders)
        den = den + _into_strip(reliable[nb], face, side, borders)
    return num / den.clamp(min=1e-6), den.clamp(max=1.0)


def blend_prior(temporal: torch.Tensor, border: Border, certainty: torch.Tensor) -> torch.Tensor:
    """Mix the warped previous face with the neighbour border (§9.5): ``(1 − α)·T + α·border``.

    ``α = coverage · max(ramp, ceil(ramp)·(1 − certainty))``: the neighbour dominates toward the face edge, and
    everywhere inside the ramp where the temporal prior is unreliable.

    Args:
        temporal: :math:`(1, 3, E, E)` warped previous (blended) face.
        border: from :func:`gather_border`.
        certainty: :math:`(1, 1, E, E)` min-filtered mask of this face.
    """
    alpha = border.coverage * torch.maximum(border.ramp, torch.ceil(border.ramp) * (1.0 - certainty))
    return temporal * (1.0 - alpha) + border.content * alpha


def lock_weight(border: Border, borders: BorderSet, hold: int | None = None) -> torch.Tensor:
    """Weight of the neighbour content when :func:`lock_border` composites it over a face, (1, 1, E, E).

    ``w = coverage · S(min(1, ramp / r_hold))`` with ``S(x) = x²(3 − 2x)`` (smoothstep) and ``r_hold`` the ramp
    value ``hold`` pixels inside the face's core (``(g − overlap/2 − hold) / (g + 1)``). So w = 1 from the face
    edge over the overlap (which the output trims), the seam and ``hold`` more core pixels (what the output's
    resampling kernel and median filter reach across the seam), then falls smoothly to 0 at the inner end of the
    ramp, with zero slope where it leaves 1.

    Args:
        border: from :func:`gather_border`.
        borders: the precomputed maps (ramp width g, overlap).
        hold: core pixels kept at w = 1 next to the seam; default :data:`LOCK_HOLD`, at most half of the ramp's
            part inside the core.

    Convention:
        - with a ramp no wider than half the overlap (nothing of it inside the core) the lock covers the ramp
          pixels fully (``w = coverage`` where ramp > 0).
    """
    g, half = borders.ramp_width, borders.geometry.overlap // 2
    inside = g - half
    if inside <= 0:
        return border.coverage * torch.ceil(border.ramp)
    keep = min(LOCK_HOLD if hold is None else hold, inside // 2)
    r_hold = (inside - keep) / (g + 1)
    x = (border.ramp / r_hold).clamp(max=1.0)
    return border.coverage * x * x * (3.0 - 2.0 * x)


def lock_border(face: torch.Tensor, border: Border, weight: torch.Tensor) -> torch.Tensor:
    """Composite the neighbour content over ``face``: ``(1 − w)·face + w·content / coverage``.

    Args:
        face: :math:`(1, 3, E, E)` the net's output for the face.
        border: from :func:`gather_border` (its content is dimmed where coverage < 1, hence the division).
        weight: from :func:`lock_weight`.

    Returns:
        a new :math:`(1, 3, E, E)` tensor; ``face`` itself where the weight is 0.
    """
    if not border.sides:
        return face
    content = border.content / border.coverage.clamp(min=1e-6)
    return face * (1.0 - weight) + content * weight


def overlap_disagreement(face: torch.Tensor, border: Border) -> float | None:
    """How far a face's own rendering is from its neighbours' in their shared strips (before any compositing).

    Mean over the fully covered border pixels (coverage > 0.999) of the channel-mean ``|face − content|``; the
    amplitude of what blending or the lock has to hide there. None when the border has no side.

    Args:
        face: :math:`(1, 3, E, E)` the net's output for the face.
        border: from :func:`gather_border` over the already stylized faces.
    """
    if not border.sides:
        return None
    full = border.coverage[0, 0] > 0.999
    if not bool(full.any()):
        return None
    diff = (face - border.content).abs()[0].mean(dim=0)
    return float(diff[full].mean())


def smooth_certainty(certainty: torch.Tensor, ramp_: torch.Tensor) -> torch.Tensor:
    """``-smooth_certainty``: the net's mask channel = min(certainty, 1 where ramp > 0.5 else 0.25)."""
    return torch.minimum(certainty, torch.where(ramp_ > 0.5, 1.0, 0.25).to(certainty.dtype))


def blend_other_sides(faces: Sequence[torch.Tensor], borders: BorderSet) -> list[torch.Tensor]:
    """After all six faces of a frame: ``out = face·(1 − R) + B·R`` for every face (§9.6).

    Args:
        faces: 6 tensors :math:`(1, 3, E, E)` in slot order (:data:`~fav_core.spherical.faces.FACES`).
        borders: the precomputed maps.

    Returns:
        6 new tensors, slot order; B = the four warped neighbour edges averaged where they overlap, R = the max
        of the four ramps times min(1, summed coverage).

    Convention:
        - deviation from the reference: R is weighted by the coverage, so the innermost ramp column that the
          (asymmetric, 1-based) reference maps leave empty on the left/top sides is not blended toward black
          (at 768/128 that column has R = 1/119; at small sizes it would visibly darken a line).
    """
    if len(faces) != len(FACES):
        raise ShapeError(f"faces: expected 6 cube faces, got {len(faces)}")
    by_name = dict(zip(FACES, faces, strict=True))
    r_all = borders.ramp_all
    out = []
    for name in FACES:
        border = gather_border(name, {k: v for k, v in by_name.items() if k != name}, borders)
        weight = r_all * border.coverage
        out.append(by_name[name] * (1.0 - weight) + border.content * weight)
    return out
