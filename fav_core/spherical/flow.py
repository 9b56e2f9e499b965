"""Host motion vectors of an equirectangular frame → per-face flow (for ``--flow pass`` on equirect input).

A renderer with a panoramic camera (Blender Cycles, equirectangular) writes its Vector pass in equirect pixels.
A face pixel looks along direction ``d``; in the equirect it sits at (u, v), and the vector there says where that
surface point is in the other frame: (u + fx, v + fy), i.e. direction ``d'``. Projected on the same face plane,
``d'`` gives the face pixel it moved to, and the face flow is the difference. Done for both halves (backward flow
t → t−1 and forward flow t → t+1) and for the validity mask.

Convention:
    - flows (H, W, 2) float32, dx right, dy down, pixels of their own image (equirect or face), backward flow of
      frame t maps t → t−1 (docs/architecture.md);
    - equirect ↔ direction as in :mod:`~fav_core.spherical.projection` (column u ↔ lon = (u + 0.5)/W·2π − π,
      row v ↔ lat = π/2 − (v + 0.5)/H·π); positions that leave the image horizontally wrap around;
    - a face pixel's flow is invalid where the equirect vector is invalid at any of the 4 bilinear neighbours,
      or the moved point is behind the face plane.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from fav_core.errors import ConfigError, ShapeError, check_shape
from fav_core.spherical.faces import AXES, FACES
from fav_core.spherical.projection import CubeGeometry, directions_to_equirect


def equirect_to_directions(u: np.ndarray, v: np.ndarray, width: int, height: int) -> np.ndarray:
    """Directions of (continuous) equirect pixel positions, ``(..., 3)`` float64 unit vectors.

    Convention:
        - lon = (u + 0.5)/W·2π − π, lat = π/2 − (v + 0.5)/H·π; direction (cos lat·sin lon, sin lat,
          cos lat·cos lon) (the inverse of projection.directions_to_equirect).
    """
    lon = (u + 0.5) / width * 2 * math.pi - math.pi
    lat = math.pi / 2 - (v + 0.5) / height * math.pi
    return np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)], axis=-1)


class EquirectFlowToCube:
    """Reprojects equirect flow fields to the six faces (maps precomputed).

    Args:
        geometry: face size and overlap.
        equirect_size: (H, W) of the equirect frames (the flow's pixel units).

    Raises:
        ConfigError: an equirect smaller than 4×2.
    """

    def __init__(self, geometry: CubeGeometry, equirect_size: tuple[int, int]) -> None:
        h, w = (int(s) for s in equirect_size)
        if h < 2 or w < 4:
            raise ConfigError(f"equirectangular frames must be at least 4x2 px, got {w}x{h}")
        self.geometry = geometry
        self.equirect_size = (h, w)
        coords = geometry.coords()
        cols, rows = np.meshgrid(np.arange(geometry.edge, dtype=np.float64),
                                 np.arange(geometry.edge, dtype=np.float64))
        self._pixels = np.stack([cols, rows], axis=-1)
        self._maps: list[tuple[np.ndarray, np.ndarray]] = []
        for face in FACES:
            f, r, d = AXES[face]
            dirs = f + coords[None, :, None] * r + coords[:, None, None] * d
            u, v = directions_to_equirect(dirs, w, h)
            self._maps.append((u, v))

    def _sample(self, image: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Bilinear sample at (u, v), wrapping around horizontally, clamped at the poles."""
        h, w = self.equirect_size
        padded = cv2.copyMakeBorder(np.ascontiguousarray(image, dtype=np.float32), 1, 1, 1, 1, cv2.BORDER_WRAP)
        padded[0], padded[-1] = padded[1], padded[-2]  # replicate rows at the poles
        mx = (np.mod(u + 0.5, w) - 0.5 + 1.0).astype(np.float32)
        my = (np.clip(v, 0.0, h - 1.0) + 1.0).astype(np.float32)
        out = cv2.remap(padded, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return out.reshape(*u.shape, *image.shape[2:])

    def face_flows(self, flow: np.ndarray, valid: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Reproject one equirect flow field.

        Args:
            flow: :math:`(H, W, 2)` float32 equirect flow (either direction).
            valid: :math:`(H, W)` bool, where ``flow`` holds (None = everywhere finite).

        Returns:
            6 × (flow :math:`(E, E, 2)` float32, valid :math:`(E, E)` bool), slot order (faces.FACES).

        Raises:
            ShapeError: sizes differ from the equirect size given at construction.
        """
        h, w = self.equirect_size
        check_shape(flow, f"{h} {w} 2", "equirect flow")
        ok = np.isfinite(flow).all(axis=2)
        if valid is not None:
            check_shape(valid, f"{h} {w}", "equirect flow validity")
            ok &= np.asarray(valid, dtype=bool)
        clean = np.where(ok[..., None], flow, 0.0).astype(np.float32)
        out = []
        for slot, face in enumerate(FACES):
            u, v = self._maps[slot]
            moved = self._sample(clean, u, v).astype(np.float64)
            good = self._sample(ok.astype(np.float32), u, v) > 0.999
            dirs = equirect_to_directions(u + moved[..., 0], v + moved[..., 1], w, h)
            f, r, d = AXES[face]
            depth = dirs @ f
            front = depth > 1e-6
            safe = np.where(front, depth, 1.0)
            px = self.geometry.to_pixel((dirs @ r) / safe)
            py = self.geometry.to_pixel((dirs @ d) / safe)
            face_flow = np.stack([px, py], axis=-1) - self._pixels
            good &= front & np.isfinite(face_flow).all(axis=2)
            face_flow = np.where(good[..., None], face_flow, 0.0).astype(np.float32)
            out.append((face_flow, good))
        return out

    def __call__(
        self, flow_to_prev: np.ndarray | None, flow_to_next: np.ndarray | None, valid: np.ndarray | None
    ) -> list[tuple[np.ndarray | None, np.ndarray | None, np.ndarray]]:
        """Both halves of a frame's host vectors → per face (flow_to_prev, flow_to_next, valid).

        A face pixel is valid where every given half is valid there. Raises ShapeError (see :meth:`face_flows`).
        """
        if flow_to_prev is None and flow_to_next is None:
            raise ShapeError("equirect host vectors: neither half given")
        edge = self.geometry.edge
        prev = self.face_flows(flow_to_prev, valid) if flow_to_prev is not None else None
        nxt = self.face_flows(flow_to_next, valid) if flow_to_next is not None else None
        out: list[tuple[np.ndarray | None, np.ndarray | None, np.ndarray]] = []
        for slot in range(len(FACES)):
            ok = np.ones((edge, edge), dtype=bool)
            fp = fn = None
            if prev is not None:
                fp, ok_p = prev[slot]
                ok &= ok_p
            if nxt is not None:
                fn, ok_n = nxt[slot]
                ok &= ok_n
            out.append((fp, fn, ok))
        return out
