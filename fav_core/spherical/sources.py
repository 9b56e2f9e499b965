"""Where cube faces come from: an equirectangular clip projected on the fly, or six face-image sequences.

Face-file patterns follow the reference (algorithm.md §9.2): ``frame_%05d-%d.png`` has the frame number in the
first printf placeholder and the face file id (1..6, faces.FILE_IDS) in the last; flow patterns such as
``flow-%d/backward_[%d]_{%d}.flo`` have one bare placeholder for the face id besides the bracketed ones.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Protocol

from fav_core.errors import ConfigError, InputError
from fav_core.io import FrameSource, open_frames
from fav_core.spherical.faces import FACES, FILE_IDS
from fav_core.spherical.flow import EquirectFlowToCube
from fav_core.spherical.flow_margin import widened
from fav_core.spherical.projection import CubeGeometry, CubeToFaces, EquirectToCube
from fav_core.types import Frame

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"%%|\[[^\]]*\]|\{[^}]*\}|%[-+ 0#]*\d*[diu]")


def _bare_placeholders(pattern: str) -> list[re.Match[str]]:
    """printf integer placeholders outside ``[..]`` / ``{..}`` (``%%`` is skipped)."""
    return [m for m in _TOKEN.finditer(pattern) if m.group(0).startswith("%") and m.group(0) != "%%"]


def warn_alpha(source: FrameSource) -> None:
    """One warning when the first image of an input is not opaque: spherical outputs have no alpha, so the colour
    is stylized as stored (the source is opened with ``alpha="ignore"``: for EXR the picture over black). An
    alpha channel that is 1 everywhere (Blender's Combined pass without a transparent film) says nothing."""
    file = getattr(source, "file", None)
    if not callable(file) or not source.indices:
        return
    from fav_core.io.imagefile import read_image_frame

    first = source.indices[0]
    frame = read_image_frame(file(first), first, vectors=False, alpha_mode="auto")
    if frame.alpha is not None and float(frame.alpha.min()) < 1.0 - 1e-4:
        log.warning("%s: the picture is not opaque (alpha < 1 in %.1f%% of frame %d); spherical output has no "
                    "alpha, so the colour is stylized as stored (EXR: the picture over black)",
                    getattr(source, "path", file(first)), 100.0 * float((frame.alpha < 1.0 - 1e-4).mean()), first)


def count_frame_placeholders(pattern: str) -> int:
    """Number of bare printf integer placeholders (2 = a cube-face pattern ``frame_%05d-%d.png``)."""
    return len(_bare_placeholders(pattern))


def face_pattern(pattern: str, face_id: int, *, expect: int) -> str:
    """Fill the face id into the *last* bare placeholder of ``pattern``.

    Args:
        pattern: e.g. ``faces/frame_%05d-%d.png`` (expect=2) or ``flow-%d/backward_[%d]_{%d}.flo`` (expect=1).
        face_id: 1..6.
        expect: how many bare placeholders the pattern must have.

    Raises:
        ConfigError: a different number of placeholders.

    Example:
        >>> face_pattern("frame_%05d-%d.png", 6, expect=2)
        'frame_%05d-6.png'
    """
    found = _bare_placeholders(pattern)
    if len(found) != expect:
        raise ConfigError(
            f"{pattern}: expected {expect} printf placeholder(s) outside [..]/{{..}} "
            f"({'frame number, then ' if expect == 2 else ''}face id), found {len(found)}"
        )
    last = found[-1]
    return pattern[: last.start()] + (last.group(0) % face_id) + pattern[last.end():]


@dataclass
class CubeFrame:
    """The six faces of one frame.

    Attributes:
        index: frame number.
        faces: 6 :class:`~fav_core.types.Frame` (rgb (E, E, 3) float32), slot order of faces.FACES.
        flow_faces: 6 wider views of the same faces for the flow (spherical.flow_margin), or None.
        flow_margin: how many pixels wider per side (0 without flow_faces).
    """

    index: int
    faces: list[Frame]
    flow_faces: list[Frame] | None = None
    flow_margin: int = 0


class CubeSource(Protocol):
    """Frames as cube faces."""

    indices: list[int]
    geometry: CubeGeometry
    linear: bool

    def read(self, index: int) -> CubeFrame:
        """The faces of frame ``index``."""
        ...


class EquirectCubes:
    """Equirectangular frames, projected to faces when read.

    Args:
        source: the equirectangular frames.
        geometry: face size and overlap.
        interpolation: resampling filter (projection.INTERPOLATIONS).
        flow_margin: also cut every face ``flow_margin`` px wider per side for the flow (CubeFrame.flow_faces);
            0 = the flow sees the faces themselves (the reference).
    """

    def __init__(self, source: FrameSource, geometry: CubeGeometry, interpolation: str = "lanczos4",
                 flow_margin: int = 0) -> None:
        self.source = source
        self.geometry = geometry
        self.indices = list(source.indices)
        self.linear = source.linear
        self.project = EquirectToCube(geometry, source.size, interpolation)
        self.flow_margin = int(flow_margin)
        wide = widened(geometry, self.flow_margin)
        self.project_wide = EquirectToCube(wide, source.size, interpolation) if self.flow_margin else None
        self._vectors: dict[CubeGeometry, EquirectFlowToCube] = {}  # per face geometry (plain, wide)

    def read(self, index: int) -> CubeFrame:
        """The faces of frame ``index``; host motion vectors of the frame (EXR Vector pass of a panoramic camera)
        are reprojected to every face (spherical.flow)."""
        frame = self.source.read(index)
        label = frame.source or f"frame {index}"
        out = self._faces(frame, self.project, label)
        if self.project_wide is None:
            return CubeFrame(index, out)
        return CubeFrame(index, out, self._faces(frame, self.project_wide, label), self.flow_margin)

    def _faces(self, frame: Frame, project: EquirectToCube, label: str) -> list[Frame]:
        index = frame.index
        faces = project(frame.rgb)
        out = [Frame(index, f, source=f"{label} [{n}]") for n, f in zip(FACES, faces, strict=True)]
        if frame.flow_to_prev is not None or frame.flow_to_next is not None:
            vectors = self._vectors.get(project.geometry)
            if vectors is None:
                vectors = self._vectors[project.geometry] = EquirectFlowToCube(project.geometry, frame.size)
            for face, (to_prev, to_next, valid) in zip(out, vectors(frame.flow_to_prev, frame.flow_to_next,
                                                                     frame.flow_valid), strict=True):
                face.flow_to_prev, face.flow_to_next, face.flow_valid = to_prev, to_next, valid
        return out


class FaceFiles:
    """Six image sequences, one per face, named by a two-placeholder pattern (``frame_%05d-%d.png``).

    Args:
        pattern: frame number first, face file id (faces.FILE_IDS) last.
        overlap: total overlap in the face images (px).
        colorspace: as :func:`fav_core.io.open_frames`.
        vectors: EXR host motion vectors per face (as :func:`fav_core.io.open_frames`: None = when present,
            True = required, False = ignored).
        vector_convention: ``auto``, ``blender`` or ``nuke``.
        flow_margin: also give every face a view ``flow_margin`` px wider per side for the flow
            (CubeFrame.flow_faces): the margin is sampled from the neighbouring faces (projection.CubeToFaces), the
            centre is the face itself; 0 = the flow sees the faces themselves (the reference).
        interpolation: resampling filter of the wider views (projection.INTERPOLATIONS).

    Raises:
        ConfigError: the pattern does not have two placeholders, the overlap does not fit the faces, the flow
            margin is out of range, or a flow margin is asked for together with required host vectors (those are
            used on the faces themselves).
        InputError: a face sequence is missing, faces are not square, or the six differ in size or frames.
    """

    def __init__(
        self,
        pattern: str,
        overlap: int,
        colorspace: str = "auto",
        vectors: bool | None = None,
        vector_convention: str = "auto",
        flow_margin: int = 0,
        interpolation: str = "lanczos4",
    ) -> None:
        self.pattern = pattern
        if flow_margin and vectors:
            raise ConfigError("a flow margin is for computed flow; cube faces' own motion vectors are used as they are")
        self.sources: list[FrameSource] = []
        for n, name in enumerate(FACES):  # no alpha in spherical outputs: the colour as stored (EXR: over black)
            self.sources.append(open_frames(face_pattern(pattern, FILE_IDS[name], expect=2), colorspace=colorspace,
                                            vectors=vectors, vector_convention=vector_convention, alpha="ignore",
                                            warn_first_frame=n == 0))
        warn_alpha(self.sources[0])
        first = self.sources[0]
        for name, src in zip(FACES, self.sources, strict=True):
            if src.size != first.size:
                raise InputError(src.path, f"{name} face is {src.size[1]}x{src.size[0]}, front is "
                                 f"{first.size[1]}x{first.size[0]}")
            if src.indices != first.indices:
                raise InputError(src.path, f"{name} face has frames {src.indices[0]}-{src.indices[-1]}, front "
                                 f"has {first.indices[0]}-{first.indices[-1]}")
        h, w = first.size
        if h != w:
            raise InputError(first.path, f"cube faces must be square, got {w}x{h}")
        self.geometry = CubeGeometry(h, overlap)
        self.indices = list(first.indices)
        self.linear = first.linear
        self.flow_margin = int(flow_margin)
        wide = widened(self.geometry, self.flow_margin)
        self.to_wide = CubeToFaces(self.geometry, wide, interpolation) if self.flow_margin else None

    def read(self, index: int) -> CubeFrame:
        """The six faces of frame ``index`` (and their wider views when there is a flow margin)."""
        faces = [src.read(index) for src in self.sources]
        if self.to_wide is None:
            return CubeFrame(index, faces)
        m, edge = self.flow_margin, self.geometry.edge
        views = []
        for face, view in zip(faces, self.to_wide([f.rgb for f in faces]), strict=True):
            view[m:m + edge, m:m + edge] = face.rgb  # the centre is exactly the face the stylizer warps
            views.append(Frame(index, view, source=face.source))
        return CubeFrame(index, faces, views, m)
