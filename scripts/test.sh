#!/usr/bin/env bash
# Installs everything needed, builds, and runs ALL tests:
#   1. the C++ suites (ctest, Release build in build/) and the Python suite
#      (pytest against build/python);
#   2. the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer
#      (build-asan/, -O1, hot-loop checks on);
#   3. the Recommender reliability tests (concurrent requests while the model
#      is swapped) under ThreadSanitizer (build-tsan/).
# CI (.ci/run) runs exactly this. RECSYS_SANITIZE=0 skips passes 2 and 3 (a
# quicker local loop); RECSYS_SANITIZE=asan or =tsan runs only that pass.
#   scripts/test.sh
#   RECSYS_SANITIZE=0 scripts/test.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
bash scripts/install_deps.sh
SANITIZE="${RECSYS_SANITIZE:-1}"

start=$(date +%s)
log "building (Release) in build/"
mkdir -p build
configure build -DRECSYS_BUILD_PYTHON=ON
cmake --build build -j "$JOBS"
log "build took $(( $(date +%s) - start )) s"

log "C++ tests (ctest)"
(cd build && ctest --output-on-failure -j "$JOBS" --timeout 900)

log "Python tests (pytest)"
PYTHONPATH="$ROOT/build/python" "$PY" -m pytest -q tests/python
log "Release suites passed after $(( $(date +%s) - start )) s"

if [[ "$SANITIZE" == 1 || "$SANITIZE" == asan ]]; then
  t0=$(date +%s)
  log "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)"
  configure build-asan -DRECSYS_SANITIZE_ADDRESS=ON -DRECSYS_SANITIZE_UNDEFINED=ON \
    -DRECSYS_BUILD_BENCHMARKS=OFF -DRECSYS_BUILD_EXAMPLES=OFF -DRECSYS_BUILD_PYTHON=OFF \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG -DRECSYS_DEBUG_CHECKS"  # quicker to build; hot-loop checks on
  cmake --build build-asan -j "$JOBS"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     ctest --output-on-failure -j "$JOBS" -LE install --timeout 1800)
  log "ASan + UBSan pass took $(( $(date +%s) - t0 )) s"
fi

if [[ "$SANITIZE" == 1 || "$SANITIZE" == tsan ]]; then
  t0=$(date +%s)
  log "Recommender reliability tests under ThreadSanitizer (build-tsan/)"
  configure build-tsan -DRECSYS_SANITIZE_THREAD=ON -DRECSYS_BUILD_BENCHMARKS=OFF -DRECSYS_BUILD_EXAMPLES=OFF \
    -DRECSYS_BUILD_PYTHON=OFF -DRECSYS_BUILD_CLI=OFF -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG"
  cmake --build build-tsan -j "$JOBS" --target recsys_recommender_tests
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$ROOT/tests/tsan.supp" \
    build-tsan/tests/recsys_recommender_tests
  log "TSan pass took $(( $(date +%s) - t0 )) s"
fi
log "all tests passed in $(( $(date +%s) - start )) s"
