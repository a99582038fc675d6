#!/usr/bin/env bash
# Writes the real Secrets of a Mislata Kubernetes install to stdout (YAML), with fresh random values:
#   deploy/k8s/make-secrets.sh dev > secrets.yaml                      # in-cluster PostgreSQL and Redis
#   deploy/k8s/make-secrets.sh external-db --postgres-host db.internal --redis-host cache.internal [--redis-port 6380] \
#       [--database mislata] [--license mislata.lic] > secrets.yaml     # managed ones (production too)
#   kubectl apply -n mislata -f secrets.yaml && shred -u secrets.yaml   # or seal/encrypt it (Sealed Secrets, SOPS)
# Secrets: mislata-master-key (current, previous), mislata-licence, mislata-secrets (connection strings, admin
# password, bootstrap secret) and, for dev, mislata-data (the in-cluster data stores' passwords, the same values).
# For external-db the roles and users must be created on the managed services with these passwords: the script
# prints, on stderr, the environment to give deploy/postgres/roles.sql. It prints the administrator's password and
# the bootstrap secret once, on stderr; copy the master key (mislata-master-key/current) away from the cluster.
# Nothing secret is passed on a command line of a child process.
set -euo pipefail

die() { printf 'make-secrets.sh: %s\n' "$*" >&2; exit 1; }

KIND="${1:-}"
[ "$KIND" = dev ] || [ "$KIND" = external-db ] || [ "$KIND" = production ] || die "first argument: dev, external-db or production"
shift
PG_HOST=""; REDIS_HOST=""; REDIS_PORT=6380; DATABASE=mislata; LICENSE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --postgres-host) PG_HOST="${2:?}"; shift 2 ;;
    --redis-host) REDIS_HOST="${2:?}"; shift 2 ;;
    --redis-port) REDIS_PORT="${2:?}"; shift 2 ;;
    --database) DATABASE="${2:?}"; shift 2 ;;
    --license) LICENSE="${2:?}"; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
host_re='^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$'
if [ "$KIND" = dev ]; then
  PG_HOST=postgres; REDIS_HOST=redis; REDIS_PORT=6379; DATABASE=mislata
else
  [[ "$PG_HOST" =~ $host_re ]] || die "--postgres-host is required (a DNS name)"
  [[ "$REDIS_HOST" =~ $host_re ]] || die "--redis-host is required (a DNS name)"
fi
[[ "$REDIS_PORT" =~ ^[0-9]{1,5}$ ]] || die "--redis-port is not a port"
[[ "$DATABASE" =~ ^[a-z_][a-z0-9_]{0,40}$ ]] || die "--database: lower-case letters, digits and _ only"
[ -z "$LICENSE" ] || [ -r "$LICENSE" ] || die "cannot read the licence $LICENSE"
command -v openssl >/dev/null 2>&1 || die "openssl is required"

hex() { openssl rand -hex 32; }
MASTER_KEY="$(openssl rand -base64 32)"
ADMIN_PASSWORD="Ml-$(openssl rand -hex 12)-9A"
CLIENT_SECRET="$(hex)"
PG_SUPER="$(hex)"; PG_OWNER="$(hex)"; PG_IDENTITY="$(hex)"; PG_API="$(hex)"; PG_WORKER="$(hex)"
RD_DEFAULT="$(hex)"; RD_IDENTITY="$(hex)"; RD_API="$(hex)"; RD_WORKER="$(hex)"

if [ "$KIND" = dev ]; then
  pg_tail=""
  rd_tail=",abortConnect=false"
else
  pg_tail=";SSL Mode=VerifyFull;Root Certificate=/etc/mislata/db-ca/ca.crt"
  rd_tail=",ssl=true,sslHost=${REDIS_HOST},abortConnect=false"
