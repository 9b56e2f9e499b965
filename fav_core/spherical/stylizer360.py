"""The per-face loop for spherical video (algorithm.md §9.5–9.6), with the reference's bugs fixed.

Per frame the six faces are stylized in the reference order (front, left, right, back, top, bottom). A face gets a
prior from (a) the edges of the faces already stylized in this frame, perspective-warped into its overlap, and
(b) from frame 2 on, its own previous *blended* face warped with its flow; both are ramp-blended and the video net
sees ``[face, masked prior + fill, mask]`` exactly as §6.3. After the sixth face every face is blended with its
neighbours' edges (``blend_other_sides``); those blended faces are the next frame's temporal priors, and their
median-filtered copies are the output.

Beyond the reference (SphereConfig; ``SphereConfig.reference`` turns them off; docs/spherical.md): the border
lock composites the neighbours' content back over each later face after the net; the neighbour fill gives
content entering a face from its neighbours' temporal priors; faces 2–6 of a first frame start from their own
stylization; the flow of each face is computed on a wider view when the source has one.

Fixed against the reference: ``continue_with`` resumes from the saved blended faces (the reference loads files it
never writes); with ``inconsistent_border`` the temporal prior is used as it is (the reference blends it with an
all-zero border, darkening the face edges); ``smooth_certainty`` leaves faces without a border alone (the
reference crashes on the front face).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from fav_core.errors import Cancelled, ConfigError, ShapeError
from fav_core.median import median_filter
from fav_core.modelfile import StyleModel, load_model
from fav_core.motion import Motion, MotionSource
from fav_core.occlusion import fix_occlusions, invert, min_filter
from fav_core.spherical.blend import (
    Border,
    BorderSet,
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
from fav_core.spherical.flow_margin import crop_motion
from fav_core.spherical.projection import CubeGeometry
from fav_core.spherical.sources import CubeFrame, CubeSource
from fav_core.stylizer import Stylizer, StylizerConfig, resolve_device
from fav_core.types import CancelToken, Frame, Progress
from fav_core.warp import warp_backward

log = logging.getLogger(__name__)


#: Values of SphereConfig.first_faces.
FIRST_FACES = ("image", "border")


@dataclass(frozen=True)
class SphereConfig:
    """Settings of the spherical loop on top of :class:`~fav_core.stylizer.StylizerConfig`.

    Attributes:
        geometry: face size and overlap.
        ramp_width: blending ramp width in px (None = the reference's rule, blend.default_ramp_width).
        inconsistent_border: the reference's ``-create_inconsistent_border`` baseline: no neighbour priors, no
            border certainty (faces are only tied together by ``blend_sides``).
        blend_sides: run ``blend_other_sides`` after each frame (the reference always does).
        smooth_certainty: the reference's ``-smooth_certainty``.
        border_maps: ``reference`` (literal port of the reference's perspective maps) or ``exact`` (the true
            perspective of our cube geometry; blend.side_map).
        border_lock: beyond the reference: composite each face's border content over the net's output
            (blend.lock_border), so the face matches its already stylized neighbours up to the seam.
        first_faces: how faces 2–6 of a first frame start: ``border`` = the reference (the video net sees only
            the neighbours' borders, an unknown rest); ``image`` = beyond the reference: the face is first
            stylized on its own (image model, or the video net with an empty prior), that result is the prior
            inside the face and the neighbours' borders are ramp-blended into it exactly as from frame 2 on
            (the shipped video net turns large unknown regions grey: saturation 0.52 vs 0.77 at frame 1 of the
            bench).
            Ignored with ``inconsistent_border``.
        neighbour_fill: beyond the reference: from frame 2 on, where a face's own temporal prior has nothing
            (content entering the face), take its neighbours' temporal priors, warped in with the border maps
            (blend.neighbour_fill). Without it that content is re-painted every frame, which flickers next to
            the seams. Ignored with ``inconsistent_border`` (faces do not see each other there).
    """

    geometry: CubeGeometry
    ramp_width: int | None = None
    inconsistent_border: bool = False
    blend_sides: bool = True
    smooth_certainty: bool = False
    border_maps: str = "exact"
    border_lock: bool = True
    first_faces: str = "image"
    neighbour_fill: bool = True

    def __post_init__(self) -> None:
        if self.first_faces not in FIRST_FACES:
            raise ConfigError(f"first faces must be one of {', '.join(FIRST_FACES)}, got {self.first_faces!r}")

    @classmethod
    def reference(cls, geometry: CubeGeometry, **changes: object) -> SphereConfig:
        """The reference's behaviour: its border maps, no border lock, border-only priors on a first frame, no
        neighbour fill."""
        settings: dict[str, object] = {"border_maps": "reference", "border_lock": False, "first_faces": "border",
                                       "neighbour_fill": False}
        return cls(geometry, **(settings | changes))  # type: ignore[arg-type]


@dataclass(frozen=True)
class TemporalPrior:
    """A face's previous blended output warped to this frame, and where it can be trusted.

    Attributes:
        content: :math:`(1, 3, E, E)` rgb01.
        reliable: :math:`(1, 1, E, E)` in [0, 1], 1 = reliable, before the min filter.
    """

    content: torch.Tensor
    reliable: torch.Tensor


@dataclass
class CubeResult:
    """One stylized frame.

    Attributes:
        index: frame number.
        raw: 6 × (E, E, 3) float32, blended, unclamped, unfiltered: the next frame's priors (state for resume).
        faces: 6 × (E, E, 3) float32, the delivered faces (median filtered), slot order.
        motions: 6 × the motion each face was warped with (backward flow to the previous frame and its
            reliability before the min filter), None for a first frame; empty when not recorded.
        disagreement: 6 × blend.overlap_disagreement of the net's own output for the face against the faces
            stylized before it in this frame (None for the front face); empty when not recorded.
    """

    index: int
    raw: list[np.ndarray]
    faces: list[np.ndarray]
    motions: list[Motion | None] = field(default_factory=list)
    disagreement: list[float | None] = field(default_factory=list)

    def stacked_raw(self) -> np.ndarray:
        """The raw faces stacked vertically, (6·E, E, 3) float32 (how the resume state stores them)."""
        return np.concatenate(self.raw, axis=0)


def unstack_faces(stacked: np.ndarray) -> list[np.ndarray]:
    """Inverse of :meth:`CubeResult.stacked_raw`: (6·E, E, 3) → 6 × (E, E, 3)."""
    if stacked.ndim != 3 or stacked.shape[0] != 6 * stacked.shape[1]:
        raise ShapeError(f"stacked faces: expected (6·E, E, 3), got {tuple(stacked.shape)}")
    return [np.ascontiguousarray(f) for f in np.split(stacked, 6, axis=0)]


class Stylizer360:
    """Runs the spherical loop over a :class:`~fav_core.spherical.sources.CubeSource`.

    Args:
        config: the video settings (model, fill, min/median filter, device, ...); ``direction`` must be forward.
        sphere: the spherical settings.
        motion: flow + reliability per face: one source for all faces, or six in slot order (e.g. per-face files).
            May be None only with ``config.per_frame``.
        models: already loaded (video, image-or-None), as for :class:`~fav_core.stylizer.Stylizer`.

    Raises:
        ConfigError: backward direction, bad overlap/ramp, wrong number of motion sources, or model errors.
    """

    def __init__(
        self,
        config: StylizerConfig,
        sphere: SphereConfig,
        motion: MotionSource | Sequence[MotionSource] | None = None,
        models: tuple[StyleModel, StyleModel | None] | None = None,
    ) -> None:
        if config.direction != "forward":
            raise ConfigError("spherical stylization runs forward only (direction=backward is not supported)")
        self.config = config
        self.sphere = sphere
        self.device = resolve_device(config.device)
        if models is None:
            video = load_model(config.model, device=str(self.device))
            image = None if config.image_model == "self" else load_model(config.image_model, device=str(self.device))
            models = (video, image)
        # The single-frame Stylizer validates the models/precision and stylizes the very first face.
        self.stylizer = Stylizer(config, None if config.per_frame else _first(motion), models=models)
        self.video = models[0]
        if motion is None or isinstance(motion, MotionSource):
            self.motions: list[MotionSource | None] = [motion] * 6  # type: ignore[list-item]
        else:
            if len(motion) != 6:
                raise ConfigError(f"need one motion source per cube face (6), got {len(motion)}")
            self.motions = list(motion)
        self.borders: BorderSet = make_border_set(sphere.geometry, sphere.ramp_width, self.device, sphere.border_maps)

    # ------------------------------------------------------------------ the loop
    def run(
        self,
        source: CubeSource,
        *,
        indices: Sequence[int] | None = None,
        prior: tuple[int, list[np.ndarray]] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[CubeResult]:
        """Stylize frames in ascending order; yields one :class:`CubeResult` per frame.

        Args:
            source: the cube faces.
            indices: frames to process (default all), ascending.
            prior: (frame number, its 6 raw blended faces) of the frame just before ``indices[0]`` (continue_with /
                resume); None = ``indices[0]`` is a first frame.
            on_progress: called after every frame.
            cancel: checked before every face; raises :class:`~fav_core.errors.Cancelled`.
        """
        if source.geometry != self.sphere.geometry:
            raise ConfigError(f"source faces are {source.geometry}, the stylizer was set up for {self.sphere.geometry}")
        order = list(indices) if indices is not None else list(source.indices)
        prev_cube: CubeFrame | None = None
        prev_raw: list[torch.Tensor] | None = None
        if prior is not None and not self.config.per_frame:
            prev_cube = source.read(prior[0])
            prev_raw = [self._tensor(f) for f in prior[1]]
            for f in prev_raw:
                if f.shape[-2:] != (self.sphere.geometry.edge,) * 2:
                    raise ShapeError(f"prior of frame {prior[0]}: faces are {f.shape[-1]} px, expected "
                                     f"{self.sphere.geometry.edge}")
        for n, index in enumerate(order):
            cube = source.read(index)
            first = self.config.per_frame or prev_raw is None
            motions: list[Motion | None] = [None] * len(FACES)
            disagreement: list[float | None] = [None] * len(FACES)
            raw = self.stylize_cube(cube, None if first else prev_cube, None if first else prev_raw, cancel,
                                    motions=motions, disagreement=disagreement)
            prev_cube, prev_raw = cube, raw
            raw_np = [_numpy(t) for t in raw]
            k = self.config.median_filter
            delivered = [median_filter(f, k) if k > 1 else f.copy() for f in raw_np]
            if on_progress is not None:
                on_progress(Progress(done=n + 1, total=len(order), frame=index))
            yield CubeResult(index, raw_np, delivered, motions, disagreement)

    def stylize_cube(
        self,
        cube: CubeFrame,
        prev_cube: CubeFrame | None,
        prev_raw: list[torch.Tensor] | None,
        cancel: CancelToken | None = None,
        motions: list[Motion | None] | None = None,
        disagreement: list[float | None] | None = None,
    ) -> list[torch.Tensor]:
        """Stylize the six faces of one frame and blend them (§9.5–9.6).

        Args:
            cube: this frame's faces.
            prev_cube: the previous frame's input faces (for the flow), None for a first frame.
            prev_raw: the previous frame's blended raw faces, 6 × (1, 3, E, E), None for a first frame.
            cancel: checked before every face.
            motions: if given (6 entries), slot m receives the motion face m was warped with.
            disagreement: if given (6 entries), slot m receives blend.overlap_disagreement of the net's output
                for face m (measured against the faces before it even for the inconsistent-border baseline).

        Returns:
            6 blended raw faces (1, 3, E, E), slot order.
        """
        temporal: list[TemporalPrior] | None = None
        if prev_cube is not None and prev_raw is not None:
            if cancel is not None and cancel.cancelled:
                raise Cancelled(f"cancelled in frame {cube.index} before its flow")
            temporal = self.temporal_priors(cube, prev_cube, prev_raw, motions)
        done: dict[str, torch.Tensor] = {}
        for slot, name in enumerate(FACES):
            if cancel is not None and cancel.cancelled:
                raise Cancelled(f"cancelled in frame {cube.index} at the {name} face")
            face = cube.faces[slot]
            if slot == 0 and temporal is None:
                done[name] = self._tensor(self.stylizer.stylize_first(face).raw)
                continue
            border = gather_border(name, {} if self.sphere.inconsistent_border else done, self.borders)
            if temporal is not None:
                net = self.stylize_face(cube.index, slot, face, border, temporal[slot])
            elif self.sphere.first_faces == "image" and border.sides:
                own = self._tensor(self.stylizer.stylize_first(face).raw)
                net = self.stylize_face(cube.index, slot, face, border, None, own=own)
            else:
                net = self.stylize_face(cube.index, slot, face, border, None)
            if disagreement is not None:
                probe = gather_border(name, done, self.borders) if self.sphere.inconsistent_border else border
                disagreement[slot] = overlap_disagreement(net, probe)
            done[name] = self._lock(net, border)
        faces = [done[name] for name in FACES]
        return blend_other_sides(faces, self.borders) if self.sphere.blend_sides else faces

    def temporal_priors(
        self,
        cube: CubeFrame,
        prev_cube: CubeFrame,
        prev_raw: list[torch.Tensor],
        motions: list[Motion | None] | None = None,
    ) -> list[TemporalPrior]:
        """Every face's previous blended output warped to this frame, with its reliability (§9.5).

        The flow of a face is computed on its wider view when the cube has one (spherical.flow_margin). With
        ``neighbour_fill`` the pixels a face's own prior cannot cover (content entering the face) are taken
        from its neighbours' priors where those are reliable (blend.neighbour_fill).

        Args:
            cube, prev_cube: this frame's and the previous frame's faces.
            prev_raw: the previous frame's blended raw faces, 6 × (1, 3, E, E).
            motions: if given (6 entries), slot m receives face m's own motion (flow, reliability).

        Returns:
            6 :class:`TemporalPrior`, slot order.

        Raises:
            ConfigError: no motion source, or the two frames were cut with different flow margins.
        """
        wide = cube.flow_faces is not None and prev_cube.flow_faces is not None
        if wide and cube.flow_margin != prev_cube.flow_margin:
            raise ConfigError(f"frame {cube.index}: flow margin {cube.flow_margin} px, the frame before "
                              f"{prev_cube.flow_margin} px")
        own: dict[str, TemporalPrior] = {}
        for slot, name in enumerate(FACES):
            motion = self.motions[slot]
            if motion is None:
                raise ConfigError("a motion source (flow) is needed unless per_frame is set")
            if wide:
                assert cube.flow_faces is not None and prev_cube.flow_faces is not None
                m = crop_motion(motion.motion(cube.flow_faces[slot], prev_cube.flow_faces[slot]), cube.flow_margin,
                                self.sphere.geometry.edge)
            else:
                m = motion.motion(cube.faces[slot], prev_cube.faces[slot])
            if motions is not None:
                motions[slot] = m
            reliable = m.reliable.astype(np.float32)
            if self.config.invert_occlusion:
                reliable = invert(reliable)
            if self.config.fix_occlusions:
                reliable = fix_occlusions(reliable, m.flow)
            flow = torch.from_numpy(np.ascontiguousarray(m.flow.transpose(2, 0, 1)))[None].to(self.device)
            own[name] = TemporalPrior(warp_backward(prev_raw[slot], flow), self._mask(reliable))
        if not self.sphere.neighbour_fill or self.sphere.inconsistent_border:
            return [own[name] for name in FACES]
        contents = {name: p.content for name, p in own.items()}
        reliables = {name: p.reliable for name, p in own.items()}
        out = []
        for name in FACES:
            fill, weight = neighbour_fill(name, contents, reliables, self.borders)
            use = (1.0 - reliables[name]) * weight
            out.append(TemporalPrior(contents[name] * (1.0 - use) + fill * use, torch.maximum(reliables[name], use)))
        return out

    def stylize_face(
        self,
        index: int,
        slot: int,
        face: Frame,
        border: Border,
        temporal: TemporalPrior | None,
        own: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One face with its border prior and (from frame 2 on) its temporal prior. Returns (1, 3, E, E).

        ``own`` (first frame only, SphereConfig.first_faces = image): the face stylized on its own,
        (1, 3, E, E), used as a fully certain prior that the border is blended into. With ``border_lock`` the
        border content is composited over the net's output afterwards (by :meth:`stylize_cube`); this returns
        the net's own output."""
        if own is not None:
            if temporal is not None:
                raise ConfigError("a face gets either its own first stylization or a temporal prior, not both")
            certain = torch.ones_like(border.certainty)
            prior = blend_prior(own, border, certain)
            net_mask = smooth_certainty(certain, border.ramp) if self.sphere.smooth_certainty else certain
            return self.step(face.rgb, prior, certain, net_mask, key=(index, slot))
        certainty = border.certainty
        if temporal is not None:
            certainty = torch.maximum(temporal.reliable, certainty)
        # The reference min-filters max(reliability, border certainty), in that order.
        certainty = self._mask(min_filter(_numpy_mask(certainty), self.config.min_filter))
        if temporal is not None:
            prior = blend_prior(temporal.content, border, certainty) if border.sides else temporal.content
        else:
            prior = border.content
        net_mask = certainty
        if self.sphere.smooth_certainty and border.sides:
            net_mask = smooth_certainty(certainty, border.ramp)
        return self.step(face.rgb, prior, certainty, net_mask, key=(index, slot))

    def _lock(self, out: torch.Tensor, border: Border) -> torch.Tensor:
        if not self.sphere.border_lock or not border.sides:
            return out
        return lock_border(out, border, lock_weight(border, self.borders))

    # ------------------------------------------------------------------ the network step
    def step(
        self,
        rgb: np.ndarray,
        prior: torch.Tensor,
        certainty: torch.Tensor,
        net_mask: torch.Tensor,
        key: tuple[int, int],
    ) -> torch.Tensor:
        """The video net on ``[face, prior·certainty + fill, net_mask]`` (§6.3 with an explicit prior).

        Args:
            rgb: (E, E, 3) float32 face, network encoding.
            prior: (1, 3, E, E) rgb01 prior.
            certainty: (1, 1, E, E) mask the prior is multiplied with (and the fill's complement).
            net_mask: (1, 1, E, E) the mask channel the net sees (= certainty unless smooth_certainty).
            key: (frame, slot), seeds the uniform-random fill.

        Returns:
            (1, 3, E, E) raw rgb01 output (unclamped).
        """
        return self.stylizer.video_step(self._tensor(rgb), prior, certainty, net_mask, fill_key=key).clone()

    def _tensor(self, rgb: np.ndarray) -> torch.Tensor:
        arr = np.ascontiguousarray(np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1))
        return torch.from_numpy(arr)[None].to(self.device)

    def _mask(self, mask: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None].to(self.device)


def _first(motion: MotionSource | Sequence[MotionSource] | None) -> MotionSource | None:
    if motion is None or isinstance(motion, MotionSource):
        return motion
    return motion[0] if len(motion) else None


def _numpy(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t[0].permute(1, 2, 0).float().cpu().numpy())


def _numpy_mask(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t[0, 0].float().cpu().numpy())
