#!/usr/bin/env bash
# Interleaved rounds: runs each (label, scheduler binary, extra flags) variant once per round,
# for ROUNDS rounds, on the same seeded database, and prints one line per run: drift p50 / p99,
# the median and highest of the per-second p99s and how many seconds were over a second, the
# scheduler's and the SQLite writer's CPU, the sink's CPU, missed ticks, and API creation p99.
# On a shared machine whose speed drifts,
# compare variants within a round, not across runs an hour apart. Build first (cargo build
# --release -p scheduler -p load-harness), seed with `harness seed --jobs N --schedules
# every-second --db SEED --sink-port PORT`, and copy each binary to compare out of target/ (a
# rebuild overwrites it).
#
# Usage: benches/interleave.sh ROUNDS SEED PORT LABEL BIN "FLAGS" [LABEL BIN "FLAGS" ...]
#   e.g. benches/interleave.sh 3 target/seed-30k.db 18998 \
#          before /tmp/scheduler-before "" \
#          after  target/release/scheduler "--scheduler-arg=--fresh-window=5ms"
# Environment: DURATION (default 20s), H (default target/release/harness).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 6 ] || [ $(( ($# - 3) % 3 )) -ne 0 ]; then
  sed -n '2,15p' "$0" >&2
  exit 2
fi
ROUNDS=$1 SEED=$2 PORT=$3
shift 3
H="${H:-target/release/harness}"
DURATION="${DURATION:-20s}"
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  variants=("$@")
  for ((k = 0; k < ${#variants[@]}; k += 3)); do
    label=${variants[k]} bin=${variants[k + 1]} flags=${variants[k + 2]}
    # shellcheck disable=SC2086 # the flags are words to split
    "$H" run --from-db "$SEED" --sink-port "$PORT" --duration "$DURATION" \
      --baseline-duration 0s --label "$label" --scheduler-bin "$bin" $flags >"$LOG" 2>&1
    drift=$(grep -E '^drift' "$LOG" | grep -oE 'p50 [0-9.]+ m?s, p99 [0-9.]+ m?s' || true)
    cpu=$(grep -oE 'scheduler [0-9.]+s, sqlite-writer [0-9.]+s' "$LOG" || true)
    sink=$(grep -oE 'the sink used [0-9.]+s' "$LOG" || true)
    missed=$(grep -oE 'missed [0-9]+' "$LOG" || true)
    api=$(grep -E '^API creations' "$LOG" | grep -oE 'p99 [0-9.]+ ms' || true)
    seconds=$(grep -oE 'median [0-9]+ ms, highest [0-9]+ ms; over a second in [0-9]+' "$LOG" || true)
    echo "round $round $label: $drift | per second $seconds | $cpu | $sink | $missed | API creation $api"
  done
done
