#!/usr/bin/env bash
# Where the CPU goes per request (issue 10's "the stack must not slow itself down"): starts the stack as
# bench/run-ops.sh does, then for GET /api/v1/ping and each chosen operation runs wrk for a fixed time while reading
# the CPU time (utime + stime from /proc) of every process of the stack: api, gateway nginx, redis, postgres (all
# backends), identity, worker, wrk. Prints CPU microseconds per request for each, so that ping and an operation can
# be compared process by process, and with --perf a perf profile of the api during the first operation
# (DOTNET_PerfMapEnabled=1 gives perf the JIT-compiled methods' names).
#
#   bench/profile-ops.sh [--duration S] [--warmup S] [--perf] [OPERATION_KEY …]     (default: op-encrypt_AES-256-GCM)
#
# --warmup S (default 20): load before each measured run. A fresh api needs 30-45 s of an operation's traffic on this
# machine before the JIT has tiered its hot path up; with 5 s the figures were mostly of tier-0 code (run-ops.sh).
#
# Writes bench/results/profile-<UTC time>.md. Absolute figures depend on the machine's load; the per-request CPU
# split between processes is what this is for.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

DURATION=15
WARMUP=20
PERF=0
OPS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --perf) PERF=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) OPS+=("$1"); shift ;;
  esac
