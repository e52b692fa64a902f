#!/usr/bin/env bash
# Installs everything needed, builds the `recsys` tool, and runs the demo:
# synthetic events with planted interests → train (ItemKNN baseline and the
# neural models) → evaluate → build the ANN index + serving pipeline → recommend.
#   scripts/demo.sh                  # ~10^5 events, a few minutes
#   RECSYS_DEMO_EVENTS=1000000 scripts/demo.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
bash scripts/install_deps.sh

mkdir -p build
configure build -DRECSYS_BUILD_PYTHON=ON
cmake --build build -j "$JOBS" --target recsys_cli
BIN="$ROOT/build/recsys"
OUT="${RECSYS_DEMO_DIR:-$ROOT/build/demo}"
mkdir -p "$OUT"
EVENTS="${RECSYS_DEMO_EVENTS:-100000}"

log "1. synthetic events (planted long-term interests, drifting sessions, power-law popularity)"
"$BIN" generate --events "$EVENTS" --seed 7 --out "$OUT/events.csv"
"$BIN" stats --data "$OUT/events.csv"

for model in mostpop itemknn sasrec longshort; do
  log "2. train $model (leave-one-out: last item = test, second-to-last = validation)"
  config=()
  if [[ -f "$ROOT/examples/configs/demo_$model.json" ]]; then config=(--config "$ROOT/examples/configs/demo_$model.json"); fi
  "$BIN" train --model-type "$model" "${config[@]}" --data "$OUT/events.csv" --protocol loo \
      --max-minutes 3 --out "$OUT/$model.rsm"
  log "3. evaluate $model on the test split (full catalogue, seen items filtered)"
  "$BIN" evaluate --model "$OUT/$model.rsm" --data "$OUT/events.csv" --protocol loo --split test --k 10,20
done

log "4. build the serving pipeline: longshort + HNSW index over its item embeddings"
"$BIN" build-pipeline --model "$OUT/longshort.rsm" --index HNSW32 --out "$OUT/pipeline.rsp"
log "5. recommend for one history: multi-interest ANN → merger → longshort ranker → top-k with provenance"
HISTORY="$(sed -n 2,6p "$OUT/events.csv" | cut -d, -f2 | tr '\n' ' ')"
"$BIN" recommend --model "$OUT/pipeline.rsp" --history "$HISTORY" -k 10 --explain
log "demo outputs in $OUT"
