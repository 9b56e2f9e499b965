"""Equirectangular ↔ cube faces with overlapping borders (our replacement for Facebook's Transform360).

Geometry (:class:`CubeGeometry`): every face is a square of ``edge`` pixels that includes ``overlap / 2`` pixels of
overlap on each side (the reference's 768-px faces with 128 px overlap = Transform360 ``expand_coef`` 1.2). Face
pixel (col, row) has normalised coordinates ``a = (col − (edge − 1)/2) / h``, ``b = (row − (edge − 1)/2) / h`` with
``h = (edge − overlap)/2``, so a, b = ±1 on the cube edges, and looks along ``f + a·r + b·d`` (faces.AXES).

Equirectangular frame: column u ↔ longitude ``lon = (u + 0.5)/W·2π − π`` (the image centre looks at the front face,
longitude grows to the right), row v ↔ latitude ``lat = π/2 − (v + 0.5)/H·π`` (top row = up). Direction
``(cos lat·sin lon, sin lat, cos lat·cos lon)``.

Resampling is ``cv2.remap`` with precomputed maps (Lanczos-4 by default, or cubic/linear). Where the target samples
the source more sparsely than the source's pixels (down-sampling), the target is rendered at an integer
supersampling factor and reduced with ``cv2.INTER_AREA`` (a box filter), and a very dense source is first reduced
with ``INTER_AREA``, so small faces from a 4K frame do not alias.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from fav_core.errors import ConfigError, ShapeError, check_shape
from fav_core.spherical.faces import AXES, FACES

INTERPOLATIONS: dict[str, int] = {
    "lanczos4": cv2.INTER_LANCZOS4,
    "cubic": cv2.INTER_CUBIC,
    "linear": cv2.INTER_LINEAR,
}
_MAX_SUPERSAMPLE = 4
_ATLAS_MARGIN = 6  # replicate-padding around each face in the atlas: Lanczos-4 reaches 4 px, plus slack


@dataclass(frozen=True)
class CubeGeometry:
    """Size of the cube faces.

    Attributes:
        edge: face size in pixels *including* the overlap (faces are edge × edge).
        overlap: total overlap in pixels (``overlap / 2`` on each side), even, ``0 <= overlap < edge``.
    """

    edge: int
    overlap: int

    def __post_init__(self) -> None:
        if not isinstance(self.edge, int) or self.edge < 4:
            raise ConfigError(f"cube edge must be an integer >= 4 px, got {self.edge!r}")
        if not isinstance(self.overlap, int) or self.overlap < 0 or self.overlap % 2:
            raise ConfigError(f"overlap must be an even number of pixels >= 0, got {self.overlap!r}")
        if self.overlap >= self.edge - 2:
            raise ConfigError(f"overlap {self.overlap} px leaves no cube face inside a {self.edge}-px face")

    @property
    def core(self) -> int:
        """Pixels across the cube face proper (without overlap)."""
        return self.edge - self.overlap

    @property
    def half(self) -> float:
        """Pixels per unit of the normalised face coordinate (= px per radian at the face centre)."""
        return self.core / 2.0

    @property
    def expand(self) -> float:
        """Field-of-view expansion (Transform360 ``expand_coef``): tan of the half field of view."""
        return self.edge / self.core

    def coords(self, supersample: int = 1) -> np.ndarray:
        """Normalised coordinates of the pixel centres along one axis, :math:`(edge·s,)` float64.

        With supersampling s, sub-pixel j sits at ``(j + 0.5)/s − 0.5`` in face pixels.
        """
        pix = (np.arange(self.edge * supersample, dtype=np.float64) + 0.5) / supersample - 0.5
        return (pix - (self.edge - 1) / 2.0) / self.half

    def to_pixel(self, a: np.ndarray) -> np.ndarray:
        """Normalised coordinate → face pixel coordinate (0-based pixel centres)."""
        return a * self.half + (self.edge - 1) / 2.0


def _check_interp(name: str) -> int:
    if name not in INTERPOLATIONS:
        raise ConfigError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {name!r}")
    return INTERPOLATIONS[name]


def directions_to_equirect(dirs: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """World directions → equirectangular pixel coordinates (u, v), each like ``dirs[..., 0]`` (float64).

    Convention:
        - u = (lon + π)/(2π)·W − 0.5, v = (π/2 − lat)/π·H − 0.5; lon = atan2(x, z), lat = atan2(y, √(x² + z²))
    """
    x, y, z = dirs[..., 0], dirs[..., 1], dirs[..., 2]
    lon = np.arctan2(x, z)
    lat = np.arctan2(y, np.hypot(x, z))
    return (lon + math.pi) / (2 * math.pi) * width - 0.5, (math.pi / 2 - lat) / math.pi * height - 0.5


def equirect_directions(width: int, height: int, supersample: int = 1) -> np.ndarray:
    """Directions of the (sub-)pixel centres of a width × height equirectangular image.

    Returns:
        :math:`(H·s, W·s, 3)` float64 unit vectors.

    Convention:
        - column u ↔ lon = (u + 0.5)/W·2π − π, row v ↔ lat = π/2 − (v + 0.5)/H·π; sub-pixel j of s sits at
          (j + 0.5)/s − 0.5 pixels; direction (cos lat·sin lon, sin lat, cos lat·cos lon)
    """
    u = (np.arange(width * supersample) + 0.5) / supersample - 0.5
    v = (np.arange(height * supersample) + 0.5) / supersample - 0.5
    lon = (u + 0.5) / width * 2 * math.pi - math.pi
    lat = math.pi / 2 - (v + 0.5) / height * math.pi
    lon, lat = np.meshgrid(lon, lat)
    return np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)], axis=-1)


def _pad_equirect(img: np.ndarray, pad: int) -> np.ndarray:
    """Pad an equirect image: wrap left/right; above the top (below the bottom) row continue over the pole, i.e.
    mirrored rows shifted by half a turn (exact for even widths)."""
    w = img.shape[1]
    top = np.roll(img[:pad][::-1], w // 2, axis=1)
    bottom = np.roll(img[-pad:][::-1], w // 2, axis=1)
    tall = np.concatenate([top, img, bottom], axis=0)
    return np.concatenate([tall[:, -pad:], tall, tall[:, :pad]], axis=1)


def _area_reduce(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """INTER_AREA resize to (H, W), keeping a trailing channel axis of 1."""
    out = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return out.reshape(size[0], size[1], *img.shape[2:])


def _remap(src: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, interp: int) -> np.ndarray:
    out = cv2.remap(src, map_x, map_y, interpolation=interp, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(map_x.shape[0], map_x.shape[1], *src.shape[2:])


class EquirectToCube:
    """Equirectangular frame → 6 faces (slot order of :data:`~fav_core.spherical.faces.FACES`), maps precomputed.

    Args:
        geometry: face size and overlap.
        equirect_size: (H, W) of the input frames.
        interpolation: ``lanczos4`` (default), ``cubic`` or ``linear``.

    Attributes:
        supersample: faces are rendered this many times larger, then reduced with INTER_AREA (when the equirect
            is denser than the faces).
        reduced_size: (H, W) the equirect is first reduced to (INTER_AREA) when it is denser still.

    Convention:
        - face pixel (col, row) ↔ a, b as in :class:`CubeGeometry`, direction f + a·r + b·d (faces.AXES),
          sampled at the equirect position of :func:`directions_to_equirect`; the equirect is continued around
          its left/right seam and over the poles before sampling.
    """

    def __init__(self, geometry: CubeGeometry, equirect_size: tuple[int, int], interpolation: str = "lanczos4") -> None:
        self.geometry = geometry
        self.interp = _check_interp(interpolation)
        h, w = (int(s) for s in equirect_size)
        if h < 2 or w < 4:
            raise ConfigError(f"equirectangular frames must be at least 4x2 px, got {w}x{h}")
        self.equirect_size = (h, w)
        density = w / (2 * math.pi)  # source px per radian at the equator
        ratio = density / geometry.half
        self.supersample = min(_MAX_SUPERSAMPLE, max(1, math.ceil(ratio - 1e-9)))
        reduce = min(1.0, self.supersample / ratio)  # pre-reduce a source denser than the supersampled faces
        self.reduced_size = (max(2, round(h * reduce)), max(4, round(w * reduce)))
        rh, rw = self.reduced_size
        self.pad = min(8, rh, rw)  # rows/columns continued over the poles / around the seam
        coords = geometry.coords(self.supersample)
        self.maps: list[tuple[np.ndarray, np.ndarray]] = []
        for face in FACES:
            dirs = _face_dirs(face, coords)
            u, v = directions_to_equirect(dirs, rw, rh)
            self.maps.append(((u + self.pad).astype(np.float32), (v + self.pad).astype(np.float32)))

    def __call__(self, equirect: np.ndarray) -> list[np.ndarray]:
        """Project one frame.

        Args:
            equirect: :math:`(H, W, C)` float32 (any C cv2 accepts, typically 3).

        Returns:
            6 faces :math:`(E, E, C)` float32, slot order front, left, right, back, top, bottom.

        Raises:
            ShapeError: the frame is not the size given at construction.
        """
        check_shape(equirect, "H W C", "equirect")
        if equirect.shape[:2] != self.equirect_size:
            raise ShapeError(
                f"equirect: frame is {equirect.shape[1]}x{equirect.shape[0]}, projection was set up for "
                f"{self.equirect_size[1]}x{self.equirect_size[0]}"
            )
        src = np.ascontiguousarray(equirect, dtype=np.float32)
        if self.reduced_size != self.equirect_size:
            src = _area_reduce(src, self.reduced_size)
        src = _pad_equirect(src, self.pad)
        edge = self.geometry.edge
        faces = []
        for map_x, map_y in self.maps:
            face = _remap(src, map_x, map_y, self.interp)
            if self.supersample > 1:
                face = _area_reduce(face, (edge, edge))
            faces.append(np.ascontiguousarray(face, dtype=np.float32))
        return faces


def _face_dirs(face: str, coords: np.ndarray) -> np.ndarray:
    f, r, d = AXES[face]
    a = coords[None, :, None]
    b = coords[:, None, None]
    return f + a * r + b * d


class CubeToEquirect:
    """6 faces (slot order, with overlap) → equirectangular frame, maps precomputed.

    Each output pixel samples the face whose forward axis is closest to its direction (inside the cube face proper,
    so the overlap only feeds the interpolation kernel).

    Convention:
        - output pixel (u, v) looks along :func:`equirect_directions`; on face F it sits at a = (v·r)/(v·f),
          b = (v·d)/(v·f) → pixel a·h + (E − 1)/2 (faces.AXES, :class:`CubeGeometry`).

    Args:
        geometry: face size and overlap of the inputs.
        out_size: (H, W) of the output.
        interpolation: ``lanczos4`` (default), ``cubic`` or ``linear``.

    Attributes:
        face_index: :math:`(H, W)` int8, the slot each output pixel comes from (for seam measurements).
        supersample: the output is rendered this many times larger, then reduced with INTER_AREA.
        face_size: faces denser than that are first reduced (INTER_AREA) to this size.
    """

    def __init__(self, geometry: CubeGeometry, out_size: tuple[int, int], interpolation: str = "lanczos4") -> None:
        self.geometry = geometry
        self.interp = _check_interp(interpolation)
        h, w = (int(s) for s in out_size)
        if h < 2 or w < 4:
            raise ConfigError(f"equirectangular output must be at least 4x2 px, got {w}x{h}")
        self.out_size = (h, w)
        # Face px per output px: half/(W/2π) at a face centre, up to twice that at the face edges (1 + a²).
        ratio = 2.0 * geometry.half / (w / (2 * math.pi))
        self.supersample = min(_MAX_SUPERSAMPLE, max(1, math.ceil(ratio - 1e-9)))
        # Faces still denser than the supersampled output are first reduced (INTER_AREA) to this size.
        self.face_size = min(geometry.edge, max(4, math.ceil(geometry.edge * self.supersample / ratio)))
        dirs = equirect_directions(w, h, self.supersample)
        self.map_x, self.map_y = _atlas_maps(dirs, geometry, self.face_size)
        self.face_index = nearest_face(equirect_directions(w, h))

    def __call__(self, faces: list[np.ndarray]) -> np.ndarray:
        """Render one frame.

        Args:
            faces: 6 arrays :math:`(E, E, C)` float32 in slot order.

        Returns:
            :math:`(H, W, C)` float32.

        Raises:
            ShapeError: not 6 faces, or a face of the wrong size.
        """
        atlas = _atlas(faces, self.geometry.edge, self.face_size)
        out = _remap(atlas, self.map_x, self.map_y, self.interp)
        if self.supersample > 1:
            out = _area_reduce(out, self.out_size)
        return np.ascontiguousarray(out.reshape(*self.out_size, -1), dtype=np.float32)


def _atlas_maps(dirs: np.ndarray, geometry: CubeGeometry, face_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each direction ``dirs[..., 3]`` lies in the atlas of :func:`_atlas`: (map_x, map_y) float32.

    Each direction samples the face whose forward axis is closest to it (inside the cube face proper, so the
    overlap only feeds the interpolation kernel); faces reduced to ``face_size`` px.
    """
    index = nearest_face(dirs)
    scale = face_size / geometry.edge  # face pixel p sits at (p + 0.5)·scale − 0.5 in a reduced face
    stride = face_size + 2 * _ATLAS_MARGIN
    map_x = np.empty(index.shape, np.float64)
    map_y = np.empty(index.shape, np.float64)
    for slot, face in enumerate(FACES):
        sel = index == slot
        f, r, d = AXES[face]
        v = dirs[sel]
        depth = v @ f
        px = (geometry.to_pixel((v @ r) / depth) + 0.5) * scale - 0.5
        py = (geometry.to_pixel((v @ d) / depth) + 0.5) * scale - 0.5
        map_x[sel] = px + _ATLAS_MARGIN
        map_y[sel] = py + _ATLAS_MARGIN + slot * stride
    return map_x.astype(np.float32), map_y.astype(np.float32)


