#!/usr/bin/env bash
# Gateway tuning by measurement (issue 10): the stack as ./run.sh starts it, and the gateway's configuration varied one
# factor at a time, each variant measured in interleaved rounds (variant A, B, C, A, B, C, …; the median is kept) so
# that the machine's drift hits every variant alike:
#   workers    worker_processes 1 / 2 / auto — gateway ping, the gateway's own /health/live (nginx answers it),
#              and the references with the same worker count: nginx "return 204" and the bare ASP.NET Core no-op
#              behind a minimal nginx; the api's and the bare app's Kestrel directly once per round
#   log        the JSON access log unbuffered / buffered (buffer=64k flush=1s) / off
#   keepalive  idle kept-alive connections to the api: none / 16 / 64 / 256
#   headers    the gateway's response headers (HSTS, CSP, … and X-Request-ID on every answer) kept / removed, to
#              size their cost (a measurement only: the headers stay)
#   telemetry  the api restarted with OTEL_SDK_DISABLED=true and without: what the always-on OpenTelemetry tracing and
#              metrics (recorded even when nothing exports them) cost per request, directly and through the gateway
#   pair       the gateway as rendered by default: gateway ping, the api's ping behind the minimal nginx and the bare
#              no-op back to back for 2 × rounds rounds: the median of the rounds' ping ÷ bare (the issue's target:
#              ≥ 0.9), split into the gateway configuration's share and the api pipeline's share
# The log and keepalive phases run with GATEWAY_TUNING_WORKERS (default: stack.sh's default).
# Writes bench/results/gateway-tuning-<UTC time>.{json,md} and gateway-tuning-latest.{json,md}; the reasoning and the
# chosen defaults are in bench/results/gateway-tuning.md.
#
#   bench/gateway-tuning.sh [--rounds N] [--duration S] [--warmup S] [--phases workers,log,keepalive,headers,telemetry,pair]
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

ROUNDS=3
BENCH_DURATION=6
BENCH_WARMUP=2
PHASES="workers,log,keepalive,headers,pair"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --duration) BENCH_DURATION="$2"; shift 2 ;;
    --warmup) BENCH_WARMUP="$2"; shift 2 ;;
    --phases) PHASES="$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) fail "unknown option $1 (see --help)" ;;
  esac
done

BENCH_STATE="${MISLATA_BENCH_STATE:-$BENCH/.state-tuning}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RUN_DIR="$BENCH_STATE/run-$STAMP"
RESULTS="$BENCH/results"
trap 'bench_cleanup; rm -rf "$BENCH_STATE"' EXIT
trap 'exit 130' INT TERM

bench_tools
bench_ports
bench_stack_start
DEFAULT_WORKERS="$(sed -nE 's/^worker_processes ([^;]+);/\1/p' "$BENCH_STATE/nginx/nginx.conf")"
WORKERS="${GATEWAY_TUNING_WORKERS:-$DEFAULT_WORKERS}"
export NGINX_WORKER_PROCESSES="$WORKERS"
bench_reference_start

cat > "$RUN_DIR/meta.json" <<JSON
{"stamp":"$STAMP","startedAt":"$(date -u +%Y-%m-%dT%H:%M:%SZ)","commit":"$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)",
 "machine":"$(nproc) cores, load average at start $(cut -d' ' -f1-3 /proc/loadavg), $(uname -sr), nginx $(nginx -v 2>&1 | sed 's|.*/||'), .NET $(dotnet --version)",
 "settings":{"connections":$BENCH_CONNECTIONS,"wrkThreads":$BENCH_WRK_THREADS,"warmupSeconds":$BENCH_WARMUP,"durationSeconds":$BENCH_DURATION,"rounds":$ROUNDS,"workersForLogAndKeepalive":"$WORKERS","defaultWorkers":"$DEFAULT_WORKERS"}}
JSON

FIGURES="$RUN_DIR/figures.jsonl"
: > "$FIGURES"
record() {
  local phase="$1" variant="$2" target="$3" round="$4" url="$5" key="$1-$2-$3-$4"
  key="${key//[^A-Za-z0-9_-]/_}"
  say "  round $round  $phase=$variant  $target"
  printf '{"phase":"%s","variant":"%s","target":"%s","round":%s,"wrk":%s}\n' "$phase" "$variant" "$target" "$round" \
    "$(wrk_measure "$key" "$url")" >> "$FIGURES"
}