fi
pg() { printf "Host=%s;Port=5432;Database=%s;Username=%s_%s;Password=%s%s" "$PG_HOST" "$DATABASE" "$DATABASE" "$1" "$2" "$pg_tail"; }
rd() { printf "%s:%s,user=mislata-%s,password=%s%s" "$REDIS_HOST" "$REDIS_PORT" "$1" "$2" "$rd_tail"; }
# YAML single-quoted scalar: the only escape is '' for '.
q() { printf "'%s'" "${1//\'/\'\'}"; }

cat <<EOF
# Written by make-secrets.sh ($KIND) on $(date -u +%Y-%m-%dT%H:%M:%SZ). Secret: apply it, then delete or encrypt this file.
apiVersion: v1
kind: Secret
metadata:
  name: mislata-master-key
  namespace: mislata
type: Opaque
stringData:
  current: $(q "$MASTER_KEY")
  previous: ''
---
apiVersion: v1
kind: Secret
metadata:
  name: mislata-licence
  namespace: mislata
type: Opaque
stringData:
EOF
if [ -n "$LICENSE" ]; then
  printf '  licence: |-\n'
  sed 's/^/    /' "$LICENSE"
  printf '\n'
else
  printf "  licence: ''\n"
fi
cat <<EOF
---
apiVersion: v1
kind: Secret
metadata:
  name: mislata-secrets
  namespace: mislata
type: Opaque
stringData:
  QAPI_POSTGRES_IDENTITY: $(q "$(pg identity "$PG_IDENTITY")")
  QAPI_POSTGRES_API: $(q "$(pg api "$PG_API")")
  QAPI_POSTGRES_WORKER: $(q "$(pg worker "$PG_WORKER")")
  QAPI_POSTGRES_MIGRATIONS: $(q "$(pg owner "$PG_OWNER")")
  QAPI_REDIS_IDENTITY: $(q "$(rd identity "$RD_IDENTITY")")
  QAPI_REDIS_API: $(q "$(rd api "$RD_API")")
  QAPI_REDIS_WORKER: $(q "$(rd worker "$RD_WORKER")")
  QAPI_ADMIN_PASSWORD: $(q "$ADMIN_PASSWORD")
  QAPI_BOOTSTRAP_CLIENT_SECRET: $(q "$CLIENT_SECRET")
EOF
if [ "$KIND" = dev ]; then
  cat <<EOF
---
apiVersion: v1
kind: Secret
metadata:
  name: mislata-data
  namespace: mislata
type: Opaque
stringData:
  postgres_password: $(q "$PG_SUPER")
  postgres_owner_password: $(q "$PG_OWNER")
  postgres_identity_password: $(q "$PG_IDENTITY")
  postgres_api_password: $(q "$PG_API")
  postgres_worker_password: $(q "$PG_WORKER")
  redis_password: $(q "$RD_DEFAULT")
  redis_identity_password: $(q "$RD_IDENTITY")
  redis_api_password: $(q "$RD_API")
  redis_worker_password: $(q "$RD_WORKER")
EOF
fi

{
  echo "Shown once — store them now:"
  echo "  platform administrator password  $ADMIN_PASSWORD   (e-mail: QAPI_ADMIN_EMAIL of mislata-config)"
  echo "  bootstrap client secret          $CLIENT_SECRET"
  if [ "$KIND" != dev ]; then
    echo "Create the roles on the managed PostgreSQL (as its administrator, database $DATABASE) with these passwords:"
    echo "  export MISLATA_PG_OWNER_PASSWORD=$PG_OWNER MISLATA_PG_IDENTITY_PASSWORD=$PG_IDENTITY \\"
    echo "         MISLATA_PG_API_PASSWORD=$PG_API MISLATA_PG_WORKER_PASSWORD=$PG_WORKER"
    echo "  psql \"host=$PG_HOST dbname=$DATABASE user=<admin> sslmode=verify-full\" -X -v ON_ERROR_STOP=1 -f deploy/postgres/roles.sql"
    echo "and the Redis ACL users of deploy/redis/users.conf.template with the passwords in QAPI_REDIS_* of mislata-secrets."
  fi
  echo "Copy the master key (Secret mislata-master-key, key current) somewhere safe outside the cluster."
} >&2
