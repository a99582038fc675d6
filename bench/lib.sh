# Shared by bench/run-ops.sh and bench/gateway-tuning.sh (sourced, not run): the stack started the way ./run.sh does
# in a state folder and on ports of its own, the references (a bare ASP.NET Core no-op behind a minimal nginx with the
# gateway's certificate, and nginx's own "return 204"), and one wrk run.
#
# The caller sets BENCH_STATE (a state folder this bench owns: wiped at the start) and RUN_DIR (where the run's raw
# figures go), and calls bench_cleanup on exit.

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
STACK="$ROOT/scripts/stack.sh"

: "${BENCH_CONNECTIONS:=32}"
: "${BENCH_WRK_THREADS:=2}"
: "${MISLATA_CONFIGURATION:=Release}"
export MISLATA_CONFIGURATION

say() { printf '%s\n' "$*" >&2; }
fail() { say "bench: $*"; exit 1; }

# wrk from the distribution (Debian package "wrk"); PostgreSQL, Redis and nginx as ./run.sh installs them.
bench_tools() {
  if ! command -v wrk >/dev/null 2>&1; then
    say "Installing wrk from the distribution's packages…"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wrk >/dev/null 2>&1 \
      || { $sudo apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wrk >/dev/null; } \
      || fail "could not install wrk (apt-get install wrk)"
  fi
  "$STACK" packages
  command -v python3 >/dev/null 2>&1 || fail "python3 is required"
}

# Free ports for everything this bench starts, so that it never meets ./run.sh's own stack or the tests'.
bench_ports() {
  local name
  for name in HTTPS HTTP IDENTITY API WORKER PG REDIS BARE REF; do
    printf -v "PORT_$name" '%s' "$("$STACK" free-port)"
  done
  GATEWAY="https://127.0.0.1:$PORT_HTTPS"
  REFERENCE="https://127.0.0.1:$PORT_REF"
}

# ./run.sh's own start (build, PostgreSQL, Redis, the three services, the TLS gateway) in BENCH_STATE.
# The stack of a bench: access tokens get a per-credential limit far above any rate measured here (the bench's API
# keys carry their own), so that the authentication figures measure authentication, not 429s.
bench_stack_start() {
  bench_stack_stop
  rm -rf "$BENCH_STATE"
  mkdir -p "$BENCH_STATE" "$RUN_DIR"
  say "Starting the stack (./run.sh, state in $BENCH_STATE, gateway $GATEWAY, nginx worker_processes ${NGINX_WORKER_PROCESSES:-default})…"
  MISLATA_STATE_DIR="$BENCH_STATE" MISLATA_HTTPS_PORT="$PORT_HTTPS" MISLATA_HTTP_PORT="$PORT_HTTP" \
    MISLATA_IDENTITY_PORT="$PORT_IDENTITY" MISLATA_API_PORT="$PORT_API" MISLATA_WORKER_PORT="$PORT_WORKER" \
    MISLATA_PG_PORT="$PORT_PG" MISLATA_REDIS_PORT="$PORT_REDIS" MISLATA_PUBLIC_HOST=127.0.0.1 \
    RateLimits__DefaultPerCredential="${BENCH_TOKEN_RATE_LIMIT:-100000000}" \
    "$ROOT/run.sh" start > "$BENCH_STATE/run.log" 2>&1 \
    || { tail -30 "$BENCH_STATE/run.log" >&2; fail "./run.sh start failed (log: $BENCH_STATE/run.log)"; }
  API_PID="$(cat "$BENCH_STATE/run/api.pid")"
  TLS_CERT="$BENCH_STATE/tls/cert.pem"
  TLS_KEY="$BENCH_STATE/tls/key.pem"
}

bench_stack_stop() {
  [ -n "${BENCH_STATE:-}" ] && [ -d "$BENCH_STATE" ] || return 0
  MISLATA_STATE_DIR="$BENCH_STATE" "$ROOT/run.sh" stop >/dev/null 2>&1 || true
}

