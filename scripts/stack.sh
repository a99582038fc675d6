#!/usr/bin/env bash
# Process-level building blocks shared by run.sh, test.sh and the end-to-end test fixtures: a private PostgreSQL
# cluster, a Redis server, the nginx gateway and the three .NET services, each living in a state folder.
#
#   stack.sh packages                                  install postgresql, redis-server, nginx (+njs) and the tools
#                                                      the scripts use (openssl, envsubst, curl, python3, pkill) when missing
#   stack.sh pg-init   DIR PORT                        create a cluster (superuser "mislata", scram, 127.0.0.1 only)
#   stack.sh pg-start  DIR | pg-stop DIR
#   stack.sh pg-roles  PORT DATABASE                   create DATABASE if missing and its roles (deploy/postgres/roles.sql):
#                                                      DATABASE_owner (migrations) and DATABASE_{identity,api,worker}
#   stack.sh pg-dump PORT DATABASE FILE                pg_dump -Fc of DATABASE (every schema) as the superuser
#   stack.sh pg-restore PORT DATABASE FILE             pg_restore --clean --if-exists, one transaction, stop on error
#   stack.sh pg-sql PORT DATABASE                      the SQL on stdin, rows on stdout (unaligned, tuples only)
#   stack.sh redis-start DIR PORT | redis-stop DIR     with the ACL users of deploy/redis/users.conf.template
#   stack.sh tls-cert  DIR                             self-signed cert for localhost (DIR/cert.pem, DIR/key.pem)
#   stack.sh nginx-render DIR HTTP HTTPS PUBLIC_HTTPS IDENTITY_ADDRS API_ADDRS WORKER_ADDRS CERT KEY
#                                                      ADDRS: comma-separated host:port lists
#   stack.sh nginx-start DIR | nginx-stop DIR
#   stack.sh service-start NAME DLL LOGFILE PIDFILE    (environment comes from the caller) | service-stop PIDFILE
#   stack.sh free-port                                 print a free TCP port on 127.0.0.1
#
# Passwords never go on a command line (ps shows every process's arguments): they come from the environment.
#   pg-init, pg-roles, pg-dump, pg-restore, pg-sql   MISLATA_PG_SUPERUSER_PASSWORD
#   pg-roles            MISLATA_PG_OWNER_PASSWORD, MISLATA_PG_IDENTITY_PASSWORD, MISLATA_PG_API_PASSWORD,
#                       MISLATA_PG_WORKER_PASSWORD
#   redis-start         MISLATA_REDIS_PASSWORD (the operator: Redis's default user), and MISLATA_REDIS_IDENTITY_PASSWORD,
#                       MISLATA_REDIS_API_PASSWORD, MISLATA_REDIS_WORKER_PASSWORD (the services' users; when none is
#                       set, only the default user exists)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '%s\n' "$*" >&2; }
die() { log "stack: $*"; exit 1; }

# The value of the environment variable named $1, or a one-line error naming it.
required_env() {
  local value="${!1:-}"
  [ -n "$value" ] || die "$1 is not set"
  printf '%s' "$value"
}

as_root() { [ "$(id -u)" -eq 0 ]; }

pg_bin() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$dir/initdb" ] && { echo "$dir"; return; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return; }
  die "PostgreSQL server binaries not found (install the postgresql package)"
}