# sed expressions for the rendered gateway configuration
LOG_PLAIN='s#^(\s*access_log\s+\S+\s+mislata_json)[^;]*;#\1;#'
log_variant() {
  case "$1" in
    unbuffered) echo "$LOG_PLAIN" ;;
    buffered) echo "$LOG_PLAIN"; echo 's#^(\s*access_log\s+\S+\s+mislata_json);#\1 buffer=64k flush=1s;#' ;;
    off) echo 's#^(\s*)access_log\s+[^;]+;#\1access_log off;#' ;;
  esac
}
keepalive_variant() {
  case "$1" in
    none) echo '/upstream api_upstream/,/\}/{/keepalive/d}' ;;
    *) echo "/upstream api_upstream/,/\\}/s/keepalive [0-9]+;/keepalive $1;/" ;;
  esac
}

for phase in ${PHASES//,/ }; do
  say "Phase $phase ($ROUNDS rounds, ${BENCH_WARMUP} s warm-up + ${BENCH_DURATION} s per target):"
  [ "$phase" = pair ] && bench_gateway_restart
  phase_rounds="$ROUNDS"
  [ "$phase" = pair ] && phase_rounds=$((2 * ROUNDS))
  for round in $(seq 1 "$phase_rounds"); do
    case "$phase" in
      workers)
        for workers in 1 2 auto; do
          export NGINX_WORKER_PROCESSES="$workers"
          bench_gateway_restart
          bench_reference_nginx_restart
          record workers "$workers" "gateway ping" "$round" "$GATEWAY/api/v1/ping"
          record workers "$workers" "gateway /health/live" "$round" "$GATEWAY/health/live"
          record workers "$workers" "reference nginx 204" "$round" "$REFERENCE/nginx204"
          record workers "$workers" "reference bare no-op" "$round" "$REFERENCE/noop"
        done
        record direct - "api Kestrel ping (no nginx)" "$round" "http://127.0.0.1:$PORT_API/api/v1/ping"
        record direct - "bare Kestrel no-op (no nginx)" "$round" "http://127.0.0.1:$PORT_BARE/"
        export NGINX_WORKER_PROCESSES="$WORKERS"
        ;;
      log)
        for variant in unbuffered buffered off; do
          mapfile -t expressions < <(log_variant "$variant")
          bench_gateway_restart "${expressions[@]}"
          record log "$variant" "gateway ping" "$round" "$GATEWAY/api/v1/ping"
          record log "$variant" "gateway /health/live" "$round" "$GATEWAY/health/live"
        done
        ;;
      keepalive)
        for variant in none 16 64 256; do
          bench_gateway_restart "$(keepalive_variant "$variant")"
          record keepalive "$variant" "gateway ping" "$round" "$GATEWAY/api/v1/ping"
        done
        ;;
      headers)
        bench_gateway_restart
        record headers kept "gateway ping" "$round" "$GATEWAY/api/v1/ping"
        bench_gateway_restart '/^\s*add_header /d'
        record headers removed "gateway ping" "$round" "$GATEWAY/api/v1/ping"
        ;;
      telemetry)
        for variant in on off; do
          if [ "$variant" = off ]; then bench_api_restart OTEL_SDK_DISABLED=true; else bench_api_restart; fi
          record telemetry "$variant" "api Kestrel ping (no nginx)" "$round" "http://127.0.0.1:$PORT_API/api/v1/ping"
          record telemetry "$variant" "gateway ping" "$round" "$GATEWAY/api/v1/ping"
        done
        bench_api_restart
        ;;
      pair)
        record pair default "gateway ping" "$round" "$GATEWAY/api/v1/ping"
        record pair default "api ping behind minimal nginx" "$round" "$REFERENCE/api-ping"
        record pair default "reference bare no-op" "$round" "$REFERENCE/noop"
        ;;
      *) fail "unknown phase $phase" ;;
    esac
  done
done
bench_gateway_restart
sed -i "s/^{\"stamp\"/{\"finishedAt\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"stamp\"/" "$RUN_DIR/meta.json"