# Re-renders the gateway with the current NGINX_WORKER_PROCESSES, applies "$@" (sed expressions) to the rendered
# configuration and restarts it: gateway-tuning.sh's variants.
bench_gateway_restart() {
  "$STACK" nginx-stop "$BENCH_STATE/nginx"
  "$STACK" nginx-render "$BENCH_STATE/nginx" "$PORT_HTTP" "$PORT_HTTPS" "$PORT_HTTPS" \
    "127.0.0.1:$PORT_IDENTITY" "127.0.0.1:$PORT_API" "127.0.0.1:$PORT_WORKER" "$TLS_CERT" "$TLS_KEY"
  local expression
  for expression in "$@"; do sed -i -E "$expression" "$BENCH_STATE/nginx/nginx.conf"; done
  nginx -t -q -p "$BENCH_STATE/nginx" -c "$BENCH_STATE/nginx/nginx.conf" || fail "nginx rejected a tuning variant: $*"
  "$STACK" nginx-start "$BENCH_STATE/nginx"
  bench_wait_for "$GATEWAY/api/v1/ping" 204
}

# Restarts the api with run.sh's own environment for it plus "$@" (NAME=value pairs): gateway-tuning.sh's telemetry phase.
bench_api_restart() {
  "$STACK" service-stop "$BENCH_STATE/run/api.pid"
  ( export MISLATA_STATE_DIR="$BENCH_STATE" MISLATA_HTTPS_PORT="$PORT_HTTPS" MISLATA_HTTP_PORT="$PORT_HTTP" \
      MISLATA_IDENTITY_PORT="$PORT_IDENTITY" MISLATA_API_PORT="$PORT_API" MISLATA_WORKER_PORT="$PORT_WORKER" \
      MISLATA_PG_PORT="$PORT_PG" MISLATA_REDIS_PORT="$PORT_REDIS" MISLATA_PUBLIC_HOST=127.0.0.1
    # shellcheck source=run.sh
    . "$ROOT/run.sh"
    # shellcheck disable=SC1091
    . "$BENCH_STATE/secrets/stack.env"
    service_env api
    local assignment
    for assignment in "$@"; do export "${assignment?}"; done
    "$STACK" service-start api "$(dll_of api)" "$BENCH_STATE/logs/api.log" "$BENCH_STATE/run/api.pid" )
  API_PID="$(cat "$BENCH_STATE/run/api.pid")"
  bench_wait_for "http://127.0.0.1:$PORT_API/health/ready" 200
}

# The bare ASP.NET Core no-op (bench/BareNoop) and the minimal nginx in front of it.
bench_reference_start() {
  say "Building and starting the references (bench/BareNoop behind a minimal nginx)…"
  dotnet build "$BENCH/BareNoop/BareNoop.csproj" -c "$MISLATA_CONFIGURATION" -v quiet -nologo > "$RUN_DIR/build-bare.log" 2>&1 \
    || { tail -30 "$RUN_DIR/build-bare.log" >&2; fail "bench/BareNoop did not build"; }
  mkdir -p "$BENCH_STATE/reference"
  ( export ASPNETCORE_URLS="http://127.0.0.1:$PORT_BARE" DOTNET_ENVIRONMENT=Production ASPNETCORE_ENVIRONMENT=Production
    "$STACK" service-start bare "$BENCH/BareNoop/bin/$MISLATA_CONFIGURATION/net10.0/BareNoop.dll" \
      "$BENCH_STATE/reference/bare.log" "$BENCH_STATE/reference/bare.pid" )
  bench_reference_nginx_restart
  bench_wait_for "$REFERENCE/noop" 204
}

bench_reference_nginx_restart() {
  local dir="$BENCH_STATE/reference"
  [ -f "$dir/nginx.pid" ] && { kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true; for _ in $(seq 1 50); do [ -f "$dir/nginx.pid" ] || break; sleep 0.1; done; }
  ( export NGINX_WORKER_PROCESSES="${NGINX_WORKER_PROCESSES:-auto}" REF_DIR="$dir" REF_PORT="$PORT_REF" BARE_PORT="$PORT_BARE" API_PORT="$PORT_API" \
      TLS_CERT TLS_KEY
    # shellcheck disable=SC2016 # the names are for envsubst
    envsubst '${NGINX_WORKER_PROCESSES} ${REF_DIR} ${REF_PORT} ${BARE_PORT} ${API_PORT} ${TLS_CERT} ${TLS_KEY}' \
      < "$BENCH/nginx/reference.conf.template" > "$dir/nginx.conf" )
  chmod -R a+rX "$dir"
  nginx -q -p "$dir" -c "$dir/nginx.conf" || fail "the reference nginx did not start (see $dir/error.log)"
  bench_wait_for "$REFERENCE/nginx204" 204
}

