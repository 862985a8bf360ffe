#!/bin/sh
# The shipped RGB denoiser (docs/training.md, "RGB"), in one command:
#
#     training/make_rgb.sh DIR [PYTHON]
#
# 1. DIR/v1-20k: 20,000 steps on RGB v1 dead leaves from scratch (seed 0, one PyTorch
#    thread; about 2.6 h of one core, the 2-core machine shared);
# 2. DIR: 1,500 steps on the v4 scenes from step 1's checkpoint, a quarter of each batch
#    trained through the whole PnP schedule (--unrolled 0.25), seed 2, lr 1e-4, two
#    threads (~35 min).
# DIR/denoiser_fp16.onnx is the shipped file (training/compare.py compares it tensor by
# tensor). Same thread counts, same torch (training/requirements.txt) and the same steps
# give the same bits; step 1 may run in pieces (train.py --stop-at, then --resume), which
# gives the same bits too. Step 1 can be skipped by giving its checkpoint:
# `training/make_rgb.sh DIR PYTHON CHECKPOINT`.
set -eu
out=${1:?usage: training/make_rgb.sh DIR [PYTHON [V1_20K_CHECKPOINT]]}
py=${2:-python}
start=${3:-}
here=$(dirname "$0")
export OMP_WAIT_POLICY=PASSIVE
if [ -z "$start" ]; then
    "$py" "$here/train.py" --out "$out/v1-20k" --steps 20000 --seed 0 --channels 3 --threads 1
    start="$out/v1-20k/checkpoint.pt"
fi
"$py" "$here/train.py" --out "$out" --steps 1500 --seed 2 --channels 3 --scenes v4 \
    --init "$start" --lr 1e-4 --threads 2 --unrolled 0.25
