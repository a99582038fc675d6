#!/usr/bin/env bash
# The chaos suite (issue 16): one command that starts the stack as ./run.sh does (TLS gateway, two api replicas) in a
# state folder and on ports of its own, drives steady mixed traffic through the gateway from N clients (reads of
# /api/v1/api-keys and /api/v1/keys, audited writes POST /api/v1/api-keys and POST /api/v1/keys, encrypt, decrypt),
# and for each fault in turn:
#   postgres         SIGKILL of the PostgreSQL postmaster
#   redis            SIGKILL of Redis
#   api-replica      SIGKILL of api replica 1 (its supervisor starts it again)
#   worker           SIGKILL of the worker (its supervisor starts it again)
#   gateway-reload   nginx -s reload of the gateway
#   gateway-restart  the gateway stopped, then started
# waits OUTAGE seconds, brings the piece back with ./run.sh start and keeps the traffic for AFTER seconds. It records
# per-second status counts, the longest stall, the success share and p99 during the outage of the requests that do not
# need the dead piece, the time back to the earlier rate, and afterwards reads back every write acknowledged 2xx.
# Prints the table and writes bench/results/chaos-<UTC time>.{json,md} and chaos-latest.{json,md}. Exits 1 when a
# response was a 5xx other than 503 or an acknowledged write is missing.
#
#   bench/chaos.sh [--quick] [--clients N] [--outage S] [--only FAULT[,FAULT…]] [--keep-state] [--load ROUNDS]
#
# --load ROUNDS: no fault; ROUNDS times, the tenant on a plan without maxApiKeys then on one with (10^6), in turn 10 s of
# API key creates from 1 client, from CLIENTS clients, then 10 s of the mix from CLIENTS clients, one JSON line each
# (p50/p90/p99 by kind): the creates' own latency, for A/B runs.
#
# --quick: 4 clients, 3 s outages, 3 s before and 5 s after each fault (CI's reduced form); the full form: 8 clients,
# 10 s outages, 5 s before, 10 s after.
#
# Environment: MISLATA_BENCH_STATE (state folder, default bench/.state-chaos; wiped at the start), MISLATA_SKIP_BUILD=1
# (the services are already built).
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

CLIENTS=8
OUTAGE=10
BEFORE=5
AFTER=10
KEEP_STATE=0
ONLY=""
LOAD_ROUNDS=0
QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; CLIENTS=4; OUTAGE=3; BEFORE=3; AFTER=5; shift ;;
    --clients) CLIENTS="$2"; shift 2 ;;
    --outage) OUTAGE="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --keep-state) KEEP_STATE=1; shift ;;
    --load) LOAD_ROUNDS="$2"; shift 2 ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) fail "unknown option $1 (see --help)" ;;
  esac
done

BENCH_STATE="${MISLATA_BENCH_STATE:-$BENCH/.state-chaos}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RUN_DIR="$BENCH_STATE/run-$STAMP"
RESULTS="${MISLATA_CHAOS_RESULTS:-$BENCH/results}"

finish() {
  bench_cleanup
  [ "$KEEP_STATE" = 1 ] || rm -rf "$BENCH_STATE"
}
trap finish EXIT
trap 'exit 130' INT TERM

command -v python3 >/dev/null 2>&1 || fail "python3 is required"
"$STACK" packages
bench_ports
# Two api replicas on PORT_API and PORT_API + 1: the second must be free too.
port_free() { python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null; }
while ! port_free "$((PORT_API + 1))"; do PORT_API="$("$STACK" free-port)"; done
export MISLATA_API_REPLICAS=2
bench_stack_start

# ./run.sh start with this stack's environment: what brings a dead piece back.
RESTART="MISLATA_STATE_DIR='$BENCH_STATE' MISLATA_HTTPS_PORT=$PORT_HTTPS MISLATA_HTTP_PORT=$PORT_HTTP \
MISLATA_IDENTITY_PORT=$PORT_IDENTITY MISLATA_API_PORT=$PORT_API MISLATA_WORKER_PORT=$PORT_WORKER MISLATA_PG_PORT=$PORT_PG \
MISLATA_REDIS_PORT=$PORT_REDIS MISLATA_PUBLIC_HOST=127.0.0.1 MISLATA_API_REPLICAS=2 MISLATA_SKIP_BUILD=1 '$ROOT/run.sh' start"
NGINX="nginx -p '$BENCH_STATE/nginx' -c '$BENCH_STATE/nginx/nginx.conf'"