# Runs a PostgreSQL binary as the owner of the cluster: initdb and postgres refuse to run as root.
as_pg() {
  if as_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd_packages() {
  local missing=()
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v nginx >/dev/null 2>&1 || missing+=(nginx)
  [ -f /usr/lib/nginx/modules/ngx_http_js_module.so ] || missing+=(libnginx-mod-http-js)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v envsubst >/dev/null 2>&1 || missing+=(gettext-base)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  command -v pkill >/dev/null 2>&1 || missing+=(procps)
  # The test suite drives the web console in a real headless Chromium (Debian's package).
  if [ "${MISLATA_WITH_BROWSER:-}" = 1 ]; then command -v chromium >/dev/null 2>&1 || missing+=(chromium); fi
  [ ${#missing[@]} -eq 0 ] && return 0
  log "Installing from the distribution's packages: ${missing[*]}"
  local sudo=""
  as_root || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d keeps the packages' own services from starting: Mislata runs its own instances.
  if as_root && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' RETURN
  fi
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

cmd_pg_init() {
  local dir="$1" port="$2" password bin
  bin="$(pg_bin)"
  [ -f "$dir/data/PG_VERSION" ] && return 0
  password="$(required_env MISLATA_PG_SUPERUSER_PASSWORD)"
  mkdir -p "$dir/data" "$dir/run"
  chmod 700 "$dir/data"
  local pwfile="$dir/.pwfile"
  ( umask 077; printf '%s\n' "$password" > "$pwfile" )
  if as_root; then
    chown -R postgres:postgres "$dir"
    # The cluster owner must be able to reach its folder.
    local parent="$dir"
    while parent="$(dirname "$parent")"; [ "$parent" != "/" ]; do chmod o+x "$parent" 2>/dev/null || true; done
  fi
  as_pg "$bin/initdb" -D "$dir/data" -U mislata --pwfile="$pwfile" --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  rm -f "$pwfile"
  cat >> "$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/run'
max_connections = 300
shared_buffers = 128MB
fsync = ${MISLATA_PG_FSYNC:-on}
synchronous_commit = ${MISLATA_PG_SYNC_COMMIT:-on}
logging_collector = off
CONF
}

cmd_pg_start() {
  local dir="$1" bin
  bin="$(pg_bin)"
  [ -f "$dir/data/PG_VERSION" ] || die "no cluster in $dir"
  if as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then return 0; fi
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null \
    || { tail -20 "$dir/postgres.log" >&2; die "PostgreSQL did not start"; }
}

cmd_pg_stop() {
  local dir="$1" bin
  bin="$(pg_bin)"
  [ -f "$dir/data/PG_VERSION" ] || return 0
  as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

# Database DATABASE (created if missing) and its roles, as the cluster's superuser over TCP on 127.0.0.1:PORT.
cmd_pg_roles() {
  local port="$1" database="$2" bin
  bin="$(pg_bin)"
  [[ "$database" =~ ^[a-z_][a-z0-9_]{0,50}$ ]] || die "pg-roles: '$database' is not a plain lower-case database name"
  export PGPASSWORD
  PGPASSWORD="$(required_env MISLATA_PG_SUPERUSER_PASSWORD)"
  local psql=("$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U mislata -v ON_ERROR_STOP=1)
  if [ "$("${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$database'")" != "1" ]; then
    "${psql[@]}" -d postgres -c "CREATE DATABASE \"$database\"" >/dev/null
  fi
  local name
  for name in MISLATA_PG_OWNER_PASSWORD MISLATA_PG_IDENTITY_PASSWORD MISLATA_PG_API_PASSWORD MISLATA_PG_WORKER_PASSWORD; do
    required_env "$name" >/dev/null
  done
  "${psql[@]}" -d "$database" -f "$ROOT/deploy/postgres/roles.sql" >/dev/null
}

cmd_pg_dump() {
  local port="$1" database="$2" file="$3" bin
  bin="$(pg_bin)"
  PGPASSWORD="$(required_env MISLATA_PG_SUPERUSER_PASSWORD)" \
    "$bin/pg_dump" -h 127.0.0.1 -p "$port" -U mislata -d "$database" --format=custom --file="$file" \
    || die "pg_dump of $database failed"
}

cmd_pg_restore() {
  local port="$1" database="$2" file="$3" bin
  bin="$(pg_bin)"
  PGPASSWORD="$(required_env MISLATA_PG_SUPERUSER_PASSWORD)" \
    "$bin/pg_restore" -h 127.0.0.1 -p "$port" -U mislata -d "$database" --clean --if-exists --single-transaction \
    --exit-on-error "$file" || die "pg_restore into $database failed (nothing was changed: one transaction)"
}

cmd_pg_sql() {
  local port="$1" database="$2" bin
  bin="$(pg_bin)"
  PGPASSWORD="$(required_env MISLATA_PG_SUPERUSER_PASSWORD)" \
    "$bin/psql" -X -q -tA -h 127.0.0.1 -p "$port" -U mislata -d "$database" -v ON_ERROR_STOP=1 -f -
}

# SHA-256 (hex) of the value of the environment variable named $1: Redis ACL "#<hash>" passwords.
env_sha256() {
  printf '%s' "${!1}" | sha256sum | cut -d' ' -f1
}

cmd_redis_start() {
  local dir="$1" port="$2" password
  password="$(required_env MISLATA_REDIS_PASSWORD)"
  mkdir -p "$dir"
  if [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then return 0; fi
  ( umask 077
    cat > "$dir/redis.conf" <<CONF
bind 127.0.0.1
port $port
protected-mode yes
daemonize yes
pidfile $dir/redis.pid
logfile $dir/redis.log
dir $dir
appendonly ${MISLATA_REDIS_AOF:-yes}
save ""
CONF
    if [ -n "${MISLATA_REDIS_IDENTITY_PASSWORD:-}${MISLATA_REDIS_API_PASSWORD:-}${MISLATA_REDIS_WORKER_PASSWORD:-}" ]; then
      required_env MISLATA_REDIS_IDENTITY_PASSWORD >/dev/null
      required_env MISLATA_REDIS_API_PASSWORD >/dev/null
      required_env MISLATA_REDIS_WORKER_PASSWORD >/dev/null
      sed -e "s/@DEFAULT_HASH@/$(env_sha256 MISLATA_REDIS_PASSWORD)/" \
          -e "s/@IDENTITY_HASH@/$(env_sha256 MISLATA_REDIS_IDENTITY_PASSWORD)/" \
          -e "s/@API_HASH@/$(env_sha256 MISLATA_REDIS_API_PASSWORD)/" \
          -e "s/@WORKER_HASH@/$(env_sha256 MISLATA_REDIS_WORKER_PASSWORD)/" \
          "$ROOT/deploy/redis/users.conf.template" >> "$dir/redis.conf"
    else
      printf 'user default reset on #%s ~* &* +@all\n' "$(env_sha256 MISLATA_REDIS_PASSWORD)" >> "$dir/redis.conf"
    fi
  )
  local logged=0
  [ -f "$dir/redis.log" ] && logged="$(stat -c %s "$dir/redis.log")"
  redis-server "$dir/redis.conf"
  local i
  for i in $(seq 1 100); do
    # Another process holds the port: say so at once (the callers retry on another port).
    tail -c +$((logged + 1)) "$dir/redis.log" 2>/dev/null | grep -q "Address already in use" \
      && { tail -5 "$dir/redis.log" >&2; die "Redis could not bind port $port"; }
    REDISCLI_AUTH="$password" timeout 5 redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.1
  done
  tail -20 "$dir/redis.log" >&2
  die "Redis did not start"
}

cmd_redis_stop() {
  local dir="$1" pid
  [ -f "$dir/redis.pid" ] || return 0
  pid="$(cat "$dir/redis.pid")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/redis.pid"
}

cmd_tls_cert() {
  local dir="$1"
  [ -f "$dir/cert.pem" ] && [ -f "$dir/key.pem" ] && return 0
  mkdir -p "$dir"
  ( umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
      -subj "/CN=localhost/O=Mislata (self-signed)" \
      -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
      -keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1 ) || die "openssl could not create a certificate"
  chmod 644 "$dir/cert.pem"
}

servers() {
  local list="$1" out="" addr
  IFS=',' read -r -a addrs <<< "$list"
  for addr in "${addrs[@]}"; do out+="server $addr max_fails=1 fail_timeout=3s; "; done
  printf '%s' "$out"
}

cmd_nginx_render() {
  local dir="$1"
  mkdir -p "$dir/run" "$dir/logs"
  export GATEWAY_HTTP_PORT="$2" GATEWAY_HTTPS_PORT="$3" GATEWAY_PUBLIC_HTTPS_PORT="$4"
  export IDENTITY_SERVERS API_SERVERS WORKER_SERVERS
  IDENTITY_SERVERS="$(servers "$5")"; API_SERVERS="$(servers "$6")"; WORKER_SERVERS="$(servers "$7")"
  export TLS_CERT="$8" TLS_KEY="$9"
  export NGINX_JS_MODULE="${NGINX_JS_MODULE:-/usr/lib/nginx/modules/ngx_http_js_module.so}"
  export NGINX_WORKER_PROCESSES="${NGINX_WORKER_PROCESSES:-auto}"
  export NGINX_RUN_DIR="$dir/run" NGINX_LOG_DIR="$dir/logs" NGINX_CONF_DIR="$dir"
  cp "$ROOT/deploy/nginx/health.js" "$dir/health.js"
  # The web console's static files (built by scripts/console.sh); without a build, /console/ answers 404.
  rm -rf "$dir/www"
  mkdir -p "$dir/www"
  if [ -f "$ROOT/src/Mislata.Console/dist/index.html" ]; then cp -R "$ROOT/src/Mislata.Console/dist" "$dir/www/console"; fi
  envsubst '${NGINX_JS_MODULE} ${NGINX_WORKER_PROCESSES} ${NGINX_RUN_DIR} ${NGINX_LOG_DIR} ${NGINX_CONF_DIR} ${GATEWAY_HTTP_PORT} ${GATEWAY_HTTPS_PORT} ${GATEWAY_PUBLIC_HTTPS_PORT} ${IDENTITY_SERVERS} ${API_SERVERS} ${WORKER_SERVERS} ${TLS_CERT} ${TLS_KEY}' \
    < "$ROOT/deploy/nginx/nginx.conf.template" > "$dir/nginx.conf"
  # nginx's workers run unprivileged when the master is root: they need to read the config folder.
  chmod -R a+rX "$dir"
  nginx -t -q -p "$dir" -c "$dir/nginx.conf" || die "nginx rejected the rendered configuration"
}

cmd_nginx_start() {
  local dir="$1"
  if [ -f "$dir/run/nginx.pid" ] && kill -0 "$(cat "$dir/run/nginx.pid")" 2>/dev/null; then
    nginx -p "$dir" -c "$dir/nginx.conf" -s reload
    return 0
  fi
  nginx -p "$dir" -c "$dir/nginx.conf" || die "nginx did not start (see $dir/logs/error.log)"
}

cmd_nginx_stop() {
  local dir="$1" pid
  [ -f "$dir/run/nginx.pid" ] || return 0
  pid="$(cat "$dir/run/nginx.pid")"
  nginx -p "$dir" -c "$dir/nginx.conf" -s quit 2>/dev/null || kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

cmd_service_start() {
  local name="$1" dll="$2" logfile="$3" pidfile="$4"
  [ -f "$dll" ] || die "$name: $dll is not built"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then return 0; fi
  mkdir -p "$(dirname "$logfile")" "$(dirname "$pidfile")"
  nohup dotnet "$dll" >>"$logfile" 2>&1 < /dev/null &
  echo $! > "$pidfile"
}

cmd_service_stop() {
  local pidfile="$1" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

cmd_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
    || { local p; while :; do p=$((20000 + RANDOM % 30000)); (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }; done; }
}

main() {
  local cmd="${1:-}"; shift || true
  # Folders are made absolute: daemons change directory before they open their files.
  case "$cmd" in
    pg-init|pg-start|pg-stop|redis-start|redis-stop|tls-cert|nginx-render|nginx-start|nginx-stop)
      [ $# -ge 1 ] || die "$cmd: missing folder"
      local first; first="$(realpath -m "$1")"; shift; set -- "$first" "$@" ;;
  esac
  case "$cmd" in
    packages) cmd_packages ;;
    pg-init) cmd_pg_init "$@" ;;
    pg-start) cmd_pg_start "$@" ;;
    pg-stop) cmd_pg_stop "$@" ;;
    pg-roles) cmd_pg_roles "$@" ;;
    pg-dump) cmd_pg_dump "$@" ;;
    pg-restore) cmd_pg_restore "$@" ;;
    pg-sql) cmd_pg_sql "$@" ;;
    redis-start) cmd_redis_start "$@" ;;
    redis-stop) cmd_redis_stop "$@" ;;
    tls-cert) cmd_tls_cert "$@" ;;
    nginx-render) cmd_nginx_render "$@" ;;
    nginx-start) cmd_nginx_start "$@" ;;
    nginx-stop) cmd_nginx_stop "$@" ;;
    service-start) cmd_service_start "$@" ;;
    service-stop) cmd_service_stop "$@" ;;
    free-port) cmd_free_port ;;
    *) die "unknown command '$cmd'" ;;
  esac
}

main "$@"
