"""Benchmark (issue 7): seams of ``fav stylize-360`` against the reference's baselines, on a synthetic scene.

Stylizes the same synthetic rotating equirectangular scene (``fav_core.spherical.synthetic.rotating_scene``) three
times with the given models, all in ONE run of this script:

* ``ours`` — border priors from already stylized neighbours + ``blend_other_sides`` (the method);
* ``reference_baseline`` — ``--create-inconsistent-border``: no border priors, faces still blended (what the
  reference's flag does);
* ``independent`` — ``--create-inconsistent-border --no-blend-sides``: six independent faces.

and prints, per run, the seam metric (mean absolute colour difference between neighbouring equirect pixels that
come from different cube faces, ``spherical.seams.seam_difference``), the same measure inside faces (the image's
own texture), the excess of the first over the second, and ``cube_edge_mse`` (MSE between adjoining trimmed face
edges, from ``fav stylize-360 --evaluate``); then the ratios ours / baseline and ours / independent.

Usage:
    python bench/seams_360.py [--model stained-glass-video] [--image-model stained-glass-image] \\
        [--size 512x256] [--cube-edge 160] [--overlap 32] [--frames 3] [--border-maps reference|exact]
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
from fav_core.spherical.projection import CubeGeometry, CubeToEquirect  # noqa: E402
from fav_core.spherical.seams import interior_difference, seam_difference  # noqa: E402
from fav_core.spherical.synthetic import rotating_scene  # noqa: E402

RUNS = {
    "ours": [],
    "reference_baseline": ["--create-inconsistent-border"],
    "independent": ["--create-inconsistent-border", "--no-blend-sides"],
}


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) float64 in [0, 1] from an 8-bit PNG."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"{path}: could not read the output frame")
    return image[:, :, ::-1] / 255.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="stained-glass-video")
    ap.add_argument("--image-model", default="stained-glass-image")
    ap.add_argument("--size", default="512x256", help="equirectangular WxH")
    ap.add_argument("--cube-edge", type=int, default=160)
    ap.add_argument("--overlap", type=int, default=32)
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--border-maps", choices=("reference", "exact"), default="reference")
    ap.add_argument("--keep", type=Path, default=None, help="write the runs here instead of a temporary folder")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    print(f"command: python bench/seams_360.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    with tempfile.TemporaryDirectory(prefix="fav-seams-") as tmp:
        root = args.keep or Path(tmp)
        src = root / "in"
        src.mkdir(parents=True, exist_ok=True)
        for i in range(1, args.frames + 1):
            scene = np.clip(rotating_scene(width, height, i - 1), 0.0, 1.0)
            cv2.imwrite(str(src / f"eq_{i:04d}.png"), (scene[:, :, ::-1] * 255 + 0.5).astype(np.uint8))
        index = CubeToEquirect(CubeGeometry(args.cube_edge, args.overlap), (height, width)).face_index
        rows: dict[str, dict[str, float]] = {}
        for name, extra in RUNS.items():
            out = root / name
            report = root / f"{name}.json"
            code = fav(["stylize-360", str(src / "eq_%04d.png"), "-o", str(out), "--model", args.model,
                        "--image-model", args.image_model, "--cube-edge", str(args.cube_edge), "--overlap",
                        str(args.overlap), "--border-maps", args.border_maps, "--progress", "none", "--no-resume",
                        "--evaluate", str(report), *extra])
            if code != 0:
                raise SystemExit(f"fav stylize-360 failed ({code}) for {name}")
            frames = [read_rgb(out / f"frame_{i:05d}.png") for i in range(1, args.frames + 1)]
            seam = float(np.mean([seam_difference(f, index) for f in frames]))
            inside = float(np.mean([interior_difference(f, index) for f in frames]))
            edge = json.loads(report.read_text())["summary"]["cube_edge_mse"]
            rows[name] = {"seam": seam, "interior": inside, "excess": seam - inside, "cube_edge_mse": edge}
            print(f"{name:20s} seam {seam:.4f}  interior {inside:.4f}  excess {seam - inside:.4f}  "
                  f"cube_edge_mse {edge:.6f}")
    ours, base, indep = rows["ours"], rows["reference_baseline"], rows["independent"]
    for key in ("seam", "excess", "cube_edge_mse"):
        print(f"{key:14s} ours/reference_baseline {ours[key] / base[key]:.2f}   "
              f"ours/independent {ours[key] / indep[key]:.2f}")
    print(json.dumps({"settings": vars(args) | {"keep": str(args.keep) if args.keep else None}, "runs": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
