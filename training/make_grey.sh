#!/bin/sh
# The shipped grey denoiser (docs/training.md, "Grey"), in one command:
#
#     training/make_grey.sh DIR [PYTHON]
#
# 1. DIR/v1-20k: 20,000 steps on the v1 dead leaves from scratch (seed 0, two PyTorch
#    threads as on the 2-core machine that made the shipped files; ~100 min alone there);
# 2. DIR/v2: 4,000 steps on the v2 scenes (thin lines, smooth low-contrast surfaces) from
#    step 1's weights, a fresh cosine schedule from 2e-4, seed 1, one thread (~20-28 min);
# 3. DIR/pnp-v4: the same fine-tune of step 1's weights on the v4 scenes (v2 + masonry)
#    with a quarter of each batch replaced by PnP's own last-step inputs (~43 min);
# 4. DIR/soup: the average of steps 2 and 3's weights (a model soup, training/soup.py;
#    the grey model shipped from session 10 to session 14);
# 5. DIR/unrolled: 2,000 steps from step 4's weights with a quarter of each batch trained
#    through the whole PnP schedule (--unrolled 0.25), seed 2, lr 1e-4, one thread (~37 min);
# 6. DIR: 0.3 x step 4 + 0.7 x step 5 (training/soup.py).
# DIR/denoiser_fp32.onnx and DIR/denoiser_fp16.onnx are the shipped files
# (training/compare.py compares them tensor by tensor). Same thread counts, same torch
# (training/requirements.txt) and the same steps give the same bits.
set -eu
out=${1:?usage: training/make_grey.sh DIR [PYTHON]}
py=${2:-python}
here=$(dirname "$0")
export OMP_WAIT_POLICY=PASSIVE
"$py" "$here/train.py" --out "$out/v1-20k" --steps 20000 --seed 0 --channels 1 --threads 2
"$py" "$here/train.py" --out "$out/v2" --steps 4000 --seed 1 --channels 1 --scenes v2 \
    --init "$out/v1-20k/checkpoint.pt" --lr 2e-4 --threads 1
"$py" "$here/train.py" --out "$out/pnp-v4" --steps 4000 --seed 1 --channels 1 --scenes v4 \
    --init "$out/v1-20k/checkpoint.pt" --lr 2e-4 --threads 1 --pnp-fraction 0.25 --pnp-first-step 7
"$py" "$here/soup.py" "$out/soup" "$out/v2" "$out/pnp-v4" --weight 0.5 --threads 1
"$py" "$here/train.py" --out "$out/unrolled" --steps 2000 --seed 2 --channels 1 --scenes v4 \
    --init "$out/soup/checkpoint.pt" --lr 1e-4 --threads 1 --unrolled 0.25
"$py" "$here/soup.py" "$out" "$out/soup" "$out/unrolled" --weight 0.7 --threads 1
