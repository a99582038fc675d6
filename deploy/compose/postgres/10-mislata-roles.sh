#!/usr/bin/env bash
# Runs once, when the postgres container initialises an empty data volume (docker-entrypoint-initdb.d): creates the
# migration role mislata_owner and the services' roles mislata_identity, mislata_api, mislata_worker with
# deploy/postgres/roles.sql (mounted at /etc/mislata/roles.sql). The passwords come from the environment
# (MISLATA_PG_*_PASSWORD, from .env), never from a command line. After an upgrade of an existing installation run
# it once by hand:  docker compose exec postgres bash /docker-entrypoint-initdb.d/10-mislata-roles.sh
set -euo pipefail
psql -X -q -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-mislata}" --dbname "${POSTGRES_DB:-mislata}" -f /etc/mislata/roles.sql