bench_meta "{\"quick\":$QUICK,\"clients\":$CLIENTS,\"outageSeconds\":$OUTAGE,\"beforeSeconds\":$BEFORE,\"afterSeconds\":$AFTER,\"apiReplicas\":2}"

say "Creating the tenant, its API key and an AES-256-GCM key…"
python3 "$BENCH/chaos_bench.py" setup "$RUN_DIR" "$GATEWAY" "$TLS_CERT" "$BENCH_STATE/admin.env"

if [ "$LOAD_ROUNDS" -gt 0 ]; then
  for _ in $(seq "$LOAD_ROUNDS"); do
    for max_api_keys in null 1000000; do
      python3 "$BENCH/chaos_bench.py" limit "$RUN_DIR" "$GATEWAY" "$TLS_CERT" "$BENCH_STATE/admin.env" "$max_api_keys"
      echo "maxApiKeys $max_api_keys"
      python3 "$BENCH/chaos_bench.py" load "$RUN_DIR" "$GATEWAY" "$TLS_CERT" creates 1 10
      python3 "$BENCH/chaos_bench.py" load "$RUN_DIR" "$GATEWAY" "$TLS_CERT" creates "$CLIENTS" 10
      CHAOS_KEYS_PER_FAULT=5 python3 "$BENCH/chaos_bench.py" load "$RUN_DIR" "$GATEWAY" "$TLS_CERT" mix "$CLIENTS" 10
    done
  done
  exit 0
fi

# The Community licence allows 250 keys per installation: 30 new keys per fault, the other writes are API keys.
export CHAOS_KEYS_PER_FAULT=30

# fault NAME PROBE(host:port of the dead piece, or -) FAULT_COMMAND [OUTAGE]
run_fault() {
  local name="$1" probe="$2" command="$3" outage="${4:-$OUTAGE}"
  if [ -n "$ONLY" ] && [[ ",$ONLY," != *",$name,"* ]]; then return 0; fi
  say "Fault $name: $CLIENTS clients, ${BEFORE}s before, ${outage}s outage, ./run.sh start, ${AFTER}s after…"
  python3 "$BENCH/chaos_bench.py" fault "$RUN_DIR" "$GATEWAY" "$TLS_CERT" "$name" "$CLIENTS" "$BEFORE" "$outage" "$AFTER" \
    "$probe" "$command" "$RESTART" >&2
}

PG_ISREADY="$(ls /usr/lib/postgresql/*/bin/pg_isready | sort -V | tail -1)"
run_fault postgres "cmd:$PG_ISREADY -q -h 127.0.0.1 -p $PORT_PG" "kill -9 \$(head -1 '$BENCH_STATE/postgres/data/postmaster.pid')"
run_fault redis "127.0.0.1:$PORT_REDIS" "kill -9 \$(cat '$BENCH_STATE/redis/redis.pid')"
run_fault api-replica "127.0.0.1:$((PORT_API + 1))" "kill -9 \$(cat '$BENCH_STATE/run/api-1.pid')"
run_fault worker "127.0.0.1:$PORT_WORKER" "kill -9 \$(cat '$BENCH_STATE/run/worker.pid')"
run_fault gateway-reload - "$NGINX -s reload" 0
run_fault gateway-restart "127.0.0.1:$PORT_HTTPS" "'$STACK' nginx-stop '$BENCH_STATE/nginx'"

say "Reading back every acknowledged write…"
python3 "$BENCH/chaos_bench.py" verify "$RUN_DIR" "$GATEWAY" "$TLS_CERT" >&2
python3 "$BENCH/chaos_bench.py" report "$RUN_DIR" "$RESULTS"
