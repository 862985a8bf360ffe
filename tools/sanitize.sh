#!/usr/bin/env bash
# The test suite under AddressSanitizer (with LeakSanitizer) and UndefinedBehaviorSanitizer.
#
#   tools/sanitize.sh [pytest args]      (default: the whole suite, tests/)
#
# Configures and builds unblur_core and unblur._core with UNBLUR_SANITIZE=address,undefined
# (-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined,
# RelWithDebInfo, no CUDA module) into build/asan, writes the module into
# build/asan/python/unblur next to symbolic links to the Python sources (the normal
# module in python/unblur is left alone), then runs pytest on it with the ASan runtime
# preloaded into the (uninstrumented) interpreter. Every sanitizer report, from pytest
# or from a subprocess a test starts (the CLI, the examples), goes to a log file under
# build/asan/sanitizer-logs/; the script prints them and exits non-zero if there is
# any, or if pytest fails. Exit status 0 means: the suite passed and nothing was reported.
#
# Environment: PYTHON (default .venv/bin/python, else python3; needs numpy, scipy,
# scikit-image, pytest, pybind11 and ninja next to it or on PATH), UNBLUR_SANITIZE_BUILD
# (build folder, default build/asan), UNBLUR_SANITIZE (default address,undefined),
# JOBS (build jobs, default 2), UNBLUR_LEAKS=0 to turn LeakSanitizer off.
#
# Runtime settings (docs/architecture.md, "Sanitizers"):
#   LD_PRELOAD            libasan, libubsan, libstdc++ (below), on the Python processes only.
#   PYTHONMALLOC=malloc   CPython's objects from malloc, not from its mmap'd arenas, so
#                         that ASan checks them and LSan sees the pointers they hold
#                         (else every NumPy buffer owned by a live array is a "leak").
#   UNBLUR_ASAN_EXTRA     more ASAN_OPTIONS, appended (e.g. fast_unwind_on_malloc=0: whole
#                         stacks through CPython's frames, 10-20x slower; how leaks are traced)
#   ASAN_OPTIONS          halt_on_error=1, allocator_may_return_null=1 (an impossible
#                         request fails as malloc does, so CPython raises MemoryError: the
#                         fuzzed files ask decoders for 2**56-byte buffers, which unblur
#                         must turn into a ValueError; ASan would abort instead), detect_leaks=1 with leak_check_at_exit=0 (the
#                         check runs from tools/sanitize/sitecustomize.py, before CPython
#                         finalises; that file also holds the one third-party leak that is
#                         ignored, and why), detect_odr_violation=2 (only unblur's module
#                         is instrumented: no ODR report is expected, none is ignored),
#                         detect_stack_use_after_return=1, check_initialization_order=1.
#   UBSAN_OPTIONS         print_stacktrace=1:halt_on_error=1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=$root/.venv/bin/python; else PYTHON=$(command -v python3); fi
fi
build=${UNBLUR_SANITIZE_BUILD:-build/asan}
case $build in /*) ;; *) build=$root/$build ;; esac  # absolute from here on
sanitizers=${UNBLUR_SANITIZE:-address,undefined}
jobs=${JOBS:-2}
export PATH=$(dirname "$PYTHON"):$PATH  # ninja and cmake from the virtual environment, if there

t0=$(date +%s)
mkdir -p "$build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DUNBLUR_SANITIZE="$sanitizers" -DUNBLUR_CUDA=OFF -DUNBLUR_WERROR=ON \
  -DPython_EXECUTABLE="$PYTHON" -Dpybind11_DIR="$("$PYTHON" -m pybind11 --cmakedir)" >"$build/configure.log" 2>&1 \
  || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "$jobs"
echo "sanitize.sh: build $(( $(date +%s) - t0 )) s"

# The package: the sanitized module (written here by CMake) and links to everything else.
pkg=$build/python/unblur
mkdir -p "$pkg"
find "$pkg" -maxdepth 1 -type l -delete
for entry in python/unblur/* ; do
  name=$(basename "$entry")
  case "$name" in _core*.so | _cuda*.so | __pycache__) continue ;; esac
  ln -s "$root/$entry" "$pkg/$name"
done

cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
# The ASan runtime first; libubsan, so that tools/sanitize/sitecustomize.py can give it
# its log file (it ignores UBSAN_OPTIONS' log_path); then libstdc++: the interpreter does
# not link libstdc++, and ASan resolves the real __cxa_throw when it starts (without
# libstdc++ loaded by then, the first C++ exception is a CHECK failure in ASan's
# __cxa_throw interceptor).
preload=
for lib in libasan.so libubsan.so libstdc++.so; do
  path=$("$cxx" -print-file-name=$lib)
  [ -e "$path" ] || { echo "sanitize.sh: $lib not found ($cxx -print-file-name=$lib)" >&2; exit 1; }
  preload="$preload${preload:+ }$(readlink -f "$path")"
done
logs=$build/sanitizer-logs
rm -rf "$logs"; mkdir -p "$logs"

leaks=${UNBLUR_LEAKS:-1}
export PYTHONMALLOC=malloc
export ASAN_OPTIONS=halt_on_error=1:allocator_may_return_null=1:detect_leaks=$leaks:leak_check_at_exit=0:detect_odr_violation=2:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$logs/asan${UNBLUR_ASAN_EXTRA:+:$UNBLUR_ASAN_EXTRA}
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan
export PYTHONPATH=$build/python:$root/tools/sanitize
# Prints the reports and exits 1 if there is any.
# A log holding nothing but ASan's "failed to allocate" warnings is not a report: with
# allocator_may_return_null=1 an impossible request (a fuzzed file's 2**56-byte buffer)
# returns NULL, CPython raises MemoryError and unblur a ValueError, as without ASan;
# those are counted and shown, not failed on.
benign='^==[0-9]+==WARNING: AddressSanitizer failed to allocate 0x[0-9a-f]+ bytes$'
check_reports() {
  local reports="" f
  for f in $(find "$logs" -type f -size +0 | sort); do
    if grep -Evq "$benign" "$f"; then
      reports="$reports $f"
    else
      echo "sanitize.sh: $(grep -Ec "$benign" "$f") refused impossible allocation(s) in $(basename "$f") (MemoryError, allowed)"
    fi
  done
  [ -z "$reports" ] && return 0
  for f in $reports; do echo "==== $f"; cat "$f"; done
  echo "sanitize.sh: sanitizer reports in $(echo $reports | wc -w) process(es), above" >&2
  exit 1
}

# LD_PRELOAD on the Python processes only (and so on their subprocesses), not this shell's.
# The interpreter must load the sanitized module from the build folder, not another unblur.
status=0
env LD_PRELOAD="$preload" "$PYTHON" - "$pkg" <<'EOF' || status=$?
import os, sys
import unblur._core as core
assert os.path.dirname(os.path.realpath(core.__file__)) == os.path.realpath(sys.argv[1]), core.__file__
print("sanitize.sh: unblur._core from", core.__file__)
EOF
check_reports
[ "$status" = 0 ] || { echo "sanitize.sh: the sanitized unblur._core does not import" >&2; exit 1; }

t1=$(date +%s)
env LD_PRELOAD="$preload" "$PYTHON" -m pytest -q -p no:cacheprovider "${@:-tests}" || status=$?
echo "sanitize.sh: tests $(( $(date +%s) - t1 )) s, pytest exit status $status"
check_reports
[ "$status" = 0 ] || { echo "sanitize.sh: pytest failed (status $status)" >&2; exit "$status"; }
echo "sanitize.sh: clean ($sanitizers, leaks $([ "$leaks" = 1 ] && echo on || echo off))"
