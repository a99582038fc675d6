#!/usr/bin/env bash
# Mislata compose install: writes everything docker-compose.yml needs to start, once.
#
#   sudo ./install.sh --host mislata.example.com --admin-email you@example.com [--cert full-chain.pem --key key.pem]
#                     [--license mislata.lic] [--version 0.1.0] [--dir DIR] [--no-chown]
#
# Writes, next to docker-compose.yml (or into --dir):
#   .env              settings that are not secret (version, host name, subnet, admin e-mail, client id)
#   secrets/*         one file per secret (mode 0600, folder 0700), mounted by compose as Docker secrets under
#                     /run/secrets and read by the services through *_FILE variables: the master key, the password
#                     of every PostgreSQL role and Redis user, each service's connection strings, the first
#                     administrator's password, the bootstrap client secret, the gateway's certificate and key
#                     (self-signed for --host unless --cert/--key are given), and the licence (empty unless --license).
# Prints the administrator's and the bootstrap client's credentials once, and reminds to copy the master key away.
# Refuses to run over an existing install (secrets/master_key present): a new master key would make every stored
# key unreadable. Nothing here needs Docker; `docker compose up -d` is the next step.
#
# Docker bind-mounts file secrets as they are on the host, so each file must be readable by the user inside the
# container that reads it. Run as root, the script gives each file to that user (.NET services: uid 1654; PostgreSQL:
# 999; the gateway's nginx: 101; Redis reads its files as root before dropping privileges). --no-chown skips that
# (e.g. for rootless Docker, where the ownership must be mapped by hand; see README.md).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="$HERE"
HOST=""
ADMIN_EMAIL=""
CERT=""
KEY=""
LICENSE=""
VERSION="0.1.0"
CLIENT_ID="mislata-operator"
SUBNET="172.30.42.0/24"
CHOWN=auto

DOTNET_UID=1654
POSTGRES_UID=999
NGINX_UID=101

die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --host) HOST="${2:?--host needs a name}"; shift 2 ;;
    --admin-email) ADMIN_EMAIL="${2:?--admin-email needs an address}"; shift 2 ;;
    --cert) CERT="${2:?--cert needs a file}"; shift 2 ;;
    --key) KEY="${2:?--key needs a file}"; shift 2 ;;
    --license) LICENSE="${2:?--license needs a file}"; shift 2 ;;
    --version) VERSION="${2:?--version needs a value}"; shift 2 ;;
    --client-id) CLIENT_ID="${2:?--client-id needs a value}"; shift 2 ;;
    --subnet) SUBNET="${2:?--subnet needs a CIDR}"; shift 2 ;;
    --dir) DIR="${2:?--dir needs a folder}"; shift 2 ;;
    --no-chown) CHOWN=no; shift ;;
    -h|--help) usage 0 ;;
    *) printf 'install.sh: unknown argument %s\n' "$1" >&2; usage 2 ;;
  esac
done

[ -n "$HOST" ] || die "--host is required (the name clients use, e.g. mislata.example.com)"
[[ "$HOST" =~ ^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$ ]] || die "--host is not a DNS name: $HOST"
[ -n "$ADMIN_EMAIL" ] || die "--admin-email is required (the first platform administrator)"
[[ "$ADMIN_EMAIL" =~ ^[^@[:space:]]+@[^@[:space:]]+$ ]] || die "--admin-email is not an e-mail address: $ADMIN_EMAIL"
[[ "$VERSION" =~ ^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$ ]] || die "--version is not an image tag: $VERSION"
[[ "$CLIENT_ID" =~ ^[A-Za-z0-9._-]{1,100}$ ]] || die "--client-id may hold letters, digits, '.', '_' and '-' only"
[[ "$SUBNET" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$ ]] || die "--subnet is not an IPv4 CIDR: $SUBNET"
if [ -n "$CERT" ] || [ -n "$KEY" ]; then
  if [ -z "$CERT" ] || [ -z "$KEY" ]; then die "--cert and --key go together"; fi
  [ -r "$CERT" ] || die "cannot read the certificate $CERT"
  [ -r "$KEY" ] || die "cannot read the key $KEY"