python3 - "$RUN_DIR" "$RESULTS" <<'PY'
import json, os, statistics, sys
run, results = sys.argv[1], sys.argv[2]
meta = json.load(open(run + "/meta.json"))
rows = {}
for line in open(run + "/figures.jsonl"):
    f = json.loads(line)
    w = f["wrk"]
    seconds = w["durationUs"] / 1e6
    errors = w["non2xx3xx"] + w["connectErrors"] + w["readErrors"] + w["writeErrors"] + w["timeouts"]
    key = (f["phase"], f["variant"], f["target"])
    rows.setdefault(key, []).append({"rps": w["requests"] / seconds, "p50Ms": w["p50Us"] / 1000, "p99Ms": w["p99Us"] / 1000, "errors": errors})
summary = []
for (phase, variant, target), runs in rows.items():
    summary.append({"phase": phase, "variant": variant, "target": target,
                    "rpsMedian": round(statistics.median(r["rps"] for r in runs), 1), "rpsRounds": [round(r["rps"], 1) for r in runs],
                    "p50MsMedian": round(statistics.median(r["p50Ms"] for r in runs), 2), "p99MsMedian": round(statistics.median(r["p99Ms"] for r in runs), 2),
                    "errors": sum(r["errors"] for r in runs)})
bare = {s["variant"]: s["rpsMedian"] for s in summary if s["phase"] == "workers" and s["target"] == "reference bare no-op"}
lines = [f"# Gateway tuning — {meta['startedAt']}", "",
         f"Commit `{meta['commit']}`; {meta['machine']}. wrk {meta['settings']['connections']} connections, {meta['settings']['wrkThreads']} threads, "
         f"{meta['settings']['warmupSeconds']} s warm-up + {meta['settings']['durationSeconds']} s per target, {meta['settings']['rounds']} interleaved rounds "
         f"(median shown; each round's req/s in brackets). Log and keepalive phases with worker_processes {meta['settings']['workersForLogAndKeepalive']}.", "",
         "| phase | variant | target | req/s (median) | rounds | p50 ms | p99 ms | errors | ÷ bare no-op (same workers) |", "|---|---|---|---:|---|---:|---:|---:|---:|"]
for s in summary:
    ref = bare.get(s["variant"]) if s["phase"] == "workers" else bare.get(meta["settings"]["workersForLogAndKeepalive"])
    ratio = f"{s['rpsMedian'] / ref:.2f}" if ref and "gateway" in s["target"] else "–"
    lines.append(f"| {s['phase']} | {s['variant']} | {s['target']} | {s['rpsMedian']:,.0f} | {' / '.join(f'{x:,.0f}' for x in s['rpsRounds'])} | "
                 f"{s['p50MsMedian']:.2f} | {s['p99MsMedian']:.2f} | {s['errors']} | {ratio} |")
pair = {s["target"]: s["rpsRounds"] for s in summary if s["phase"] == "pair"}
paired = [p / b for p, b in zip(pair.get("gateway ping", []), pair.get("reference bare no-op", [])) if b]
api_share = [a / b for a, b in zip(pair.get("api ping behind minimal nginx", []), pair.get("reference bare no-op", [])) if b]
gateway_share = [p / a for p, a in zip(pair.get("gateway ping", []), pair.get("api ping behind minimal nginx", [])) if a]
if paired:
    med = lambda xs: f"{statistics.median(xs):.2f}" if xs else "–"
    lines += ["", f"Pair phase (default configuration, back to back in each round): gateway ping ÷ bare no-op per round "
              f"{' / '.join(f'{x:.2f}' for x in paired)}, median **{med(paired)}** (target ≥ 0.90). Split: api ping behind the minimal nginx "
              f"÷ bare no-op (the api pipeline's share) median {med(api_share)}; gateway ping ÷ api ping behind the minimal nginx "
              f"(the gateway configuration's share) median {med(gateway_share)}."]
markdown = "\n".join(lines) + "\n"
os.makedirs(results, exist_ok=True)
for base in (f"gateway-tuning-{meta['stamp']}", "gateway-tuning-latest"):
    json.dump({"kind": "mislata-gateway-tuning", **meta, "results": summary,
               "pairPingToBare": round(statistics.median(paired), 3) if paired else None, "pairPingToBareRounds": [round(x, 3) for x in paired]}, open(os.path.join(results, base + ".json"), "w"), indent=2)
    open(os.path.join(results, base + ".md"), "w").write(markdown)
print(markdown)
PY
