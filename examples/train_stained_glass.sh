#!/usr/bin/env bash
# Reproduce the shipped default models (stained-glass image + video) from scratch on a CPU, exactly as recorded in
# models/README-training-commands.txt (steps 0-5). About 1.5-2 h on a 2-core machine.
#
# Usage: bash examples/train_stained_glass.sh [RUN_DIR]   (default runs/stained-glass; models go to RUN_DIR/export)
# Re-running resumes every unfinished stage from its last checkpoint (model, Adam, iteration, RNG, data positions);
# finished stages are skipped. The shipped files in models/ are not touched: compare, then copy by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/stained-glass}
DATA=${FAV_TRAIN_DATA:-runs/data}
EXPORT="$RUN/export"
mkdir -p "$RUN" "$DATA" "$EXPORT"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
ARCH=c9s1-16,d32,d64,R64,R64,R64,U2,c3s1-32,U2,c3s1-16,c9s1-3
STYLE=(--style-image models/stained-glass-style.png --style-name stained-glass --style-image-size 256)
LOSS=(--arch "$ARCH" --loss-network random-multiscale --loss-seed 0 --content-weights 1 --style-weights 2
      --tv-strength 0)
COMMON=(--batch-size 4 --checkpoint-every 50 --images-every 50 --val-every 100 --num-val-batches 1 --seed 0)

# done DIR ITERS: true when DIR's checkpoint has reached ITERS iterations.
finished() {
  python - "$1" "$2" <<'EOF'
import sys
from pathlib import Path
from training.checkpoints import state_iteration
state = Path(sys.argv[1]) / "checkpoint-state.safetensors"
sys.exit(0 if state.is_file() and state_iteration(state) >= int(sys.argv[2]) else 1)
EOF
}
# resume_flag DIR: --resume DIR when DIR has a checkpoint.
resume_flag() { [ -f "$1/checkpoint-state.safetensors" ] && echo "--resume $1" || true; }

# 0. style image (procedural) and 1. content photos
[ -f models/stained-glass-style.png ] || python examples/make_style.py -o models/stained-glass-style.png --size 256 --seed 7
[ -f "$DATA/skimage-384.h5" ] || python -m training build-images -o "$DATA/skimage-384.h5" --height 384 --width 384 \
  --center-square 1 --seed 0

# 2. image model
if ! finished "$RUN/image" 400; then
  # shellcheck disable=SC2046
  nice -n 10 python -m training -v image "${STYLE[@]}" --h5-file "$DATA/skimage-384.h5" --crop-size 128 \
    --image-size 128:128 "${LOSS[@]}" "${COMMON[@]}" --num-iterations 400 --learning-rate 2e-3,300:6e-4 \
    --output-dir "$RUN/image" $(resume_flag "$RUN/image")
fi
python -m training export "$RUN/image/checkpoint.safetensors" -o "$EXPORT/stained-glass-image.safetensors"

# 3. synthetic video data
[ -f "$DATA/synthetic-video-128.h5" ] || python -m training build-synthetic-video -o "$DATA/synthetic-video-128.h5" \
  --clips-per-image 3 --frames 8 --height 128 --width 128 --sequence-length 3 --seed 0

VIDEO=("${STYLE[@]}" --image-model "$RUN/image/checkpoint.safetensors" --h5-file "$DATA/skimage-384.h5"
       --crop-size 192 --image-size 128:128 --h5-file-video "$DATA/synthetic-video-128.h5"
       --data-mix video:2,shift:1,zoom_out:1,single_image:1 --num-frame-steps 0:1 "${LOSS[@]}" "${COMMON[@]}")
# 4. video model, pixel weight 0.1, 300 iterations
if ! finished "$RUN/video" 300; then
  # shellcheck disable=SC2046
  nice -n 10 python -m training -v video "${VIDEO[@]}" --pixel-loss-weight 0.1 --num-iterations 300 \
    --learning-rate 2e-3,225:6e-4 --output-dir "$RUN/video" $(resume_flag "$RUN/video")
fi
# 5. continued from step 4 with pixel weight 0.6 to 450 iterations (the shipped video model)
if ! finished "$RUN/ft-p06" 450; then
  from="$RUN/video"
  [ -f "$RUN/ft-p06/checkpoint-state.safetensors" ] && from="$RUN/ft-p06"
  nice -n 10 python -m training -v video "${VIDEO[@]}" --pixel-loss-weight 0.6 --num-iterations 450 \
    --learning-rate 6e-4 --resume "$from" --output-dir "$RUN/ft-p06"
fi
python -m training export "$RUN/ft-p06/checkpoint.safetensors" -o "$EXPORT/stained-glass-video.safetensors"
echo "models in $EXPORT; evaluate with:"
echo "  python examples/evaluate_default_models.py --video-model $EXPORT/stained-glass-video.safetensors \\"
echo "    --image-model $EXPORT/stained-glass-image.safetensors -o out/model-eval"
