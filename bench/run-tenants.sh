#!/usr/bin/env bash
# Many tenants (issue 10's target "throughput with 10,000 tenants × 10 keys each (warm) within 10 % of throughput with
# one tenant"): starts the stack as bench/run-ops.sh does, creates TENANTS tenants on a plan without limits, each with
# its own API key and KEYS AES-256-GCM keys, warms every key with one encrypt, then measures POST /api/v1/encrypt
# (1 KiB) in interleaved rounds: one tenant's one key, and a key drawn at random among all of them per request (each
# with its own tenant's API key). Reports req/s, p50/p99, the ratio many ÷ one and the api's RSS; writes
# bench/results/tenants-<UTC time>.{json,md}.
#
#   bench/run-tenants.sh --license FILE [--tenants N] [--keys K] [--duration S] [--rounds R] [--connections C]
#
# Defaults: 10000 tenants × 10 keys, 15 s per round, 2 rounds. Setting up 100,000 keys takes minutes. The stack starts
# without a licence (Community: 5 tenants, 250 keys), so FILE must be a licence allowing N tenants and N × K keys: it is
# installed with PUT /api/v1/admin/license before the tenants are created.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

TENANTS=10000
KEYS=10
BENCH_DURATION=15
BENCH_WARMUP=5
ROUNDS=2
LICENSE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --license) LICENSE="$2"; shift 2 ;;
    --tenants) TENANTS="$2"; shift 2 ;;
    --keys) KEYS="$2"; shift 2 ;;
    --duration) BENCH_DURATION="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --connections) BENCH_CONNECTIONS="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) fail "unknown option $1 (see --help)" ;;
  esac
done

[ -n "$LICENSE" ] && [ -r "$LICENSE" ] || fail "--license FILE is required: a licence for $TENANTS tenants (Community allows 5)"

BENCH_STATE="${MISLATA_BENCH_STATE:-$BENCH/.state-tenants}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RUN_DIR="$BENCH_STATE/run-$STAMP"
RESULTS="$BENCH/results"
finish() { bench_cleanup; [ "${KEEP_STATE:-0}" = 1 ] || rm -rf "$BENCH_STATE"; }
trap finish EXIT
trap 'exit 130' INT TERM

bench_tools
bench_ports
bench_stack_start
bench_meta "{\"connections\":$BENCH_CONNECTIONS,\"wrkThreads\":$BENCH_WRK_THREADS,\"warmupSeconds\":$BENCH_WARMUP,\"durationSeconds\":$BENCH_DURATION,\"rounds\":$ROUNDS}"

say "Creating $TENANTS tenants × $KEYS keys…"
python3 "$BENCH/tenants_bench.py" setup "$RUN_DIR" "$GATEWAY" "$TLS_CERT" "$BENCH_STATE/admin.env" "$TENANTS" "$KEYS" "$LICENSE"
say "Warming every key (one encrypt each)…"
python3 "$BENCH/tenants_bench.py" warm "$RUN_DIR" "$GATEWAY" "$TLS_CERT"

bench_rss_start

many_run() {
  local name="$1" seconds="$2"
  WRK_PAIRS_FILE="$RUN_DIR/secret/pairs.tsv" \
    wrk -t "$BENCH_WRK_THREADS" -c "$BENCH_CONNECTIONS" -d "${seconds}s" --timeout 10s -s "$BENCH/wrk/many-keys.lua" "$GATEWAY" \
    > "$RUN_DIR/wrk-$name.txt" 2>&1 || true
  sed -n 's/^WRK_JSON //p' "$RUN_DIR/wrk-$name.txt" > "$RUN_DIR/wrk-$name.json"
  [ -s "$RUN_DIR/wrk-$name.json" ] || { cat "$RUN_DIR/wrk-$name.txt" >&2; fail "wrk gave no figures for $name"; }
}

API_KEY="$(cat "$RUN_DIR/secret/one-api-key")"
say "Measuring ($ROUNDS interleaved rounds of ${BENCH_WARMUP} s warm-up + ${BENCH_DURATION} s, $BENCH_CONNECTIONS connections)…"
for round in $(seq 1 "$ROUNDS"); do
  say "  round $round: one tenant…"
  wrk_measure "one-r$round" "$GATEWAY/api/v1/encrypt" POST "$RUN_DIR/bodies/one.json" "$API_KEY" > "$RUN_DIR/wrk-one-r$round.json"
  say "  round $round: every tenant…"
  many_run "many-r$round-warmup" "$BENCH_WARMUP"
  many_run "many-r$round" "$BENCH_DURATION"
done

bench_rss_finish
python3 "$BENCH/tenants_bench.py" report "$RUN_DIR" "$RESULTS"
