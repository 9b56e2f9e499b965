"""Generate the demo clip: a synthetic camera move over scikit-image's `astronaut` photo plus a moving ball.

The photo is never used for training (it is held out for evaluation), so the clip is a fair test of the shipped
models. The camera pans diagonally and zooms in slightly; a shaded ball crosses the frame on its own path, so
the clip has disocclusions as well as global motion. Everything is deterministic given the seed.

Usage:
    python examples/make_demo_clip.py -o examples/demo --frames 24 --width 256 --height 192
writes `examples/demo/frame_0001.png ...` and `examples/demo.mp4` (with `--mp4`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import cv2
import numpy as np

LOG = logging.getLogger(__name__)


def camera_matrix(t: float, size_wh: tuple[int, int], photo_side: int) -> np.ndarray:
    """Affine map from photo pixels to frame pixels at time t ∈ [0, 1] (pan + slow zoom in).

    Args:
        t: Normalised time.
        size_wh: Frame (W, H).
        photo_side: Side of the square source photo.

    Returns:
        `(2, 3)` float64 matrix for `cv2.warpAffine`.

    Convention:
        Pixel centres on integers, origin top-left; the frame shows a window of the photo whose centre moves
        from (0.38, 0.34) to (0.58, 0.52) of the photo while the window shrinks from 0.62 to 0.54 of its side.
    """
    width, height = size_wh
    centre = photo_side * (np.array([0.38, 0.34]) + t * np.array([0.20, 0.18]))
    window = photo_side * (0.62 - 0.08 * t)
    scale = width / window
    return np.array(
        [[scale, 0.0, width / 2 - scale * centre[0]], [0.0, scale, height / 2 - scale * centre[1]]],
        dtype=np.float64,
    )


def draw_ball(frame: np.ndarray, centre: tuple[float, float], radius: float, colour: np.ndarray) -> np.ndarray:
    """Composite a shaded ball (soft edge, highlight) onto an RGB uint8 frame (returns a new frame).

    Args:
        frame: `(H, W, 3)` uint8 RGB.
        centre: (x, y) in pixels.
        radius: Radius in pixels.
        colour: RGB base colour, 3 floats in [0, 255].
    """
    height, width = frame.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    dist = np.hypot(xs - centre[0], ys - centre[1])
    alpha = np.clip(radius + 0.5 - dist, 0.0, 1.0)[..., None]
    light = np.hypot(xs - (centre[0] - 0.35 * radius), ys - (centre[1] - 0.35 * radius)) / (1.6 * radius)
    shade = np.clip(1.25 - light, 0.35, 1.25)[..., None]
    ball = np.clip(colour[None, None, :] * shade, 0, 255)
    return np.clip(frame * (1 - alpha) + ball * alpha + 0.5, 0, 255).astype(np.uint8)


def make_clip(frames: int = 24, width: int = 256, height: int = 192, seed: int = 3) -> list[np.ndarray]:
    """Render the clip.

    Args:
        frames: Number of frames (>= 2).
        width: Frame width (a multiple of 4 suits the networks).
        height: Frame height.
        seed: Seed of the ball's colour and path.

    Returns:
        List of `(H, W, 3)` uint8 RGB frames.
    """
    import skimage.data

    photo = skimage.data.astronaut()
    rng = np.random.default_rng(seed)
    colour = rng.uniform(60, 255, size=3)
    start = np.array([rng.uniform(0.05, 0.2) * width, rng.uniform(0.55, 0.8) * height])
    end = np.array([rng.uniform(0.8, 0.95) * width, rng.uniform(0.2, 0.45) * height])
    radius = 0.11 * min(width, height)
    out = []
    for index in range(frames):
        t = index / max(frames - 1, 1)
        matrix = camera_matrix(t, (width, height), photo.shape[0])
        frame = cv2.warpAffine(photo, matrix, (width, height), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
        bob = 0.06 * height * np.sin(2 * np.pi * t)
        centre = start + t * (end - start) + np.array([0.0, bob])
        out.append(draw_ball(frame, (float(centre[0]), float(centre[1])), radius, colour))
    return out


def write_png_sequence(frames: list[np.ndarray], folder: Path) -> None:
    """Write `frame_0001.png ...` (1-based) into a folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames, start=1):
        path = folder / f"frame_{index:04d}.png"
        if not cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)):
            raise SystemExit(f"{path}: could not write the PNG")


def write_mp4(frames: list[np.ndarray], path: Path, fps: int = 12) -> None:
    """Write an H.264 MP4 (yuv420p, near-lossless CRF 12) with PyAV."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "12"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("examples/demo"), help="PNG folder")
    parser.add_argument("--mp4", type=Path, help="also write this MP4 file")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--fps", type=int, default=12)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.frames < 2 or args.width < 16 or args.height < 16:
        raise SystemExit("need --frames >= 2 and a frame of at least 16x16")
    frames = make_clip(args.frames, args.width, args.height, args.seed)
    write_png_sequence(frames, args.output)
    if args.mp4:
        write_mp4(frames, args.mp4, args.fps)
    LOG.info("wrote %d frames %dx%d to %s%s", len(frames), args.width, args.height, args.output,
             f" and {args.mp4}" if args.mp4 else "")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
