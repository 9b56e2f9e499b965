"""Benchmark (issue 7): seams of ``fav stylize-360`` against the reference's baselines, on a synthetic scene.

Stylizes the same synthetic rotating equirectangular scene (``fav_core.spherical.synthetic.rotating_scene``) with
the given models in ONE run of this script, as:

* ``ours`` — the defaults: border priors from already stylized neighbours, exact border maps, first-frame faces
  started from their own stylization, the border lock, each face's flow on a view half the overlap wider, the
  neighbour fill of content entering a face, ``blend_other_sides``;
* ``ours_without_lock`` — the same with ``--no-border-lock`` (what the lock buys and costs);
* ``reference_method`` — the reference's §9 (its border maps, border-only first-frame priors, no lock, no
  neighbour fill); like
  every run here it takes its flow from the wider face views, so the temporal columns compare like with like;
* ``reference_baseline`` — ``--create-inconsistent-border`` with the reference's maps: no border priors, faces
  still blended (what the reference's flag does);
* ``baseline_wide_ramp`` — the same with ``--ramp-width = overlap``: its blend reaches 0.5 exactly at the seam,
  which is most of what the 1-px seam metrics see (shown so that nobody mistakes them for consistency);
* ``independent`` — ``--create-inconsistent-border --no-blend-sides``: six independent faces;
* ``consistent_floor`` — not a method: every equirect frame stylized whole by the image model, cut into the same
  cube faces, median-filtered and put back: what a seam-free result scores on these metrics.

Per run it prints the issue's seam metric (mean |colour difference| of neighbouring equirect pixels from different
faces, ``seams.seam_difference``), ``seam_excess`` (that difference minus the one right beside the border on the
same rows/columns, ``seams.seam_excess``: ≈ 0 when seamless), ``cube_edge_mse`` (trimmed face edges, from
``--evaluate``), ``overlap_disagreement`` (the nets' own outputs against the already stylized neighbours in the
shared strips, before blending/lock hide it: the consistency itself), the temporal error per face and next to the
seams (``temporal_error_seam_band``: core pixels within overlap/4 of the face border; flicker where faces hand
over) and the mean HSV saturation (washed-out faces); then the ratios ours / reference_baseline.

Usage:
    python bench/seams_360.py [--model stained-glass-video] [--image-model stained-glass-image] \\
        [--size 512x256] [--cube-edge 160] [--overlap 32] [--frames 3] [--scene synthetic|photos]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fav_core.cli.main import main as fav  # noqa: E402
from fav_core.median import median_filter  # noqa: E402
from fav_core.spherical.projection import CubeGeometry, CubeToEquirect, EquirectToCube  # noqa: E402
from fav_core.spherical.seams import seam_difference, seam_excess  # noqa: E402
from fav_core.spherical.synthetic import rotating_scene  # noqa: E402
from fav_core.stylizer import Stylizer, StylizerConfig  # noqa: E402
from fav_core.types import Frame  # noqa: E402

# Every run computes its flow the same way (the default margin), so that the temporal errors, which are measured
# with each run's own flow and reliability, compare like with like.
REFERENCE = ["--border-maps", "reference", "--no-neighbour-fill"]
RUNS = {
    "ours": [],
    "ours_without_lock": ["--no-border-lock"],
    "reference_method": ["--first-faces", "border", "--no-border-lock", *REFERENCE],
    "reference_baseline": ["--create-inconsistent-border", *REFERENCE],
    "baseline_wide_ramp": ["--create-inconsistent-border", *REFERENCE, "--ramp-width", "OVERLAP"],
    "independent": ["--create-inconsistent-border", "--no-blend-sides", *REFERENCE],
}
KEYS = ("seam", "seam_excess", "cube_edge_mse", "overlap_disagreement", "temporal_error",
        "temporal_error_seam_band", "saturation")


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) float64 in [0, 1] from an 8-bit PNG."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"{path}: could not read the output frame")
    return image[:, :, ::-1] / 255.0


def saturation(rgb: np.ndarray) -> float:
    """Mean HSV saturation of an rgb01 image."""
    hsv = cv2.cvtColor(np.float32(np.clip(rgb, 0.0, 1.0)), cv2.COLOR_RGB2HSV)
    return float(hsv[:, :, 1].mean())


def measure(frames: list[np.ndarray], index: np.ndarray) -> dict[str, float]:
    return {
        "seam": float(np.mean([seam_difference(f, index) for f in frames])),
        "seam_excess": float(np.mean([seam_excess(f, index) for f in frames])),
        "saturation": float(np.mean([saturation(f) for f in frames])),
    }


def consistent_floor(src: Path, frames: int, args: argparse.Namespace, geometry: CubeGeometry,
                     size: tuple[int, int]) -> list[np.ndarray]:
    """Each equirect frame stylized whole, then through the same cube faces, median and equirect output."""
    stylizer = Stylizer(StylizerConfig(model=args.model, image_model=args.image_model, device="cpu",
                                       per_frame=True))
    to_cube, to_equi = EquirectToCube(geometry, size), CubeToEquirect(geometry, size)
    out = []
    for i in range(1, frames + 1):
        rgb = np.ascontiguousarray(read_rgb(src / f"eq_{i:04d}.png").astype(np.float32))
        whole = np.clip(stylizer.stylize_first(Frame(i, rgb)).raw, 0.0, 1.0)
        equi = to_equi([median_filter(f, 3) for f in to_cube(whole)])
        out.append(np.round(np.clip(equi, 0.0, 1.0) * 255.0) / 255.0)  # the 8-bit PNG the runs write
    return out


def photo_panorama(width: int, height: int, frame: int, step: int = 6) -> np.ndarray:
    """A textured equirect scene: four scikit-image photos side by side, turned about the vertical axis by
    ``step`` px per frame (an exact rotation of the sphere: a horizontal roll of the equirect). (H, W, 3) in [0, 1].
    """
    from skimage import data

    tiles = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    w = width // len(tiles)
    row = np.concatenate([cv2.resize(t, (w, height), interpolation=cv2.INTER_AREA) for t in tiles], axis=1)
    row = cv2.resize(row, (width, height), interpolation=cv2.INTER_AREA)
    return np.roll(row, frame * step, axis=1).astype(np.float32) / 255.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="stained-glass-video")
    ap.add_argument("--image-model", default="stained-glass-image")
    ap.add_argument("--size", default="512x256", help="equirectangular WxH")
    ap.add_argument("--cube-edge", type=int, default=160)
    ap.add_argument("--overlap", type=int, default=32)
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--scene", choices=("synthetic", "photos"), default="synthetic",
                    help="synthetic: spherical.synthetic.rotating_scene; photos: four scikit-image photos as a "
                    "panorama turning 6 px per frame (real texture)")
    ap.add_argument("--keep", type=Path, default=None, help="write the runs here instead of a temporary folder")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    print(f"command: python bench/seams_360.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    geometry = CubeGeometry(args.cube_edge, args.overlap)
    with tempfile.TemporaryDirectory(prefix="fav-seams-") as tmp:
        root = args.keep or Path(tmp)
        src = root / "in"
        src.mkdir(parents=True, exist_ok=True)
        for i in range(1, args.frames + 1):
            scene = (photo_panorama(width, height, i - 1) if args.scene == "photos"
                     else np.clip(rotating_scene(width, height, i - 1), 0.0, 1.0))
            cv2.imwrite(str(src / f"eq_{i:04d}.png"), (scene[:, :, ::-1] * 255 + 0.5).astype(np.uint8))
        index = CubeToEquirect(geometry, (height, width)).face_index
        rows: dict[str, dict[str, float | None]] = {}
        for name, extra in RUNS.items():
            out = root / name
            report = root / f"{name}.json"
            extra = [str(args.overlap) if a == "OVERLAP" else a for a in extra]
            code = fav(["stylize-360", str(src / "eq_%04d.png"), "-o", str(out), "--model", args.model,
                        "--image-model", args.image_model, "--cube-edge", str(args.cube_edge), "--overlap",
                        str(args.overlap), "--progress", "none", "--no-resume", "--evaluate", str(report), *extra])
            if code != 0:
                raise SystemExit(f"fav stylize-360 failed ({code}) for {name}")
            frames = [read_rgb(out / f"frame_{i:05d}.png") for i in range(1, args.frames + 1)]
            summary = json.loads(report.read_text())["summary"]
            rows[name] = measure(frames, index) | {
                "cube_edge_mse": summary["cube_edge_mse"],
                "overlap_disagreement": summary["all_faces"]["overlap_disagreement"],
                "temporal_error": summary["all_faces"]["temporal_error"],
                "temporal_error_seam_band": summary["all_faces"]["temporal_error_seam_band"],
            }
        rows["consistent_floor"] = measure(consistent_floor(src, args.frames, args, geometry, (height, width)),
                                           index) | {k: None for k in KEYS if k not in ("seam", "seam_excess",
                                                                                        "saturation")}
    for name, row in rows.items():
        print(f"{name:20s} " + "  ".join(f"{k} {'-' if row[k] is None else format(row[k], '.4f')}" for k in KEYS))
    ours, base = rows["ours"], rows["reference_baseline"]
    for key in KEYS[:-1]:
        a, b = ours[key], base[key]
        if a is not None and b:
            print(f"{key:22s} ours/reference_baseline {a / b:+.2f}")
    print(json.dumps({"settings": vars(args) | {"keep": str(args.keep) if args.keep else None}, "runs": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
