"""The scripts in examples/ run as a user would run them, and say what they should."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def _run(tmp_path, name, *args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), MPLBACKEND="Agg")
    r = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, cwd=tmp_path,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_deblur_photo(tmp_path):
    out = _run(tmp_path, "deblur_photo.py")
    assert "blur: motion" in out and "-restored.png" in out


def test_microscopy_stack_gets_closer_to_the_truth(tmp_path):
    out = _run(tmp_path, "microscopy_stack.py", "--iterations", "20")
    line = next(x for x in out.splitlines() if x.startswith("RMS error"))
    blurred, restored = (float(v.split()[-1].strip(",")) for v in line.split(":")[1].split(","))
    assert restored < 0.8 * blurred


def test_compare_methods(tmp_path):
    out = _run(tmp_path, "compare_methods.py", "--size", "128")
    rows = {line.split("  ")[0].strip(): line.split() for line in out.splitlines()[1:]}
    blurred = float(rows["blurred"][1])
    assert float(rows["deconvolve (auto)"][2]) > blurred + 2.0


def test_psf_gallery(tmp_path):
    _run(tmp_path, "psf_gallery.py")
    assert (tmp_path / "psf_gallery.png").exists()
