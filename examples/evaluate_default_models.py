"""Measure the shipped default models against the quality bar (issue 4) and write the numbers as JSON.

On the demo clip (astronaut, held out of training; examples/make_demo_clip.py, 24 frames at 256x192):
1. temporal error of the temporally consistent run (image model for frame 1, video model after) vs the per-frame
   run with the image model on the same frames (``fav evaluate --compare-per-frame``, flow computed with DIS);
2. style loss against the style image, in the loss network used for training (random-multiscale, seed 0) and in
   differently-seeded / differently-built random networks, for the stylized frames and for the unstylized input.

Usage:
    python examples/evaluate_default_models.py --video-model stained-glass-video --image-model stained-glass-image \
        -o out/model-eval --json models/stained-glass.eval.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from fav_core.cli.main import main as fav

LOSS_NETS = (("random-multiscale", 0), ("random-multiscale", 1), ("random-multiscale-literal", 0))


def evaluate(stylized: Path, inputs: Path, out: Path, extra: list[str]) -> dict:
    code = fav(["evaluate", str(stylized), "--input", str(inputs), "-o", str(out), "--no-video", *extra])
    if code != 0:
        raise SystemExit(f"fav evaluate failed ({code}) for {stylized}")
    return json.loads((out / "evaluation.json").read_text())["summary"]


def write_picture(path: Path, folders: list[Path], frames: tuple[int, ...]) -> None:
    """A grid of frames (rows) by folders (columns), 2-px white gaps, saved as a JPEG (quality 90)."""
    import cv2
    import numpy as np

    def frame(folder: Path, index: int) -> np.ndarray:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
        return cv2.imread(str(files[index - 1]), cv2.IMREAD_COLOR)

    rows = []
    for index in frames:
        tiles = [frame(folder, index) for folder in folders]
        gap = np.full((tiles[0].shape[0], 2, 3), 255, np.uint8)
        rows.append(np.concatenate([x for t in tiles for x in (t, gap)][:-1], axis=1))
    hgap = np.full((2, rows[0].shape[1], 3), 255, np.uint8)
    grid = np.concatenate([x for r in rows for x in (r, hgap)][:-1], axis=0)
    if not cv2.imwrite(str(path), grid, [cv2.IMWRITE_JPEG_QUALITY, 90]):
        raise SystemExit(f"{path}: could not write the picture")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--video-model", default="stained-glass-video")
    ap.add_argument("--image-model", default="stained-glass-image")
    ap.add_argument("--style-image", default="models/stained-glass-style.png")
    ap.add_argument("-o", "--output", type=Path, default=Path("out/model-eval"))
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    ap.add_argument("--picture", type=Path, default=None,
                    help="also write the model card's picture here (JPEG: rows = frames 1 and 13; columns = input, "
                         "per-frame, temporal)")
    args = ap.parse_args()

    out = args.output
    frames = out / "frames"
    if not frames.is_dir():
        import subprocess
        import sys

        subprocess.run([sys.executable, str(Path(__file__).with_name("make_demo_clip.py")), "-o", str(frames)],
                       check=True)
    pattern = str(frames / "frame_%04d.png")
    common = ["--model", args.video_model, "--image-model", args.image_model, "--progress", "none", "--no-resume"]
    for name, extra in (("temporal", []), ("per-frame", ["--per-frame"])):
        if fav(["stylize", pattern, "-o", str(out / name), *common, *extra]) != 0:
            raise SystemExit(f"fav stylize failed for {name}")

    result: dict = {"clip": "examples/make_demo_clip.py defaults (astronaut, held out of training), 24 frames 256x192",
                    "video_model": args.video_model, "image_model": args.image_model}
    summary = evaluate(out / "temporal", frames, out / "report-temporal",
                       ["--compare-per-frame", str(out / "per-frame")])
    result["temporal_error"] = {
        "temporal": summary["stylized"]["temporal_error"]["mean"],
        "per_frame": summary["per_frame"]["temporal_error"]["mean"],
        "ratio_temporal_over_per_frame": summary["temporal_error_ratio"],
        "flow": "DIS medium on the input frames + forward-backward consistency mask (no ground truth)",
    }
    style: dict = {}
    for net, seed in LOSS_NETS:
        key = f"{net}:seed{seed}"
        row = {}
        for what, path in (("temporal", out / "temporal"), ("per_frame", out / "per-frame"), ("input", frames)):
            s = evaluate(path, frames, out / f"report-{what}-{net}-{seed}",
                         ["--style-image", args.style_image, "--loss-network", net, "--seed", str(seed)])
            row[what] = s["stylized"]["style_loss"]["mean"]
        row["temporal_over_input"] = row["temporal"] / row["input"]
        style[key] = row
    result["style_loss_mean"] = style
    if args.picture:
        write_picture(args.picture, [frames, out / "per-frame", out / "temporal"], (1, 13))
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
