#!/usr/bin/env bash
# Run here, before a session's device checks: gathers into .device/ (ignored by git) what
# the GPU machine lacks and cannot download: FFTW's Debian packages. Then call the device
# tool's `run` with carry [".device"] and the command `tools/device/check.sh`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> .git/info/exclude
mkdir -p .device/debs
cd .device/debs
packages=(libfftw3-dev libfftw3-double3 libfftw3-single3)
if ! apt-get download "${packages[@]}" >/dev/null 2>&1; then
  apt-get update -qq
  apt-get download "${packages[@]}"
fi
ls -l

cd ../..
mkdir -p .device/whl
if ! ls .device/whl/cucim_cu13-*.whl >/dev/null 2>&1; then
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 -d .device/whl cucim-cu13 \
    || echo "prepare.sh: no cuCIM wheel (the GPU benchmark then reports cuCIM as not importable)"
fi
ls -l .device/whl
