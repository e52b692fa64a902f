#!/usr/bin/env bash
# Installs everything needed, builds, and runs ALL tests:
#   1. the C++ suites (ctest, Release build in build/) and the Python suite
#      (pytest against build/python);
#   2. the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer
#      (build-asan/, -O1, hot-loop checks on);
#   3. the Recommender reliability tests (concurrent requests while the model
#      is swapped) under ThreadSanitizer (build-tsan/);
#   4. a short libFuzzer run of every reader (text formats, snapshots, model
#      and pipeline files) from a clang build with ASan + UBSan (build-fuzz/,
#      -O1, RECSYS_FUZZ_SECONDS each, default 15, seed RECSYS_FUZZ_SEED,
#      default 1, so a CI failure can be replayed).
# CI (.ci/run) runs exactly this. RECSYS_SANITIZE=0 skips passes 2–4 (a
# quicker local loop); RECSYS_SANITIZE=asan, =tsan or =fuzz runs only that
# pass. A longer fuzz run: RECSYS_SANITIZE=fuzz RECSYS_FUZZ_SECONDS=600.
#   scripts/test.sh
#   RECSYS_SANITIZE=0 scripts/test.sh
#   RECSYS_SANITIZE=fuzz RECSYS_FUZZ_SECONDS=600 scripts/test.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
SANITIZE="${RECSYS_SANITIZE:-1}"
if [[ "$SANITIZE" == 1 || "$SANITIZE" == fuzz || "$SANITIZE" == all ]]; then export RECSYS_WITH_FUZZ=1; fi
bash scripts/install_deps.sh

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

if [[ "$SANITIZE" == 1 || "$SANITIZE" == all || "$SANITIZE" == asan ]]; then
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

if [[ "$SANITIZE" == 1 || "$SANITIZE" == all || "$SANITIZE" == tsan ]]; then
  t0=$(date +%s)
  log "Recommender reliability tests under ThreadSanitizer (build-tsan/)"
  configure build-tsan -DRECSYS_SANITIZE_THREAD=ON -DRECSYS_BUILD_BENCHMARKS=OFF -DRECSYS_BUILD_EXAMPLES=OFF \
    -DRECSYS_BUILD_PYTHON=OFF -DRECSYS_BUILD_CLI=OFF -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG"
  cmake --build build-tsan -j "$JOBS" --target recsys_recommender_tests
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$ROOT/tests/tsan.supp" \
    build-tsan/tests/recsys_recommender_tests
  log "TSan pass took $(( $(date +%s) - t0 )) s"
fi
if [[ "$SANITIZE" == 1 || "$SANITIZE" == all || "$SANITIZE" == fuzz ]]; then
  t0=$(date +%s)
  log "short libFuzzer runs of every reader (build-fuzz/, clang, ASan+UBSan)"
  CC=clang CXX=clang++ configure build-fuzz -DRECSYS_BUILD_FUZZERS=ON -DRECSYS_BUILD_BENCHMARKS=OFF \
    -DRECSYS_BUILD_EXAMPLES=OFF -DRECSYS_BUILD_PYTHON=OFF -DRECSYS_BUILD_CLI=OFF \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG"  # quicker to build than RelWithDebInfo
  targets=(readers snapshot tensor_file pipeline)
  binaries=()
  for t in "${targets[@]}"; do binaries+=("recsys_${t}_fuzz"); done
  cmake --build build-fuzz -j "$JOBS" --target "${binaries[@]}"
  for t in "${targets[@]}"; do
    corpus="build-fuzz/corpus/$t"
    mkdir -p "$corpus"
    if [[ "$t" == pipeline ]]; then cp tests/recommender/data/tiny_v1.rsp "$corpus/"; fi
    build-fuzz/tests/fuzz/recsys_${t}_fuzz -max_total_time="${RECSYS_FUZZ_SECONDS:-15}" -seed="${RECSYS_FUZZ_SEED:-1}" -rss_limit_mb=2048 \
      -timeout=10 "$corpus" 2>"build-fuzz/fuzz_$t.log" || { tail -40 "build-fuzz/fuzz_$t.log"; exit 1; }
    log "fuzz $t: $(grep -E '^Done' "build-fuzz/fuzz_$t.log" || echo done)"
  done
  log "fuzz pass took $(( $(date +%s) - t0 )) s"
fi
log "all tests passed in $(( $(date +%s) - start )) s"
