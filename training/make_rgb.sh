#!/bin/sh
# The shipped RGB denoiser (docs/training.md, "RGB"), in one command:
#
#     training/make_rgb.sh DIR [PYTHON]
#
# 1. DIR/v1-5k: 5,000 steps on RGB v1 dead leaves from scratch (seed 0, two PyTorch
#    threads; ~40 min alone on the 2-core machine): the RGB model shipped from 2026-12-02
#    to 2026-12-07, in float16 only (its denoiser_fp16.onnx is that file, bit for bit);
# 2. DIR/start: that float16 file's weights (training/from_onnx.py --float16), the start
#    the shipped model was fine-tuned from;
# 3. DIR: 1,500 steps on the v4 scenes with a quarter of each batch trained through the
#    whole PnP schedule (--unrolled 0.25), seed 2, lr 1e-4, one thread (~27 min).
# DIR/denoiser_fp16.onnx is the shipped file (training/compare.py compares it tensor by
# tensor). Same thread counts, same torch (training/requirements.txt) and the same steps
# give the same bits. Step 1 can be skipped by giving step 2 the float16 file of an
# unblur release from 2026-12-02 to 2026-12-07 (python/unblur/models/weights/
# denoiser_rgb_fp16.onnx there): `training/make_rgb.sh DIR PYTHON FILE`.
set -eu
out=${1:?usage: training/make_rgb.sh DIR [PYTHON [START_FP16_FILE]]}
py=${2:-python}
start=${3:-}
here=$(dirname "$0")
export OMP_WAIT_POLICY=PASSIVE
if [ -z "$start" ]; then
    "$py" "$here/train.py" --out "$out/v1-5k" --steps 5000 --seed 0 --channels 3 --threads 2
    start="$out/v1-5k/denoiser_fp16.onnx"
fi
"$py" "$here/from_onnx.py" "$start" "$out/start" --float16
"$py" "$here/train.py" --out "$out" --steps 1500 --seed 2 --channels 3 --scenes v4 \
    --init "$out/start/checkpoint.pt" --lr 1e-4 --threads 1 --unrolled 0.25
