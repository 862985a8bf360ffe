"""Compare two exported denoisers tensor by tensor: does a training run reproduce a model?

    python training/compare.py A.onnx B.onnx

Prints, for the two ONNX files, whether they hold the same weights (initializer names,
shapes, dtypes and bytes), the largest absolute difference where they do not, and the
metadata keys whose values differ (the training time in `unblur.training` always does:
it is wall time). Exit status 0 when every weight is bit-identical, 1 otherwise.

Example (docs/training.md, "The shipped model"):

    python training/train.py --out /tmp/rerun --steps 5000 --seed 0 --channels 1
    python training/compare.py python/unblur/models/weights/denoiser_grey_fp32.onnx /tmp/rerun/denoiser_fp32.onnx
"""

from __future__ import annotations

import argparse
import json
import sys


def weights(path):
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    tensors = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    meta = {p.key: p.value for p in model.metadata_props}
    return tensors, meta


def compare(path_a, path_b) -> dict:
    """{'identical': bool, 'tensors': n, 'only_in_a', 'only_in_b', 'mismatched': [names],
    'max_abs_diff': float, 'metadata_differs': {key: (a, b)}}."""
    import numpy as np

    ta, ma = weights(path_a)
    tb, mb = weights(path_b)
    common = sorted(set(ta) & set(tb))
    mismatched, worst = [], 0.0
    for name in common:
        a, b = ta[name], tb[name]
        if a.shape != b.shape or a.dtype != b.dtype:
            mismatched.append(name)
            worst = float("inf")
            continue
        if a.tobytes() != b.tobytes():
            mismatched.append(name)
            worst = max(worst, float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()))
    only_a, only_b = sorted(set(ta) - set(tb)), sorted(set(tb) - set(ta))
    meta = {k: (ma.get(k), mb.get(k)) for k in sorted(set(ma) | set(mb)) if ma.get(k) != mb.get(k)}
    return dict(identical=not (mismatched or only_a or only_b), tensors=len(common), only_in_a=only_a,
                only_in_b=only_b, mismatched=mismatched, max_abs_diff=worst, metadata_differs=meta)


def _training_diff(a, b):
    """The keys of two `unblur.training` JSON values that differ."""
    try:
        ja, jb = json.loads(a or "{}"), json.loads(b or "{}")
    except ValueError:
        return None
    return {k: (ja.get(k), jb.get(k)) for k in sorted(set(ja) | set(jb)) if ja.get(k) != jb.get(k)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a")
    p.add_argument("b")
    args = p.parse_args(argv)
    r = compare(args.a, args.b)
    verdict = "bit-identical" if r["identical"] else f"{len(r['mismatched'])} differ (max |diff| {r['max_abs_diff']:.3g})"
    print(f"{r['tensors']} weight tensors in common: {verdict}")
    for side in ("only_in_a", "only_in_b"):
        if r[side]:
            print(f"{side}: {', '.join(r[side])}")
    for key, (va, vb) in r["metadata_differs"].items():
        detail = _training_diff(va, vb) if key == "unblur.training" else None
        if detail is not None:
            print(f"metadata {key} differs in: " + "; ".join(f"{k}: {x} vs {y}" for k, (x, y) in detail.items()))
        else:
            print(f"metadata {key} differs: {va!r} vs {vb!r}")
    return 0 if r["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
