#!/usr/bin/env bash
# Mislata on this machine, no containers: PostgreSQL, Redis and nginx from the distribution's packages, the three
# .NET services built in Release, all state under .state/ (or $MISLATA_STATE_DIR).
#
#   ./run.sh            start everything (first run: install packages, create data, keys and credentials)
#   ./run.sh stop       stop everything (data is kept)
#   ./run.sh status     what runs, and the aggregate health
#   ./run.sh logs [identity|api|worker|gateway|postgres|redis]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${MISLATA_STATE_DIR:-$ROOT/.state}"
STACK="$ROOT/scripts/stack.sh"

HTTP_PORT="${MISLATA_HTTP_PORT:-8080}"
HTTPS_PORT="${MISLATA_HTTPS_PORT:-8443}"
PUBLIC_HOST="${MISLATA_PUBLIC_HOST:-localhost}"
IDENTITY_PORT="${MISLATA_IDENTITY_PORT:-5100}"
API_PORT="${MISLATA_API_PORT:-5282}"
WORKER_PORT="${MISLATA_WORKER_PORT:-5300}"
PG_PORT="${MISLATA_PG_PORT:-55432}"
REDIS_PORT="${MISLATA_REDIS_PORT:-56379}"
CONFIGURATION="${MISLATA_CONFIGURATION:-Release}"
SERVICES=(identity api worker)

info() { printf '%s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

random_b64() { head -c "$1" /dev/urandom | base64 | tr -d '\n'; }
random_token() { head -c "$1" /dev/urandom | base64 | tr -d '\n=' | tr '+/' '-_'; }

dll_of() {
  case "$1" in
    identity) echo "$ROOT/src/Mislata.Identity/bin/$CONFIGURATION/net10.0/Mislata.Identity.dll" ;;
    api) echo "$ROOT/src/Mislata.Api/bin/$CONFIGURATION/net10.0/Mislata.Api.dll" ;;
    worker) echo "$ROOT/src/Mislata.Worker/bin/$CONFIGURATION/net10.0/Mislata.Worker.dll" ;;
  esac
}

port_of() {
  case "$1" in identity) echo "$IDENTITY_PORT" ;; api) echo "$API_PORT" ;; worker) echo "$WORKER_PORT" ;; esac
}

# Secrets are generated once and kept in files readable only by their owner.
ensure_secrets() {
  mkdir -p "$STATE/secrets"
  chmod 711 "$STATE"
  chmod 700 "$STATE/secrets"
  [ -f "$STATE/secrets/master.key" ] || ( umask 077; random_b64 32 > "$STATE/secrets/master.key" )
  if [ ! -f "$STATE/secrets/stack.env" ]; then
    ( umask 077
      {
        echo "PG_PASSWORD=$(random_token 24)"
        echo "REDIS_PASSWORD=$(random_token 24)"
        echo "QAPI_ADMIN_EMAIL=${QAPI_ADMIN_EMAIL:-admin@mislata.local}"
        echo "QAPI_ADMIN_PASSWORD=${QAPI_ADMIN_PASSWORD:-Ml-$(random_token 18)-9a}"
        echo "QAPI_BOOTSTRAP_CLIENT_ID=${QAPI_BOOTSTRAP_CLIENT_ID:-mislata-operator}"
        echo "QAPI_BOOTSTRAP_CLIENT_SECRET=${QAPI_BOOTSTRAP_CLIENT_SECRET:-$(random_token 32)}"
      } > "$STATE/secrets/stack.env" )
  fi
  # shellcheck disable=SC1091
  . "$STATE/secrets/stack.env"
  chmod 600 "$STATE/secrets/master.key" "$STATE/secrets/stack.env"
}

public_url() {
  if [ "$HTTPS_PORT" = "443" ]; then echo "https://$PUBLIC_HOST"; else echo "https://$PUBLIC_HOST:$HTTPS_PORT"; fi
}

