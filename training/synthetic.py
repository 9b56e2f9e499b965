"""Synthetic training clips: a camera move over a still photo plus moving foreground shapes.

Made for machines without real video data: the `shift` / `zoom_out` sources only uncover strips at the frame
border, so a video network trained on them never sees the *interior* disocclusions a moving object leaves behind.
These clips have them: 1-3 shapes (discs and rectangles filled with a flat colour or a patch of another photo)
move independently over a panning / zooming background. Flow and reliability are computed later by the video
dataset builder with a real flow provider, exactly as for real footage.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from fav_core.errors import ConfigError


def _camera(t: float, start: np.ndarray, end: np.ndarray, zoom: tuple[float, float], size_hw: tuple[int, int],
            photo_hw: tuple[int, int]) -> np.ndarray:
    """`(2, 3)` affine photo→frame matrix: window centre moves start→end, window side scales zoom[0]→zoom[1]."""
    height, width = size_hw
    side = min(photo_hw) * (zoom[0] + t * (zoom[1] - zoom[0]))
    centre = (start + t * (end - start)) * np.array([photo_hw[1], photo_hw[0]])
    scale = max(height, width) / side
    return np.array([[scale, 0.0, width / 2 - scale * centre[0]], [0.0, scale, height / 2 - scale * centre[1]]])


def _shape_mask(kind: str, centre: np.ndarray, radius: float, size_hw: tuple[int, int]) -> np.ndarray:
    """Anti-aliased `(H, W)` float32 coverage of a disc or an axis-aligned rectangle."""
    height, width = size_hw
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == "disc":
        return np.clip(radius + 0.5 - np.hypot(xs - centre[0], ys - centre[1]), 0.0, 1.0)
    half_w, half_h = radius * 1.3, radius * 0.8
    inside_x = np.clip(half_w + 0.5 - np.abs(xs - centre[0]), 0.0, 1.0)
    inside_y = np.clip(half_h + 0.5 - np.abs(ys - centre[1]), 0.0, 1.0)
    return inside_x * inside_y


def synthetic_clip(
    photo: np.ndarray,
    textures: Sequence[np.ndarray],
    rng: np.random.Generator,
    frames: int = 8,
    size_hw: tuple[int, int] = (128, 128),
) -> list[np.ndarray]:
    """Render one clip.

    Args:
        photo: `(H, W, 3)` uint8 RGB background photo.
        textures: Photos to take shape fills from (may be empty: flat colours only).
        rng: Random generator (consumed; equal states give identical clips).
        frames: Number of frames.
        size_hw: Frame (H, W).

    Returns:
        `frames` arrays `(H, W, 3)` uint8 RGB.

    Convention:
        The camera window (a square of 55-90 % of the photo's shorter side) pans by up to 20 % of the photo and
        zooms by up to ±12 % over the clip; each shape moves linearly by 15-45 % of the frame size.
    """
    height, width = size_hw
    start = rng.uniform(0.35, 0.65, size=2)
    end = np.clip(start + rng.uniform(-0.2, 0.2, size=2), 0.3, 0.7)
    zoom0 = rng.uniform(0.55, 0.9)
    zoom = (zoom0, zoom0 * rng.uniform(0.88, 1.12))
    shapes = []
    for _ in range(int(rng.integers(1, 4))):
        radius = rng.uniform(0.08, 0.18) * min(size_hw)
        p0 = rng.uniform(0.1, 0.9, size=2) * np.array([width, height])
        step = rng.uniform(0.15, 0.45) * min(size_hw)
        angle = rng.uniform(0, 2 * np.pi)
        p1 = p0 + step * np.array([np.cos(angle), np.sin(angle)])
        kind = "disc" if rng.uniform() < 0.5 else "rect"
        if textures and rng.uniform() < 0.6:
            source = textures[int(rng.integers(0, len(textures)))]
            fill = cv2.resize(source, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)
        else:
            fill = np.broadcast_to(rng.uniform(0, 255, size=3).astype(np.float32), (height, width, 3))
        shapes.append((kind, radius, p0, p1, fill))
    clip = []
    for index in range(frames):
        t = index / max(frames - 1, 1)
        matrix = _camera(t, start, end, zoom, size_hw, photo.shape[:2])
        frame = cv2.warpAffine(photo, matrix, (width, height), flags=cv2.INTER_AREA,
                               borderMode=cv2.BORDER_REFLECT).astype(np.float32)
        for kind, radius, p0, p1, fill in shapes:
            centre = p0 + t * (p1 - p0)
            offset = (centre - p0).astype(np.float32)
            moved = cv2.warpAffine(np.ascontiguousarray(fill), np.float32([[1, 0, offset[0]], [0, 1, offset[1]]]),
                                   (width, height), borderMode=cv2.BORDER_REFLECT)
            alpha = _shape_mask(kind, centre, radius, size_hw)[..., None]
            frame = frame * (1.0 - alpha) + moved * alpha
        clip.append(np.clip(frame + 0.5, 0, 255).astype(np.uint8))
    return clip


def synthetic_clips(
    photos: dict[str, np.ndarray], clips_per_photo: int, frames: int, size_hw: tuple[int, int], seed: int
) -> list[list[np.ndarray]]:
    """`clips_per_photo` clips of every photo (shape textures from the other photos), deterministic given seed.

    Raises:
        ConfigError: fewer than 1 clip per photo, fewer than 2 frames, or a frame size below 8 px.
    """
    if clips_per_photo < 1 or frames < 2 or min(size_hw) < 8:
        raise ConfigError(
            "build-synthetic-video: need --clips-per-image >= 1, --frames >= 2 and --height/--width >= 8, got "
            f"{clips_per_photo}, {frames}, {size_hw[0]}x{size_hw[1]}"
        )
    rng = np.random.default_rng(seed)
    names = list(photos)
    clips = []
    for name in names:
        textures = [photos[other] for other in names if other != name]
        for _ in range(clips_per_photo):
            clips.append(synthetic_clip(photos[name], textures, rng, frames, size_hw))
    return clips
