#!/bin/sh
# Mislata gateway entry point (official nginx image, also usable on any host with nginx, envsubst and openssl).
#  1. Fills in defaults for the variables deploy/nginx/nginx.conf.template names.
#  2. Builds the upstream lines from IDENTITY_UPSTREAM/API_UPSTREAM/WORKER_UPSTREAM unless
#     IDENTITY_SERVERS/API_SERVERS/WORKER_SERVERS are given verbatim.
#  3. Makes a self-signed certificate only when none is mounted at TLS_CERT/TLS_KEY.
#  4. Renders the template with an explicit variable list (nginx's own $variables survive), checks it, and
#     replaces itself with nginx in the foreground.
set -eu

log() { printf 'gateway-entrypoint: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

: "${NGINX_JS_MODULE:=/usr/lib/nginx/modules/ngx_http_js_module.so}"
: "${NGINX_WORKER_PROCESSES:=auto}"
: "${NGINX_RUN_DIR:=/tmp/mislata-gateway}"
: "${NGINX_LOG_DIR:=/var/log/nginx}"
: "${NGINX_CONF_DIR:=/etc/mislata/gateway}"
: "${GATEWAY_TEMPLATE:=$NGINX_CONF_DIR/nginx.conf.template}"
: "${GATEWAY_HTTP_PORT:=8080}"
: "${GATEWAY_HTTPS_PORT:=8443}"
: "${GATEWAY_PUBLIC_HTTPS_PORT:=443}"
: "${TLS_CERT:=/etc/mislata/tls/tls.crt}"
: "${TLS_KEY:=/etc/mislata/tls/tls.key}"
: "${GATEWAY_TLS_HOSTNAME:=localhost}"
# host:port of each service; several may be listed, comma-separated.
: "${IDENTITY_UPSTREAM:=identity:5100}"
: "${API_UPSTREAM:=api:5282}"
: "${WORKER_UPSTREAM:=worker:5300}"
# A DNS server (Docker: 127.0.0.11). When set, nginx re-resolves the service names every
# GATEWAY_UPSTREAM_RESOLVE_VALID (the `resolve` server parameter, open-source nginx >= 1.27.3), so replicas
# added or removed with `docker compose up --scale` are picked up without restarting the gateway.
# When empty, names are resolved once at start (right for a Kubernetes Service's stable ClusterIP).
: "${GATEWAY_UPSTREAM_RESOLVER:=}"
: "${GATEWAY_UPSTREAM_RESOLVE_VALID:=10s}"
: "${GATEWAY_UPSTREAM_FAIL_TIMEOUT:=5s}"
# OCSP stapling: auto = on when the certificate is CA-issued (not self-signed) and names an OCSP responder; on = the
# same but a self-signed certificate or one without a responder is an error; off = never.
: "${GATEWAY_OCSP_STAPLING:=auto}"
# The issuer chain nginx verifies OCSP responses with (default: the certificate file, which holds the full chain).
: "${GATEWAY_OCSP_TRUSTED_CERT:=}"
# DNS server for the OCSP responder's name (default: GATEWAY_UPSTREAM_RESOLVER, else the first of /etc/resolv.conf).
: "${GATEWAY_OCSP_RESOLVER:=}"
# Addresses (CIDR, comma-separated) of a load balancer or ingress controller in front of the gateway: their
# X-Forwarded-For names the client. Empty (the default): the gateway is the edge and the peer is the client.
: "${GATEWAY_REAL_IP_FROM:=}"

[ -r "$GATEWAY_TEMPLATE" ] || die "no template at $GATEWAY_TEMPLATE"
[ -r "$NGINX_CONF_DIR/health.js" ] || die "no health.js in NGINX_CONF_DIR ($NGINX_CONF_DIR)"
command -v envsubst >/dev/null 2>&1 || die "envsubst is missing (Debian package gettext-base)"

# upstream_lines <zone name> <host:port[,host:port…]>
upstream_lines() {
  zone="$1"
  list="$2"
  out=""
  if [ -n "$GATEWAY_UPSTREAM_RESOLVER" ]; then
    out="zone ${zone} 64k; resolver ${GATEWAY_UPSTREAM_RESOLVER} valid=${GATEWAY_UPSTREAM_RESOLVE_VALID} ipv6=off; "
    resolve=" resolve"
  else
    resolve=""
  fi
  old_ifs="$IFS"
  IFS=','
  for addr in $list; do
    addr="$(printf '%s' "$addr" | tr -d ' ')"
    [ -n "$addr" ] || continue
    out="${out}server ${addr}${resolve} max_fails=1 fail_timeout=${GATEWAY_UPSTREAM_FAIL_TIMEOUT}; "
  done
  IFS="$old_ifs"
  [ -n "$out" ] || die "no upstream address for $zone"
  printf '%s' "$out"
}

: "${IDENTITY_SERVERS:=$(upstream_lines identity_peers "$IDENTITY_UPSTREAM")}"
: "${API_SERVERS:=$(upstream_lines api_peers "$API_UPSTREAM")}"
: "${WORKER_SERVERS:=$(upstream_lines worker_peers "$WORKER_UPSTREAM")}"

mkdir -p "$NGINX_RUN_DIR" || die "NGINX_RUN_DIR ($NGINX_RUN_DIR) is not writable"

# A certificate mounted at TLS_CERT/TLS_KEY always wins. Otherwise a self-signed one is made next to where it
# was expected (kept across restarts when that folder is a volume), or under NGINX_RUN_DIR when that folder
# is read-only (e.g. an empty optional Kubernetes Secret), in which case it is new at every start.
if [ -s "$TLS_CERT" ] && [ -s "$TLS_KEY" ]; then
  log "using the certificate at $TLS_CERT"
else
  if [ -e "$TLS_CERT" ] || [ -e "$TLS_KEY" ]; then
    die "only one of TLS_CERT ($TLS_CERT) and TLS_KEY ($TLS_KEY) is present (or one is empty): mount both"
  fi
  command -v openssl >/dev/null 2>&1 \
    || die "no certificate at $TLS_CERT and no openssl to make one: mount a certificate and key (see deploy/compose/README.md)"
  cert_dir="$(dirname "$TLS_CERT")"
  key_dir="$(dirname "$TLS_KEY")"
  if ! { mkdir -p "$cert_dir" "$key_dir" 2>/dev/null && [ -w "$cert_dir" ] && [ -w "$key_dir" ]; }; then
    mkdir -p "$NGINX_RUN_DIR/tls"
    TLS_CERT="$NGINX_RUN_DIR/tls/tls.crt"
    TLS_KEY="$NGINX_RUN_DIR/tls/tls.key"
    log "certificate folder is read-only: the self-signed certificate goes to $NGINX_RUN_DIR/tls (new at every start)"
  fi
  log "no certificate mounted: making a self-signed one for $GATEWAY_TLS_HOSTNAME (replace it for production)"
  ( umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
      -subj "/CN=${GATEWAY_TLS_HOSTNAME}/O=Mislata (self-signed)" \
      -addext "subjectAltName=DNS:${GATEWAY_TLS_HOSTNAME},DNS:localhost,IP:127.0.0.1" \
      -keyout "$TLS_KEY" -out "$TLS_CERT" >/dev/null 2>&1 ) || die "openssl could not create a certificate"
  chmod 0644 "$TLS_CERT"
fi

# Optional pieces the template includes by glob (gateway-http-*.conf in http, gateway-tls-*.conf in the TLS server);
# a piece not written here is simply absent.
rm -f "$NGINX_RUN_DIR"/gateway-http-*.conf "$NGINX_RUN_DIR"/gateway-tls-*.conf

self_signed() {
  [ "$(openssl x509 -in "$1" -noout -subject 2>/dev/null | sed 's/^subject=//')" = \
    "$(openssl x509 -in "$1" -noout -issuer 2>/dev/null | sed 's/^issuer=//')" ]
}

case "$GATEWAY_OCSP_STAPLING" in
  auto|on|off) ;;
  *) die "GATEWAY_OCSP_STAPLING must be auto, on or off (got '$GATEWAY_OCSP_STAPLING')" ;;
