"""Generate the procedural stained-glass style image used by the shipped default models.

The image is made from scratch (no third-party artwork), so it can be shipped under the project licence:
Voronoi cells filled from a saturated 8-colour palette, short jittered strokes inside the cells, and dark
"lead" borders about 5 px thick (the settings of shared/reference/offline_loss.md).

Usage:
    python examples/make_style.py -o styles/stained-glass.png --size 256 --seed 7
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import cv2
import numpy as np

LOG = logging.getLogger(__name__)

#: Saturated 8-colour palette, RGB uint8 (deep blue, ruby, emerald, amber, violet, cyan, orange, gold).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (24, 60, 200),
    (200, 24, 40),
    (20, 150, 60),
    (240, 170, 20),
    (120, 40, 170),
    (20, 170, 200),
    (235, 100, 20),
    (230, 210, 60),
)

#: Colour of the lead lines between the cells, RGB uint8.
LEAD_RGB: tuple[int, int, int] = (18, 16, 22)


def voronoi_labels(size: int, num_cells: int, rng: np.random.Generator) -> np.ndarray:
    """Label every pixel with the index of its nearest random site.

    Args:
        size: Side length of the square image in pixels.
        num_cells: Number of Voronoi sites.
        rng: Random generator (consumed).

    Returns:
        `(size, size)` int32 array of cell indices in [0, num_cells).

    Convention:
        Pixel centres on integer coordinates, origin top-left, x right, y down.
    """
    sites = rng.uniform(0.0, size, size=(num_cells, 2))
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    best = np.full((size, size), np.inf, dtype=np.float32)
    labels = np.zeros((size, size), dtype=np.int32)
    for index, (sx, sy) in enumerate(sites):
        dist = (xs - sx) ** 2 + (ys - sy) ** 2
        closer = dist < best
        best = np.where(closer, dist, best)
        labels = np.where(closer, index, labels)
    return labels


def cell_borders(labels: np.ndarray, thickness: int) -> np.ndarray:
    """Mark pixels within about `thickness` px of a cell boundary.

    Args:
        labels: `(H, W)` int32 cell labels.
        thickness: Border thickness in pixels (>= 1).

    Returns:
        `(H, W)` bool array, True on the lead lines.
    """
    edge = np.zeros(labels.shape, dtype=np.uint8)
    edge[:, 1:] |= (labels[:, 1:] != labels[:, :-1]).astype(np.uint8)
    edge[1:, :] |= (labels[1:, :] != labels[:-1, :]).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (thickness, thickness))
    return cv2.dilate(edge, kernel) > 0


def _draw_stroke_in_cell(
    image: np.ndarray,
    labels: np.ndarray,
    cell: int,
    segment: tuple[float, float, float, float],
    shade: np.ndarray,
    thickness: int,
) -> None:
    """Draw one anti-aliased stroke into `image` (in place, our own buffer), clipped to one cell.

    Args:
        image: `(H, W, 3)` uint8 RGB canvas, modified in place.
        labels: `(H, W)` int32 cell labels.
        cell: Label of the cell the stroke belongs to.
        segment: (x0, y0, x1, y1) end points in pixels.
        shade: RGB colour of the stroke (3 floats in [0, 255]).
        thickness: Line thickness in pixels.
    """
    height, width = labels.shape
    x0, y0, x1, y1 = segment
    left = max(int(min(x0, x1)) - 3, 0)
    top = max(int(min(y0, y1)) - 3, 0)
    right = min(int(max(x0, x1)) + 4, width)
    bottom = min(int(max(y0, y1)) + 4, height)
    patch = image[top:bottom, left:right].copy()
    cv2.line(
        patch,
        (int(round(x0)) - left, int(round(y0)) - top),
        (int(round(x1)) - left, int(round(y1)) - top),
        tuple(int(v) for v in shade),
        thickness=thickness,
        lineType=cv2.LINE_AA,
    )
    inside = (labels[top:bottom, left:right] == cell)[..., None]
    image[top:bottom, left:right] = np.where(inside, patch, image[top:bottom, left:right])


def make_stained_glass(
    size: int = 256,
    num_cells: int = 70,
    num_strokes: int = 2500,
    border: int = 5,
    seed: int = 7,
) -> np.ndarray:
    """Render a stained-glass image.

    Args:
        size: Side length in pixels.
        num_cells: Number of Voronoi cells (glass pieces).
        num_strokes: Number of short jittered strokes drawn inside the cells.
        border: Thickness of the dark lead lines in pixels.
        seed: Seed of the random generator; equal seeds give identical images.

    Returns:
        `(size, size, 3)` uint8 RGB image.
    """
    rng = np.random.default_rng(seed)
    labels = voronoi_labels(size, num_cells, rng)
    palette = np.asarray(PALETTE, dtype=np.int32)
    cell_colour = palette[rng.integers(0, len(palette), size=num_cells)]
    image = cell_colour[labels].astype(np.uint8).copy()
    for _ in range(num_strokes):
        x0, y0 = rng.uniform(0, size, size=2)
        angle = rng.uniform(0.0, np.pi)
        length = rng.uniform(4.0, 14.0)
        x1, y1 = x0 + length * np.cos(angle), y0 + length * np.sin(angle)
        cell = labels[int(y0), int(x0)]
        shade = np.clip(cell_colour[cell] * rng.uniform(0.6, 1.35) + rng.normal(0.0, 12.0, size=3), 0, 255)
        thickness = int(rng.integers(1, 3))
        _draw_stroke_in_cell(image, labels, cell, (x0, y0, x1, y1), shade, thickness)
    image[cell_borders(labels, border)] = LEAD_RGB
    return image


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: write the style image as PNG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("styles/stained-glass.png"))
    parser.add_argument("--size", type=int, default=256, help="side length in pixels (default 256)")
    parser.add_argument("--cells", type=int, default=70, help="number of Voronoi cells (default 70)")
    parser.add_argument("--strokes", type=int, default=2500, help="number of strokes (default 2500)")
    parser.add_argument("--border", type=int, default=5, help="lead line thickness in px (default 5)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    image = make_stained_glass(args.size, args.cells, args.strokes, args.border, args.seed)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.output), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise SystemExit(f"{args.output}: could not write the PNG")
    LOG.info("wrote %s (%dx%d, seed %d)", args.output, args.size, args.size, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
