#!/bin/sh
# The shipped grey denoiser (docs/training.md, "Grey"), in one command:
#
#     training/make_grey.sh DIR [PYTHON]
#
# 1. DIR/v1-20k: 20,000 steps on the v1 dead leaves from scratch (seed 0, two PyTorch
#    threads as on the 2-core machine that made the shipped files; ~100 min alone there);
# 2. DIR: 4,000 steps on the v2 scenes (thin lines, smooth low-contrast surfaces) from
#    step 1's weights, a fresh cosine schedule from 2e-4, seed 1, one thread (~20-28 min).
# DIR/denoiser_fp32.onnx and DIR/denoiser_fp16.onnx are the shipped files
# (training/compare.py compares them tensor by tensor). Same thread counts, same torch
# (training/requirements.txt) and the same steps give the same bits.
set -eu
out=${1:?usage: training/make_grey.sh DIR [PYTHON]}
py=${2:-python}
here=$(dirname "$0")
export OMP_WAIT_POLICY=PASSIVE
"$py" "$here/train.py" --out "$out/v1-20k" --steps 20000 --seed 0 --channels 1 --threads 2
"$py" "$here/train.py" --out "$out" --steps 4000 --seed 1 --channels 1 --scenes v2 \
    --init "$out/v1-20k/checkpoint.pt" --lr 2e-4 --threads 1