esac
if [ "$GATEWAY_OCSP_STAPLING" != off ]; then
  ocsp_uri=""
  command -v openssl >/dev/null 2>&1 && ocsp_uri="$(openssl x509 -in "$TLS_CERT" -noout -ocsp_uri 2>/dev/null | head -n 1)"
  if self_signed "$TLS_CERT"; then
    [ "$GATEWAY_OCSP_STAPLING" = auto ] || die "GATEWAY_OCSP_STAPLING=on but $TLS_CERT is self-signed (nothing to staple)"
    log "self-signed certificate: no OCSP stapling"
  elif [ -z "$ocsp_uri" ]; then
    [ "$GATEWAY_OCSP_STAPLING" = auto ] || die "GATEWAY_OCSP_STAPLING=on but $TLS_CERT names no OCSP responder"
    log "the certificate names no OCSP responder: no OCSP stapling"
  else
    resolver="${GATEWAY_OCSP_RESOLVER:-$GATEWAY_UPSTREAM_RESOLVER}"
    if [ -z "$resolver" ] && [ -r /etc/resolv.conf ]; then
      resolver="$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf)"
    fi
    [ -n "$resolver" ] || die "OCSP stapling needs a DNS resolver: set GATEWAY_OCSP_RESOLVER"
    case "$resolver" in *:*:*) resolver="[$resolver]" ;; esac
    trusted="${GATEWAY_OCSP_TRUSTED_CERT:-$TLS_CERT}"
    {
      echo "# Written by gateway-entrypoint.sh: OCSP stapling for $TLS_CERT (responder $ocsp_uri)."
      echo "ssl_stapling on;"
      echo "ssl_stapling_verify on;"
      echo "ssl_trusted_certificate $trusted;"
      echo "resolver $resolver valid=300s;"
      echo "resolver_timeout 5s;"
    } > "$NGINX_RUN_DIR/gateway-tls-ocsp.conf"
    log "OCSP stapling on (responder $ocsp_uri, resolver $resolver)"
  fi