fi
[ -z "$LICENSE" ] || [ -r "$LICENSE" ] || die "cannot read the licence $LICENSE"
command -v openssl >/dev/null 2>&1 || die "openssl is required"
if [ -n "$CERT" ]; then
  openssl x509 -in "$CERT" -noout 2>/dev/null || die "$CERT is not a PEM certificate"
  cert_pub="$(openssl x509 -in "$CERT" -noout -pubkey 2>/dev/null)"
  key_pub="$(openssl pkey -in "$KEY" -pubout 2>/dev/null)" || die "$KEY is not a PEM private key (without a passphrase)"
  [ "$cert_pub" = "$key_pub" ] || die "$KEY is not the key of $CERT"
  openssl x509 -in "$CERT" -noout -checkend 0 >/dev/null 2>&1 || die "$CERT has expired"
fi

if [ "$CHOWN" = auto ]; then
  if [ "$(id -u)" = 0 ]; then CHOWN=yes; else CHOWN=no; fi
fi

FINAL="$DIR/secrets"
[ ! -e "$FINAL/master_key" ] || die "$FINAL/master_key exists: Mislata is already installed here (a new master key would make every stored key unreadable). See README.md to change a password or the certificate."
[ ! -e "$DIR/.env" ] || die "$DIR/.env exists: move it away first (install.sh writes a new one)"
if [ -d "$FINAL" ] && [ -n "$(ls -A "$FINAL")" ]; then die "$FINAL is not empty: move it away first"; fi

# Everything is written into a staging folder that becomes secrets/ only when complete: a failed run leaves nothing
# half-made behind (in particular no master key that would block the next run).
umask 077
mkdir -p "$DIR"
SECRETS="$(mktemp -d "$DIR/.secrets.XXXXXX")"
trap 'rm -rf "$SECRETS"' EXIT
chmod 0700 "$SECRETS"

# write_secret <name> <owner uid> <value>  — the value goes through printf's argument, never a command line of a
# child process (printf is a shell builtin).
write_secret() {
  local file="$SECRETS/$1"
  printf '%s' "$3" > "$file"
  chmod 0600 "$file"
  if [ "$CHOWN" = yes ]; then chown "$2:$2" "$file"; fi
}

hex32() { openssl rand -hex 32; }

MASTER_KEY="$(openssl rand -base64 32)"
ADMIN_PASSWORD="Ml-$(openssl rand -hex 12)-9A"
CLIENT_SECRET="$(hex32)"
PG_SUPER="$(hex32)"; PG_OWNER="$(hex32)"; PG_IDENTITY="$(hex32)"; PG_API="$(hex32)"; PG_WORKER="$(hex32)"
RD_DEFAULT="$(hex32)"; RD_IDENTITY="$(hex32)"; RD_API="$(hex32)"; RD_WORKER="$(hex32)"

pg() { printf 'Host=postgres;Port=5432;Database=mislata;Username=%s;Password=%s' "$1" "$2"; }
rd() { printf 'redis:6379,user=%s,password=%s,abortConnect=false' "$1" "$2"; }

# The services (uid 1654).
write_secret master_key "$DOTNET_UID" "$MASTER_KEY"
write_secret master_key_previous "$DOTNET_UID" ""
write_secret postgres_migrations_url "$DOTNET_UID" "$(pg mislata_owner "$PG_OWNER")"
write_secret identity_postgres_url "$DOTNET_UID" "$(pg mislata_identity "$PG_IDENTITY")"
write_secret api_postgres_url "$DOTNET_UID" "$(pg mislata_api "$PG_API")"
write_secret worker_postgres_url "$DOTNET_UID" "$(pg mislata_worker "$PG_WORKER")"
write_secret identity_redis_url "$DOTNET_UID" "$(rd mislata-identity "$RD_IDENTITY")"
write_secret api_redis_url "$DOTNET_UID" "$(rd mislata-api "$RD_API")"
write_secret worker_redis_url "$DOTNET_UID" "$(rd mislata-worker "$RD_WORKER")"
write_secret admin_password "$DOTNET_UID" "$ADMIN_PASSWORD"
write_secret bootstrap_client_secret "$DOTNET_UID" "$CLIENT_SECRET"
# PostgreSQL (uid 999): the superuser and the roles roles.sql creates on the first start.
write_secret postgres_password "$POSTGRES_UID" "$PG_SUPER"
write_secret postgres_owner_password "$POSTGRES_UID" "$PG_OWNER"
write_secret postgres_identity_password "$POSTGRES_UID" "$PG_IDENTITY"
write_secret postgres_api_password "$POSTGRES_UID" "$PG_API"
write_secret postgres_worker_password "$POSTGRES_UID" "$PG_WORKER"
# Redis (read by its entry point as root).
write_secret redis_password 0 "$RD_DEFAULT"
write_secret redis_identity_password 0 "$RD_IDENTITY"
write_secret redis_api_password 0 "$RD_API"
write_secret redis_worker_password 0 "$RD_WORKER"
# The licence (api): empty = Community, or the one installed earlier.
write_secret license "$DOTNET_UID" ""
if [ -n "$LICENSE" ]; then cat "$LICENSE" > "$SECRETS/license"; fi

