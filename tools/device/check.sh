#!/usr/bin/env bash
# Run on the GPU machine (the device tool, repository root, carry [".device"] made by
# tools/device/prepare.sh): builds unblur with its CUDA module against the carried FFTW,
# then runs the GPU tests, the GPU benchmarks and the whole suite. Logs land in $OUT
# (they come back).
#   tools/device/check.sh [pytest args for the GPU run, default: -m gpu]
set -uo pipefail
OUT=${OUT:-/tmp/unblur-device-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/check.log") 2>&1
export PYTHONUNBUFFERED=1

fftw=/tmp/fftw
for f in .device/debs/*.deb; do dpkg -x "$f" "$fftw"; done
export FFTW_ROOT=$fftw/usr
libdir=$(dirname "$(find "$fftw" -name 'libfftw3.so.3' | head -n 1)")
export LD_LIBRARY_PATH=$libdir:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
nvcc --version | tail -n 2
if ls .device/whl/*.whl >/dev/null 2>&1; then  # cuCIM, the GPU benchmark's anchor
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .device/whl/*.whl && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
python3 -c "import cupy, numpy; print('cupy', cupy.__version__, 'numpy', numpy.__version__)"

# A developer build: the modules are written into python/unblur (PYTHONPATH=python).
t0=$(date +%s)
cmake -S . -B /tmp/unblur-build -G Ninja -DUNBLUR_CUDA=ON -DUNBLUR_WERROR=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DPython_EXECUTABLE="$(command -v python3)" \
  -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" >"$OUT/cmake.log" 2>&1 || { tail -n 40 "$OUT/cmake.log"; exit 1; }
cmake --build /tmp/unblur-build -j 16 >"$OUT/build.log" 2>&1 || { tail -n 60 "$OUT/build.log"; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
export PYTHONPATH=$PWD/python${PYTHONPATH:+:$PYTHONPATH}
python3 -c "import unblur, pprint; pprint.pprint(unblur.info())"

status=0
python3 -m pytest -q -p no:cacheprovider -o addopts="" -rs "${@:--m gpu}" tests 2>&1 | tee "$OUT/gpu-tests.log" | tail -n 30
[ "${PIPESTATUS[0]}" = 0 ] || status=1
# The GPU benchmarks (bench/gpu.py; UNBLUR_GPU_BENCH=0 skips them).
if [ "${UNBLUR_GPU_BENCH:-1}" != 0 ]; then
  timeout 300 python3 bench/gpu.py 2>&1 | tee "$OUT/bench-gpu.log" || status=1
fi
python3 -m pytest -q -p no:cacheprovider -x tests 2>&1 | tail -n 5 > "$OUT/all-tests.log"
cat "$OUT/all-tests.log"
grep -q " passed" "$OUT/all-tests.log" && ! grep -q "failed\|error" "$OUT/all-tests.log" || status=1
exit $status