fi

if [ -n "$GATEWAY_REAL_IP_FROM" ]; then
  {
    echo "# Written by gateway-entrypoint.sh: the client address from X-Forwarded-For set by these proxies only."
    old_ifs="$IFS"; IFS=','
    for cidr in $GATEWAY_REAL_IP_FROM; do
      cidr="$(printf '%s' "$cidr" | tr -d ' ')"
      [ -n "$cidr" ] || continue
      printf '%s' "$cidr" | grep -Eq '^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$' || die "GATEWAY_REAL_IP_FROM has an entry that is not an address or CIDR: $cidr"
      echo "set_real_ip_from $cidr;"
    done
    IFS="$old_ifs"
    echo "real_ip_header X-Forwarded-For;"
    echo "real_ip_recursive on;"
  } > "$NGINX_RUN_DIR/gateway-http-real-ip.conf"
  log "client addresses taken from X-Forwarded-For of $GATEWAY_REAL_IP_FROM"
fi

export NGINX_JS_MODULE NGINX_WORKER_PROCESSES NGINX_RUN_DIR NGINX_LOG_DIR NGINX_CONF_DIR \
  GATEWAY_HTTP_PORT GATEWAY_HTTPS_PORT GATEWAY_PUBLIC_HTTPS_PORT \
  IDENTITY_SERVERS API_SERVERS WORKER_SERVERS TLS_CERT TLS_KEY

conf="$NGINX_RUN_DIR/nginx.conf"
# shellcheck disable=SC2016 # the variable names are for envsubst, not for the shell
envsubst '${NGINX_JS_MODULE} ${NGINX_WORKER_PROCESSES} ${NGINX_RUN_DIR} ${NGINX_LOG_DIR} ${NGINX_CONF_DIR} ${GATEWAY_HTTP_PORT} ${GATEWAY_HTTPS_PORT} ${GATEWAY_PUBLIC_HTTPS_PORT} ${IDENTITY_SERVERS} ${API_SERVERS} ${WORKER_SERVERS} ${TLS_CERT} ${TLS_KEY}' \
  < "$GATEWAY_TEMPLATE" > "$conf"

nginx -t -q -c "$conf" || die "nginx rejected the rendered configuration ($conf)"

exec nginx -c "$conf" -g 'daemon off;'