# The gateway's certificate (uid 101).
if [ -n "$CERT" ]; then
  cp "$CERT" "$SECRETS/tls_cert"
  cp "$KEY" "$SECRETS/tls_key"
  CERT_KIND="your certificate ($CERT)"
else
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
    -subj "/CN=${HOST}/O=Mislata (self-signed)" \
    -addext "subjectAltName=DNS:${HOST},DNS:localhost,IP:127.0.0.1" \
    -keyout "$SECRETS/tls_key" -out "$SECRETS/tls_cert" >/dev/null 2>&1 || die "openssl could not create a certificate"
  CERT_KIND="a self-signed certificate for $HOST (replace it for production: README.md, \"TLS certificate\")"
fi
chmod 0600 "$SECRETS/tls_cert" "$SECRETS/tls_key"
if [ "$CHOWN" = yes ]; then chown "$NGINX_UID:$NGINX_UID" "$SECRETS/tls_cert" "$SECRETS/tls_key"; fi

[ ! -d "$FINAL" ] || rmdir "$FINAL"
mv "$SECRETS" "$FINAL"
trap - EXIT
SECRETS="$FINAL"

cat > "$DIR/.env" <<EOF
# Written by install.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ). Settings only: every secret is a file in secrets/.
# Tag of the images built from this repository (docker compose build).
MISLATA_VERSION=$VERSION
# Image name prefix (e.g. registry.example.com/mislata when you push the built images to your registry).
MISLATA_IMAGE_PREFIX=mislata
# Host name clients use; QAPI_PUBLIC_URL becomes https://<this>.
MISLATA_PUBLIC_HOST=$HOST
# Subnet of the private network mislata-internal; the services trust X-Forwarded-* only from it (the gateway).
MISLATA_INTERNAL_SUBNET=$SUBNET
# The first platform administrator (password: secrets/admin_password) and the bootstrap OAuth client
# (secret: secrets/bootstrap_client_secret), created on the first start.
QAPI_ADMIN_EMAIL=$ADMIN_EMAIL
QAPI_BOOTSTRAP_CLIENT_ID=$CLIENT_ID
# Optional: quantum random number source (api, worker); empty = the built-in DRBG on OS entropy.
QAPI_QRNG_URL=
QAPI_QRNG_DEVICE=
# Optional: licence revocation server (api, worker); empty = off (air-gapped installs).
QAPI_LICENSE_SERVER=
# Optional: OpenTelemetry OTLP exporter endpoint, e.g. http://otel-collector:4317; empty = off.
QAPI_OTLP_ENDPOINT=
# Optional: OCSP stapling at the gateway: auto (on for a CA-issued certificate with an OCSP responder), on, off.
GATEWAY_OCSP_STAPLING=auto
EOF
chmod 0600 "$DIR/.env"

cat <<EOF
Mislata is configured in $DIR (settings in .env, secrets in secrets/, mode 0600).
Gateway certificate: $CERT_KIND.

Shown once — store them now:
  platform administrator   $ADMIN_EMAIL
  password                 $ADMIN_PASSWORD
  bootstrap client id      $CLIENT_ID
  bootstrap client secret  $CLIENT_SECRET

The master key is in $SECRETS/master_key. Copy it somewhere else now (password manager, HSM, sealed
envelope) and keep it apart from database backups: without it no backup can be decrypted, and a backup
together with it is all of your data in clear.

Next:  cd $HERE && docker compose build && docker compose up -d
EOF