done
[ ${#OPS[@]} -gt 0 ] || OPS=(op-encrypt_AES-256-GCM)

BENCH_STATE="${MISLATA_BENCH_STATE:-$BENCH/.state-profile}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RUN_DIR="$BENCH_STATE/run-$STAMP"
RESULTS="$BENCH/results"
trap 'bench_cleanup; [ "${KEEP_STATE:-0}" = 1 ] || rm -rf "$BENCH_STATE"' EXIT
trap 'exit 130' INT TERM

bench_tools
bench_ports
[ "$PERF" = 1 ] && export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
bench_stack_start
python3 "$BENCH/ops_bench.py" setup "$RUN_DIR" "$GATEWAY" "$TLS_CERT" "$BENCH_STATE/admin.env" >&2
API_KEY="$(cat "$RUN_DIR/secret/api-key")"
export NGINX_WORKER_PROCESSES="${NGINX_WORKER_PROCESSES:-$(sed -nE 's/^worker_processes ([^;]+);/\1/p' "$BENCH_STATE/nginx/nginx.conf")}"
bench_reference_start >&2

# "name pid" lines for every process of the stack (and wrk, added per run).
stack_pids() {
  local f
  for f in api identity worker; do echo "$f $(cat "$BENCH_STATE/run/$f.pid")"; done
  local master; master="$(cat "$BENCH_STATE/nginx/run/nginx.pid" 2>/dev/null || true)"
  if [ -n "$master" ]; then echo "gateway $master"; pgrep -P "$master" | sed 's/^/gateway /' || true; fi
  pgrep -f "redis-server .*:$PORT_REDIS" | sed 's/^/redis /' || true
  for p in $(pgrep -f "postgres" || true); do
    # postgres children share the postmaster's data directory in their parent chain: keep those of this stack's cluster
    if tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q "$BENCH_STATE" || { pp="$(ps -o ppid= -p "$p" | tr -d ' ')"; [ -n "$pp" ] && tr '\0' ' ' < "/proc/$pp/cmdline" 2>/dev/null | grep -q "$BENCH_STATE"; }; then
      echo "postgres $p"
    fi
  done
}

# The bare reference (run-ops.sh's "bare"): BareNoop in the api column, the minimal nginx in the gateway column, so
# that its row compares with ping's process by process.
reference_pids() {
  echo "api $(cat "$BENCH_STATE/reference/bare.pid")"
  local master; master="$(cat "$BENCH_STATE/reference/nginx.pid" 2>/dev/null || true)"
  if [ -n "$master" ]; then echo "gateway $master"; pgrep -P "$master" | sed 's/^/gateway /' || true; fi
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# profile NAME URL METHOD BODY: wrk warm-up, then DURATION s with CPU ticks read before and after
profile() {
  local name="$1" url="$2" method="$3" body="$4" pids_of="${5:-stack_pids}"
  wrk_run "$name-warmup" "$url" "$WARMUP" "$method" "$body" "$API_KEY" >/dev/null
  declare -A before=()
  local line n p
  local pids; pids="$($pids_of)"
  while read -r n p; do before[$p]="$(cpu_ticks "$p")"; done <<< "$pids"
  local t0; t0=$(date +%s.%N)
  if [ "$PERF" = 1 ] && [ "$name" = "${OPS[0]}" ]; then
    perf record -F 499 -g -p "$API_PID" -o "$RUN_DIR/perf.data" -- sleep "$((DURATION - 2))" >/dev/null 2>&1 &
  fi
  local wrk_json
  WRK_METHOD="$method" WRK_BODY_FILE="$body" WRK_API_KEY="$API_KEY" \
    wrk -t "$BENCH_WRK_THREADS" -c "$BENCH_CONNECTIONS" -d "${DURATION}s" --timeout 10s -s "$BENCH/wrk/request.lua" "$url" \
    > "$RUN_DIR/wrk-$name.txt" 2>&1 &
  local wrk_pid=$!
  sleep 0.2
  wait "$wrk_pid" || true
  local t1; t1=$(date +%s.%N)
  wait || true
  wrk_json="$(sed -n 's/^WRK_JSON //p' "$RUN_DIR/wrk-$name.txt")"
  local out="$RUN_DIR/cpu-$name.txt"
  : > "$out"
  while read -r n p; do echo "$n $(( $(cpu_ticks "$p") - ${before[$p]:-0} ))" >> "$out"; done <<< "$pids"
  python3 - "$name" "$out" "$wrk_json" "$t0" "$t1" "$(getconf CLK_TCK)" <<'PY' >> "$RUN_DIR/rows.txt"
import json, sys
name, out, wrk, t0, t1, hz = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
per = {}
for line in open(out):
    n, ticks = line.split()
    per[n] = per.get(n, 0) + int(ticks)
requests = wrk.get("requests") or 0
rps = requests / (wrk["durationUs"] / 1e6) if wrk.get("durationUs") else requests / (t1 - t0)
row = {"name": name, "rps": rps, "requests": requests, "errors": wrk.get("non2xx3xx", 0), "p99ms": wrk.get("p99Us", 0) / 1000,
       "us_per_request": {n: round(t / hz * 1e6 / requests, 1) if requests else None for n, t in per.items()},
       "cpu_share": {n: round(t / hz / (t1 - t0), 2) for n, t in per.items()}}
print(json.dumps(row))
PY
}

say "Profiling ping and ${OPS[*]} (${DURATION} s each, $BENCH_CONNECTIONS connections)…"
profile ping "$GATEWAY/api/v1/ping" GET ""
profile bare-reference "$REFERENCE/noop" GET "" reference_pids
while IFS=$'\t' read -r key path method _credential body; do
  for wanted in "${OPS[@]}"; do
    [ "$key" = "$wanted" ] && profile "$key" "$GATEWAY$path" "$method" "$body"
  done
done < <(python3 "$BENCH/ops_bench.py" runnable "$RUN_DIR")

if [ "$PERF" = 1 ] && [ -f "$RUN_DIR/perf.data" ]; then
  { echo "self:"; perf report -i "$RUN_DIR/perf.data" --no-children --sort symbol -g none --percent-limit 0.25 --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -80
    echo; echo "inclusive (children), Mislata, Npgsql, StackExchange.Redis, System.Text.Json and ASP.NET Core frames:"
    perf report -i "$RUN_DIR/perf.data" --children --sort symbol -g none --percent-limit 1 --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' \
      | grep -E "Mislata|Npgsql|StackExchange|System.Text.Json|AspNetCore|Kestrel|OpenTelemetry|Logging" | head -120
  } > "$RUN_DIR/perf-top.txt" || true
fi

mkdir -p "$RESULTS"
python3 - "$RUN_DIR" "$RESULTS/profile-$STAMP.md" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(git -C "$ROOT" rev-parse --short HEAD)" <<'PY'
import json, os, sys
run, md, load, commit = sys.argv[1:5]
rows = [json.loads(l) for l in open(run + "/rows.txt")]
procs = ["api", "gateway", "redis", "postgres", "identity", "worker"]
lines = [f"# CPU per request — commit `{commit}`, load average at the end {load}", "",
         "CPU microseconds per request of each process of the stack (utime + stime from /proc over the measured run). Row bare-reference: the bare ASP.NET Core no-op (api column) behind the minimal reference nginx (gateway column).", "",
         "| run | req/s | p99 ms | non-2xx | " + " | ".join(procs) + " | stack total |", "|---|---:|---:|---:|" + "---:|" * (len(procs) + 1)]
for r in rows:
    us = r["us_per_request"]
    total = sum(v for v in us.values() if v)
    lines.append(f"| {r['name']} | {r['rps']:,.0f} | {r['p99ms']:.1f} | {r['errors']} | " + " | ".join(str(us.get(p, '–')) for p in procs) + f" | {total:,.1f} |")
top = os.path.join(run, "perf-top.txt")
if os.path.exists(top):
    lines += ["", "## perf: the api's hottest symbols during the first operation", "", "```", open(top).read().rstrip(), "```"]
open(md, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
