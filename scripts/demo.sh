#!/usr/bin/env bash
# Set up .venv, generate the demo clip and stylize it with the shipped default models:
#   out/demo/clip.mp4          the input (a camera move over a photo the models never saw, plus a moving ball)
#   out/demo/stylized.mp4      temporally consistent stylization (image model for frame 1, video model after)
#   out/demo/per-frame.mp4     the flickering per-frame baseline (image model on every frame)
#   out/demo/report/           fav evaluate: per-frame temporal error (JSON/CSV/PNG) and comparison.mp4 (side by side)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
mkdir -p out/demo
python examples/make_demo_clip.py -o out/demo/frames --mp4 out/demo/clip.mp4
fav stylize out/demo/clip.mp4 -o out/demo/stylized.mp4
fav stylize out/demo/clip.mp4 -o out/demo/per-frame.mp4 --per-frame --model stained-glass-video \
    --image-model stained-glass-image
fav evaluate out/demo/stylized.mp4 --input out/demo/clip.mp4 --compare-per-frame out/demo/per-frame.mp4 \
    -o out/demo/report
echo "done: out/demo/stylized.mp4, out/demo/per-frame.mp4, out/demo/report/"