bench_reference_stop() {
  local dir="${BENCH_STATE:-}/reference"
  [ -d "$dir" ] || return 0
  [ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
  "$STACK" service-stop "$dir/bare.pid"
}

bench_cleanup() {
  [ -n "${RSS_SAMPLER_PID:-}" ] && kill "$RSS_SAMPLER_PID" 2>/dev/null || true
  bench_reference_stop
  bench_stack_stop
}

bench_wait_for() {
  local url="$1" expected="$2" code=""
  for _ in $(seq 1 100); do
    code="$(curl -sk -o /dev/null -w '%{http_code}' "$url" || true)"
    [ "$code" = "$expected" ] && return 0
    sleep 0.2
  done
  fail "$url answers $code, not $expected"
}

# wrk_run NAME URL SECONDS [METHOD BODY_FILE API_KEY]: BENCH_CONNECTIONS connections, prints the "WRK_JSON" figures
# of request.lua as one JSON object (wrk's full output stays in RUN_DIR/wrk-NAME.txt).
wrk_run() {
  local name="$1" url="$2" seconds="$3"
  WRK_METHOD="${4:-GET}" WRK_BODY_FILE="${5:-}" WRK_API_KEY="${6:-}" \
    wrk -t "$BENCH_WRK_THREADS" -c "$BENCH_CONNECTIONS" -d "${seconds}s" --timeout 10s -s "$BENCH/wrk/request.lua" "$url" \
    > "$RUN_DIR/wrk-$name.txt" 2>&1 || true
  local line
  line="$(sed -n 's/^WRK_JSON //p' "$RUN_DIR/wrk-$name.txt")"
  [ -n "$line" ] || { cat "$RUN_DIR/wrk-$name.txt" >&2; fail "wrk gave no figures for $name"; }
  printf '%s\n' "$line"
}

# warm-up run (discarded), then the measured one
wrk_measure() {
  local name="$1" url="$2" method="${3:-GET}" body="${4:-}" key="${5:-}"
  wrk_run "$name-warmup" "$url" "$BENCH_WARMUP" "$method" "$body" "$key" >/dev/null
  wrk_run "$name" "$url" "$BENCH_DURATION" "$method" "$body" "$key"
}

# bench_meta SETTINGS_JSON: RUN_DIR/meta.json (time, commit, machine, and the run's settings as given).
bench_meta() {
  local cpu
  cpu="$(sed -nE 's/^model name\s*:\s*//p' /proc/cpuinfo | head -1)"
  cat > "$RUN_DIR/meta.json" <<JSON
{"stamp":"$STAMP","startedAt":"$(date -u +%Y-%m-%dT%H:%M:%SZ)","commit":"$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+changes')",
 "machine":"$(nproc) cores ($cpu), load average at start $(cut -d' ' -f1-3 /proc/loadavg), $(uname -sr), nginx $(nginx -v 2>&1 | sed 's|.*/||'), .NET $(dotnet --version)",
 "settings":$1}
JSON
}

# The api's resident memory while the load runs: bench_rss_start samples VmRSS every second, bench_rss_finish writes
# RUN_DIR/rss.json (start, peak, the kernel's high-water mark VmHWM, end).
rss_kib() { sed -nE "s/^$1:\s+([0-9]+) kB/\1/p" "/proc/$API_PID/status" 2>/dev/null || true; }

bench_rss_start() {
  RSS_START="$(rss_kib VmRSS)"
  ( while kill -0 "$API_PID" 2>/dev/null; do rss_kib VmRSS; sleep 1; done ) > "$RUN_DIR/rss-samples.txt" &
  RSS_SAMPLER_PID=$!
}

bench_rss_finish() {
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
}
