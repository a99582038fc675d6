#!/usr/bin/env bash
# Runs once, when the postgres container initialises an empty data volume (docker-entrypoint-initdb.d): creates the
# migration role mislata_owner and the services' roles mislata_identity, mislata_api, mislata_worker with
# deploy/postgres/roles.sql (mounted at /etc/mislata/roles.sql). The passwords come from the Docker secrets named by
# MISLATA_PG_*_PASSWORD_FILE (install.sh writes them) or from MISLATA_PG_*_PASSWORD, never from a command line.
# After an upgrade of an existing installation, or to set changed passwords, run it by hand:
#   docker compose exec postgres bash /docker-entrypoint-initdb.d/10-mislata-roles.sh
set -euo pipefail
for role in OWNER IDENTITY API WORKER; do
  var="MISLATA_PG_${role}_PASSWORD"
  file_var="${var}_FILE"
  if [ -n "${!file_var:-}" ]; then
    [ -z "${!var:-}" ] || { echo "10-mislata-roles.sh: both $var and $file_var are set" >&2; exit 1; }
    [ -r "${!file_var}" ] || { echo "10-mislata-roles.sh: cannot read $file_var (${!file_var})" >&2; exit 1; }
    export "$var=$(cat "${!file_var}")"
  fi
done
psql -X -q -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-mislata}" --dbname "${POSTGRES_DB:-mislata}" -f /etc/mislata/roles.sql
