#!/usr/bin/env bash
# Runs the five scenarios of docs/PERFORMANCE.md one after another (each bounded to about two
# minutes), appending one JSON line per run to $OUT. Build first:
#   cargo build --release -p scheduler -p load-harness
# Usage: benches/scenarios.sh [OUT]   (default: target/load-harness.jsonl)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-target/load-harness.jsonl}"
H=target/release/harness

# 1. 10,000 every-second jobs for 60 s, through the real binary and its API.
$H run --label scenario-1 --jobs 10000 --duration 60s --json "$OUT"
# 1b. tokio-cron-scheduler on the same jobs, in memory.
$H tcs --label scenario-1-tcs --jobs 10000 --duration 60s --json "$OUT"
# 2. The ceiling: more every-second jobs, shorter windows. Seeded through the store, so that
#    every run starts from the same jobs however fast the API registers them while the first
#    ones fire (it slowed down badly before the third round; see docs/PERFORMANCE.md).
for jobs in 20000 30000 40000 50000; do
  SEED2="target/load-harness-seed-$jobs.db"
  [ -f "$SEED2" ] || $H seed --jobs "$jobs" --schedules every-second --db "$SEED2" --sink-port 18998
  $H run --label "scenario-2-$jobs" --from-db "$SEED2" --sink-port 18998 --duration 30s \
    --baseline-duration 5s --json "$OUT"
done
# 3. 5,000 executions/s against targets that answer after 2 s (10,000 in flight).
# (No baseline: at a 2 s delay it would only measure its own concurrency.)
$H run --label scenario-3 --jobs 5000 --delay 2s --max-in-flight 12000 --duration 60s \
  --baseline-duration 0s --json "$OUT"
# 4. A million jobs, about 1,111 due per second: seed once, then start from a copy.
SEED=target/load-harness-seed-1m.db
[ -f "$SEED" ] || $H seed --jobs 1000000 --schedules spread --db "$SEED" --sink-port 18999
# The window starts 15 s after start-up: the first seconds catch up overdue ticks (see the doc).
$H run --label scenario-4 --from-db "$SEED" --sink-port 18999 --warmup 15s --duration 30s \
  --baseline-duration 0s --json "$OUT"
# 5. Job creation through the API with 64 concurrent clients.
$H create --label scenario-5-spread --jobs 20000 --concurrency 64 --schedules spread --json "$OUT"
$H create --label scenario-5-every-second --jobs 20000 --concurrency 64 --schedules every-second --json "$OUT"
