#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv and install the project with its extras.
# torch: the local CPU build (2.13.0) by default; set TORCH_SPEC (e.g. "torch>=2.4") for a CUDA build.
# bpy 5.0.1 needs numpy<2, so everything is installed with "numpy<2".
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q "${TORCH_SPEC:-torch==2.13.0}" "numpy<2"
python -m pip install -q -e ".[dev,blender,farm]" "numpy<2" "${TORCH_SPEC:-torch==2.13.0}"
