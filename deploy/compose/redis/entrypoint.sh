#!/bin/sh
# Entry point of the redis container: renders Mislata's ACL users (deploy/redis/users.conf.template, mounted at
# /etc/mislata/users.conf.template) into /run/mislata/users.conf with the SHA-256 of each password from the
# environment — no password in a file or on a command line — then hands over to the image's entry point, which
# drops root before it starts redis-server (the command, which includes that file).
set -eu
: "${REDISCLI_AUTH:?the operator's password (the default user)}"
: "${MISLATA_REDIS_IDENTITY_PASSWORD:?}" "${MISLATA_REDIS_API_PASSWORD:?}" "${MISLATA_REDIS_WORKER_PASSWORD:?}"
sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
umask 077
mkdir -p /run/mislata
sed -e "s/@DEFAULT_HASH@/$(sha256 "$REDISCLI_AUTH")/" \
    -e "s/@IDENTITY_HASH@/$(sha256 "$MISLATA_REDIS_IDENTITY_PASSWORD")/" \
    -e "s/@API_HASH@/$(sha256 "$MISLATA_REDIS_API_PASSWORD")/" \
    -e "s/@WORKER_HASH@/$(sha256 "$MISLATA_REDIS_WORKER_PASSWORD")/" \
    /etc/mislata/users.conf.template > /run/mislata/users.conf
if [ "$(id -u)" = 0 ]; then chown -R redis:redis /run/mislata; fi
exec docker-entrypoint.sh "$@"