write_admin_env() {
  ( umask 077
    cat > "$STATE/admin.env" <<ENV
# Mislata on this machine: gateway URL and bootstrap credentials (keep this file private).
QAPI_URL=$(public_url)
QAPI_CA_CERT=$STATE/tls/cert.pem
QAPI_ADMIN_EMAIL=$QAPI_ADMIN_EMAIL
QAPI_ADMIN_PASSWORD=$QAPI_ADMIN_PASSWORD
QAPI_BOOTSTRAP_CLIENT_ID=$QAPI_BOOTSTRAP_CLIENT_ID
QAPI_BOOTSTRAP_CLIENT_SECRET=$QAPI_BOOTSTRAP_CLIENT_SECRET
ENV
  )
  chmod 600 "$STATE/admin.env"
}

service_env() {
  local name="$1"
  export QAPI_MASTER_KEY
  QAPI_MASTER_KEY="$(cat "$STATE/secrets/master.key")"
  if [ -f "$STATE/secrets/master.key.previous" ]; then
    export QAPI_MASTER_KEY_PREVIOUS
    QAPI_MASTER_KEY_PREVIOUS="$(cat "$STATE/secrets/master.key.previous")"
  fi
  export QAPI_POSTGRES="Host=127.0.0.1;Port=$PG_PORT;Database=mislata;Username=mislata;Password=$PG_PASSWORD;Maximum Pool Size=100"
  export QAPI_REDIS="127.0.0.1:$REDIS_PORT,password=$REDIS_PASSWORD"
  export QAPI_PUBLIC_URL
  QAPI_PUBLIC_URL="$(public_url)"
  export QAPI_IDENTITY_URL="http://127.0.0.1:$IDENTITY_PORT"
  export QAPI_ADMIN_EMAIL QAPI_ADMIN_PASSWORD QAPI_BOOTSTRAP_CLIENT_ID QAPI_BOOTSTRAP_CLIENT_SECRET
  export ASPNETCORE_URLS="http://127.0.0.1:$(port_of "$name")"
  export DOTNET_ENVIRONMENT="${DOTNET_ENVIRONMENT:-Production}" ASPNETCORE_ENVIRONMENT="${ASPNETCORE_ENVIRONMENT:-Production}"
  export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
}

build() {
  info "Building ($CONFIGURATION)…"
  export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
  dotnet build "$ROOT/Mislata.slnx" -c "$CONFIGURATION" -v quiet -nologo > "$STATE/build.log" 2>&1 \
    || { tail -40 "$STATE/build.log" >&2; die "build failed (full log: $STATE/build.log)"; }
}

wait_healthy() {
  local deadline=$((SECONDS + ${MISLATA_START_TIMEOUT:-180})) code
  while [ $SECONDS -lt $deadline ]; do
    code="$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$HTTPS_PORT/health" || true)"
    [ "$code" = "200" ] && return 0
    for s in "${SERVICES[@]}"; do
      if [ -f "$STATE/run/$s.pid" ] && ! kill -0 "$(cat "$STATE/run/$s.pid")" 2>/dev/null; then
        tail -20 "$STATE/logs/$s.log" >&2
        die "$s exited during start-up (log: $STATE/logs/$s.log)"
      fi
    done
    sleep 1
  done
  curl -sk "https://127.0.0.1:$HTTPS_PORT/health" >&2 || true
  die "the stack did not become healthy in time (logs: $STATE/logs/)"
}

