#!/usr/bin/env bash
# The project's two commands. On a fresh Debian machine (root, Python 3.11) each does
# all the set-up it needs, then runs:
#   ./dev.sh demo [args]   the demo: blur a sample image, deblur it, report PSNR/SSIM
#   ./dev.sh test [args]   the test suite (pytest args pass through)
#   ./dev.sh bench [args]  the benchmarks (bench/README.md)
# Set-up: FFTW (Debian libfftw3-dev) if missing, a virtual environment in .venv,
# the build tools, and unblur itself built into it (incremental rebuilds in build/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PYTHON=${PYTHON:-python3}
VENV=${UNBLUR_VENV:-.venv}

have_fftw() {
  local lib found dir
  for lib in fftw3 fftw3f fftw3_omp fftw3f_omp; do
    found=no
    for dir in /usr/lib/*-linux-gnu /usr/lib /usr/local/lib; do
      if [ -e "$dir/lib${lib}.so" ]; then found=yes; break; fi
    done
    [ "$found" = yes ] || return 1
  done
  [ -e /usr/include/fftw3.h ] || [ -e /usr/local/include/fftw3.h ]
}

ensure_system_packages() {
  have_fftw && return 0
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "dev.sh: installing FFTW (libfftw3-dev) with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libfftw3-dev >/dev/null
  else
    echo "dev.sh: FFTW 3 is missing; install libfftw3-dev (Debian/Ubuntu), fftw (Homebrew/conda)" >&2
    exit 1
  fi
}

# The CUDA module needs cuFFT: the toolkit's if it has one, else NVIDIA's wheel in the
# virtual environment (nvidia-cufft for CUDA 13, nvidia-cufft-cu12 for CUDA 12).
ensure_cufft() {
  local py=$1 top major
  command -v nvcc >/dev/null 2>&1 || return 0
  top=$(nvcc -dryrun -x cu -c /dev/null -o /dev/null 2>&1 | sed -n 's/^#\$ TOP=//p' | head -n 1)
  if ls "$top"/lib64/libcufft.so* "$top"/targets/*/lib/libcufft.so* >/dev/null 2>&1; then return 0; fi
  major=$(nvcc --version | sed -n 's/.*release \([0-9][0-9]*\)\..*/\1/p')
  local pkg=nvidia-cufft
  [ "$major" = 12 ] && pkg=nvidia-cufft-cu12
  "$py" -m pip install -q --disable-pip-version-check "$pkg"
}

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
  fi
  local py="$VENV/bin/python"
  "$py" -m pip install -q --disable-pip-version-check \
    "scikit-build-core>=0.10" "pybind11>=2.12" "cmake>=3.21" ninja
  # Portable by default, like `pip install .`; UNBLUR_NATIVE=ON builds for this CPU
  # (-march=native: AVX2/FMA loops where it has them).
  local cuda=${UNBLUR_CUDA:-AUTO} werror=OFF native=${UNBLUR_NATIVE:-OFF}
  if [ "${CI:-}" = "true" ]; then
    werror=ON
    # CI compiles and links the CUDA module wherever nvcc exists, so it never rots.
    if command -v nvcc >/dev/null 2>&1; then cuda=ON; fi
  fi
  if [ "$cuda" != OFF ]; then ensure_cufft "$py"; fi
  UNBLUR_CUDA=$cuda UNBLUR_WERROR=$werror UNBLUR_NATIVE=$native "$py" -m pip install -q --disable-pip-version-check \
    --no-build-isolation ".[test]"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  demo)
    ensure_system_packages; ensure_venv
    exec "$VENV/bin/unblur" demo "$@" ;;
  test)
    ensure_system_packages; ensure_venv
    exec "$VENV/bin/python" -m pytest "$@" ;;
  bench)
    ensure_system_packages; ensure_venv
    exec "$VENV/bin/python" bench/run.py "$@" ;;
  *)
    echo "usage: ./dev.sh demo|test|bench [args...]" >&2
    exit 2 ;;
esac