def _atlas(faces: list[np.ndarray], edge: int, face_size: int) -> np.ndarray:
    """The 6 faces stacked vertically, each reduced to ``face_size`` and replicate-padded by ``_ATLAS_MARGIN``.

    Args:
        faces: 6 arrays :math:`(E, E, C)` float32 in slot order.

    Returns:
        :math:`(6·(S + 2m), S + 2m, C)` float32 (S = face_size, m = _ATLAS_MARGIN).

    Raises:
        ShapeError: not 6 faces, or a face of the wrong size.
    """
    if len(faces) != len(FACES):
        raise ShapeError(f"faces: expected 6 cube faces, got {len(faces)}")
    m = _ATLAS_MARGIN
    tiles = []
    for n, face in enumerate(faces):
        check_shape(face, "E F C", f"face {n}")
        if face.shape[:2] != (edge, edge):
            raise ShapeError(f"face {n}: expected {edge}x{edge}, got {face.shape[1]}x{face.shape[0]}")
        src = np.ascontiguousarray(face, dtype=np.float32)
        if face_size != edge:
            src = _area_reduce(src, (face_size, face_size))
        tile = cv2.copyMakeBorder(src, m, m, m, m, cv2.BORDER_REPLICATE)
        size = face_size + 2 * m
        tiles.append(tile.reshape(size, size, -1))
    return np.concatenate(tiles, axis=0)


