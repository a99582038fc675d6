#!/usr/bin/env bash
# The operations benchmark (issue 10): one command that starts the stack as ./run.sh does (TLS gateway, one api) in a
# state folder and on ports of its own, creates a tenant on a plan without limits and its keys (AES-256-GCM,
# ML-KEM-768, ML-DSA-65, Ed25519, HMAC-SHA256), and drives each operation with wrk at a fixed concurrency next to
# three references measured in the same run:
#   nginx204  nginx's own "return 204" (a minimal nginx with the gateway's certificate and worker count)
#   bare      a bare ASP.NET Core no-op (bench/BareNoop, Kestrel, one endpoint → 204) behind that minimal nginx
#   ping      the product's GET /api/v1/ping through the gateway (measured again at the end: ping-end)
# and, for sign/verify, the in-process rate of the library on the same cores (bench/Mislata.Crypto.Benchmarks rate).
# Prints per operation req/s, p50, p99 and the ratios; writes bench/results/ops-<UTC time>.{json,md} and
# ops-latest.{json,md}. An endpoint that answers 404 is reported "not available"; wrk's non-2xx answers and socket
# errors are counted and reported (a row with errors is not a result).
#
#   bench/run-ops.sh [--duration S] [--warmup S] [--connections N] [--no-raw-rate] [--keep-state]
#
# Environment: NGINX_WORKER_PROCESSES (the gateway's and the reference nginx's; default: stack.sh's),
# MISLATA_BENCH_STATE (state folder, default bench/.state-ops; wiped at the start), BENCH_WRK_THREADS (2).
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

BENCH_DURATION=15
BENCH_WARMUP=5
RAW_RATE=1
KEEP_STATE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) BENCH_DURATION="$2"; shift 2 ;;
    --warmup) BENCH_WARMUP="$2"; shift 2 ;;
    --connections) BENCH_CONNECTIONS="$2"; shift 2 ;;
    --no-raw-rate) RAW_RATE=0; shift ;;
    --keep-state) KEEP_STATE=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) fail "unknown option $1 (see --help)" ;;
  esac
done

BENCH_STATE="${MISLATA_BENCH_STATE:-$BENCH/.state-ops}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RUN_DIR="$BENCH_STATE/run-$STAMP"
RESULTS="$BENCH/results"

finish() {
  bench_cleanup
  [ "$KEEP_STATE" = 1 ] || rm -rf "$BENCH_STATE"
}
trap finish EXIT
trap 'exit 130' INT TERM

bench_tools
bench_ports
bench_stack_start
# The reference nginx runs with the gateway's worker count.
export NGINX_WORKER_PROCESSES="${NGINX_WORKER_PROCESSES:-$(sed -nE 's/^worker_processes ([^;]+);/\1/p' "$BENCH_STATE/nginx/nginx.conf")}"
bench_reference_start

cpu="$(sed -nE 's/^model name\s*:\s*//p' /proc/cpuinfo | head -1)"
cat > "$RUN_DIR/meta.json" <<JSON
{"stamp":"$STAMP","startedAt":"$(date -u +%Y-%m-%dT%H:%M:%SZ)","commit":"$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+changes')",
 "machine":"$(nproc) cores ($cpu), load average at start $(cut -d' ' -f1-3 /proc/loadavg), $(uname -sr), nginx $(nginx -v 2>&1 | sed 's|.*/||'), .NET $(dotnet --version)",
 "settings":{"connections":$BENCH_CONNECTIONS,"wrkThreads":$BENCH_WRK_THREADS,"warmupSeconds":$BENCH_WARMUP,"durationSeconds":$BENCH_DURATION,"nginxWorkerProcesses":"$NGINX_WORKER_PROCESSES"}}
JSON

say "Creating the tenant, its plan without limits, its API key and keys; probing each operation…"
python3 "$BENCH/ops_bench.py" setup "$RUN_DIR" "$GATEWAY" "$TLS_CERT" "$BENCH_STATE/admin.env"
API_KEY="$(cat "$RUN_DIR/secret/api-key")"

if [ "$RAW_RATE" = 1 ]; then
  say "In-process sign/verify rate ($(nproc) threads)…"
  dotnet build "$BENCH/Mislata.Crypto.Benchmarks/Mislata.Crypto.Benchmarks.csproj" -c "$MISLATA_CONFIGURATION" -v quiet -nologo \
    > "$RUN_DIR/build-crypto-bench.log" 2>&1 || { tail -30 "$RUN_DIR/build-crypto-bench.log" >&2; fail "the crypto benchmarks did not build"; }
  dotnet "$BENCH/Mislata.Crypto.Benchmarks/bin/$MISLATA_CONFIGURATION/net10.0/Mislata.Crypto.Benchmarks.dll" rate \
    --threads "$(nproc)" --seconds 5 --message-bytes 1024 > "$RUN_DIR/raw-rate.json"
fi

# The api's resident memory while the load runs (VmRSS every second; VmHWM is the kernel's high-water mark).
rss_kib() { sed -nE "s/^$1:\s+([0-9]+) kB/\1/p" "/proc/$API_PID/status" 2>/dev/null || true; }
RSS_START="$(rss_kib VmRSS)"
( while kill -0 "$API_PID" 2>/dev/null; do rss_kib VmRSS; sleep 1; done ) > "$RUN_DIR/rss-samples.txt" &
RSS_SAMPLER_PID=$!

measure() {
  local key="$1"; shift
  say "  $key…"
  wrk_measure "$key" "$@" > "$RUN_DIR/wrk-$key.json"
}

say "References (${BENCH_WARMUP} s warm-up + ${BENCH_DURATION} s each, $BENCH_CONNECTIONS connections):"
measure nginx204 "$REFERENCE/nginx204"
measure bare "$REFERENCE/noop"
measure ping "$GATEWAY/api/v1/ping"
say "Operations:"
while IFS=$'\t' read -r key path body; do
  measure "$key" "$GATEWAY$path" POST "$body" "$API_KEY"
done < <(python3 "$BENCH/ops_bench.py" runnable "$RUN_DIR")
measure ping-end "$GATEWAY/api/v1/ping"

kill "$RSS_SAMPLER_PID" 2>/dev/null || true
RSS_SAMPLER_PID=""
python3 - "$RUN_DIR" "$RSS_START" "$(rss_kib VmHWM)" "$(rss_kib VmRSS)" <<'PY'
import json, sys
run, start, hwm, end = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
samples = [int(x) for x in open(run + "/rss-samples.txt").read().split() if x.isdigit()]
mib = lambda kib: round(int(kib) / 1024, 1) if str(kib).isdigit() else None
json.dump({"startMiB": mib(start), "peakMiB": mib(max(samples)) if samples else None, "hwmMiB": mib(hwm), "endMiB": mib(end),
           "samples": len(samples), "intervalSeconds": 1}, open(run + "/rss.json", "w"))
PY

sed -i "s/^{\"stamp\"/{\"finishedAt\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"stamp\"/" "$RUN_DIR/meta.json"
python3 "$BENCH/ops_bench.py" report "$RUN_DIR" "$RESULTS"
