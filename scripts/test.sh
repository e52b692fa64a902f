#!/usr/bin/env bash
# Installs everything needed, builds, and runs ALL tests: the C++ suites
# (ctest, Release) and the Python suite (pytest). With RECSYS_SANITIZE=1 the
# unit tests are built and run again under AddressSanitizer +
# UndefinedBehaviorSanitizer (build-asan/).
#   scripts/test.sh
#   RECSYS_SANITIZE=1 scripts/test.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
bash scripts/install_deps.sh

start=$(date +%s)
log "building (Release) in build/"
mkdir -p build
configure build -DRECSYS_BUILD_PYTHON=ON
cmake --build build -j "$JOBS"
log "build took $(( $(date +%s) - start )) s"

log "C++ tests (ctest)"
(cd build && ctest --output-on-failure -j "$JOBS" --timeout 900)

if [[ "${RECSYS_SANITIZE:-0}" == 1 ]]; then
  log "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)"
  mkdir -p build-asan
  configure build-asan -DRECSYS_SANITIZE_ADDRESS=ON -DRECSYS_SANITIZE_UNDEFINED=ON \
    -DRECSYS_BUILD_BENCHMARKS=OFF -DRECSYS_BUILD_EXAMPLES=OFF -DRECSYS_BUILD_PYTHON=OFF \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG -DRECSYS_DEBUG_CHECKS"  # quicker to build; hot-loop checks on
  cmake --build build-asan -j "$JOBS"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j "$JOBS" -L unit -LE "install|slow" --timeout 900)
fi

log "Python tests (pytest)"
if ls tests/python/test_*.py >/dev/null 2>&1; then
  PYTHONPATH="$ROOT/build/python" "$PY" -m pytest -q tests/python
else
  log "no Python tests yet"
fi
log "all tests passed in $(( $(date +%s) - start )) s"