class CubeToFaces:
    """6 faces (slot order, with overlap) → the same 6 faces seen through another geometry, maps precomputed.

    Used to cut wider views of cube-face input for the flow (spherical.flow_margin) when there is no equirect to
    project them from: every pixel of a view is sampled from the input face whose forward axis is closest to its
    direction, as in :class:`CubeToEquirect`.

    Args:
        geometry: face size and overlap of the inputs.
        out_geometry: face size and overlap of the views (e.g. ``flow_margin.widened(geometry, m)``).
        interpolation: ``lanczos4`` (default), ``cubic`` or ``linear``.

    Convention:
        - view pixel (col, row) of face F looks along F's f + a·r + b·d (faces.AXES) with a, b from
          ``out_geometry``; it is sampled like an equirect pixel in :class:`CubeToEquirect`.
    """

    def __init__(self, geometry: CubeGeometry, out_geometry: CubeGeometry, interpolation: str = "lanczos4") -> None:
        self.geometry = geometry
        self.out_geometry = out_geometry
        self.interp = _check_interp(interpolation)
        coords = out_geometry.coords()
        self.maps = [_atlas_maps(_face_dirs(face, coords), geometry, geometry.edge) for face in FACES]

    def __call__(self, faces: list[np.ndarray]) -> list[np.ndarray]:
        """The 6 views of one frame.

        Args:
            faces: 6 arrays :math:`(E, E, C)` float32 in slot order (E = ``geometry.edge``).

        Returns:
            6 arrays :math:`(E', E', C)` float32 (E' = ``out_geometry.edge``).

        Raises:
            ShapeError: not 6 faces, or a face of the wrong size.
        """
        atlas = _atlas(faces, self.geometry.edge, self.geometry.edge)
        edge = self.out_geometry.edge
        return [np.ascontiguousarray(_remap(atlas, mx, my, self.interp).reshape(edge, edge, -1), dtype=np.float32)
                for mx, my in self.maps]


def nearest_face(dirs: np.ndarray) -> np.ndarray:
    """Slot (faces.FACES) of the face each direction hits, ``dirs[..., 3]`` → int8 (ties: lower slot)."""
    forwards = np.stack([AXES[f][0] for f in FACES])  # (6, 3)
    return np.argmax(dirs @ forwards.T, axis=-1).astype(np.int8)