start() {
  command -v dotnet >/dev/null 2>&1 || die "the .NET SDK (dotnet) is required"
  mkdir -p "$STATE/logs" "$STATE/run"
  "$STACK" packages
  ensure_secrets
  "$STACK" pg-init "$STATE/postgres" "$PG_PORT" "$PG_PASSWORD"
  "$STACK" pg-start "$STATE/postgres"
  PGPASSWORD="$PG_PASSWORD" psql -h 127.0.0.1 -p "$PG_PORT" -U mislata -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='mislata'" | grep -q 1 \
    || PGPASSWORD="$PG_PASSWORD" psql -h 127.0.0.1 -p "$PG_PORT" -U mislata -d postgres -qc "CREATE DATABASE mislata" >/dev/null
  "$STACK" redis-start "$STATE/redis" "$REDIS_PORT" "$REDIS_PASSWORD"
  "$STACK" tls-cert "$STATE/tls"
  build
  for s in "${SERVICES[@]}"; do
    ( service_env "$s"; "$STACK" service-start "$s" "$(dll_of "$s")" "$STATE/logs/$s.log" "$STATE/run/$s.pid" )
  done
  "$STACK" nginx-render "$STATE/nginx" "$HTTP_PORT" "$HTTPS_PORT" "$HTTPS_PORT" \
    "127.0.0.1:$IDENTITY_PORT" "127.0.0.1:$API_PORT" "127.0.0.1:$WORKER_PORT" "$STATE/tls/cert.pem" "$STATE/tls/key.pem"
  "$STACK" nginx-start "$STATE/nginx"
  info "Waiting for the services to become healthy…"
  wait_healthy
  write_admin_env
  local url
  url="$(public_url)"
  cat <<MSG

Mislata is running.

  Gateway      $url   (HTTP on :$HTTP_PORT redirects to HTTPS; the certificate is self-signed: $STATE/tls/cert.pem)
  Admin        $QAPI_ADMIN_EMAIL / $QAPI_ADMIN_PASSWORD
  Operator     client_id=$QAPI_BOOTSTRAP_CLIENT_ID client_secret=$QAPI_BOOTSTRAP_CLIENT_SECRET
  Credentials  $STATE/admin.env (mode 600)

Try:
  . $STATE/admin.env
  curl --cacert \$QAPI_CA_CERT \$QAPI_URL/health
  TOKEN=\$(curl -s --cacert \$QAPI_CA_CERT -d grant_type=client_credentials -d client_id=\$QAPI_BOOTSTRAP_CLIENT_ID \\
    -d client_secret=\$QAPI_BOOTSTRAP_CLIENT_SECRET \$QAPI_URL/connect/token | sed -nE 's/.*"access_token": *"([^"]+)".*/\\1/p')
  curl --cacert \$QAPI_CA_CERT -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
    -d '{"name":"acme"}' \$QAPI_URL/api/v1/admin/tenants

./run.sh status | ./run.sh logs [service] | ./run.sh stop
MSG
}

stop() {
  [ -d "$STATE" ] || { info "Nothing to stop."; return 0; }
  "$STACK" nginx-stop "$STATE/nginx"
  for s in worker api identity; do "$STACK" service-stop "$STATE/run/$s.pid"; done
  "$STACK" redis-stop "$STATE/redis"
  "$STACK" pg-stop "$STATE/postgres"
  info "Mislata stopped (data kept in $STATE)."
}

status() {
  local s pid
  for s in "${SERVICES[@]}"; do
    pid="$(cat "$STATE/run/$s.pid" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then info "$s: running (pid $pid)"; else info "$s: stopped"; fi
  done
  pid="$(cat "$STATE/nginx/run/nginx.pid" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then info "gateway: running (pid $pid)"; else info "gateway: stopped"; fi
  pid="$(cat "$STATE/redis/redis.pid" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then info "redis: running (pid $pid)"; else info "redis: stopped"; fi
  pid="$(head -1 "$STATE/postgres/data/postmaster.pid" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then info "postgres: running (pid $pid)"; else info "postgres: stopped"; fi
  info "health: $(curl -sk "https://127.0.0.1:$HTTPS_PORT/health" 2>/dev/null || echo 'gateway not answering')"
}

logs() {
  local which="${1:-}"
  case "$which" in
    identity|api|worker) tail -n 200 -f "$STATE/logs/$which.log" ;;
    gateway) tail -n 200 -f "$STATE/nginx/logs/access.log" "$STATE/nginx/logs/error.log" ;;
    postgres) tail -n 200 -f "$STATE/postgres/postgres.log" ;;
    redis) tail -n 200 -f "$STATE/redis/redis.log" ;;
    "") tail -n 50 -f "$STATE"/logs/*.log ;;
    *) die "unknown service '$which' (identity, api, worker, gateway, postgres, redis)" ;;
  esac
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) status ;;
  logs) shift; logs "${1:-}" ;;
  *) die "usage: ./run.sh [start|stop|restart|status|logs [service]]" ;;
esac
