#!/bin/sh
# Entry point of the redis container: renders Mislata's ACL users (deploy/redis/users.conf.template, mounted at
# /etc/mislata/users.conf.template) into /run/mislata/users.conf with the SHA-256 of each password — no password in
# a file it writes or on a command line — then hands over to the image's entry point, which drops root before it
# starts redis-server (the command, which includes that file). Each password comes from the Docker secret named by
# MISLATA_REDIS_*_PASSWORD_FILE (install.sh writes them) or from MISLATA_REDIS_*_PASSWORD; the operator's (the
# default user) also from REDISCLI_AUTH.
set -eu

# secret <variable>: the variable's value, or the content of the file <variable>_FILE names.
secret() {
  eval "value=\${$1:-}; file=\${$1_FILE:-}"
  if [ -n "$file" ]; then
    [ -z "$value" ] || { echo "redis-entrypoint: both $1 and $1_FILE are set" >&2; exit 1; }
    [ -r "$file" ] || { echo "redis-entrypoint: cannot read $1_FILE ($file)" >&2; exit 1; }
    value="$(cat "$file")"
  fi
  [ -n "$value" ] || { echo "redis-entrypoint: $1 (or $1_FILE) is not set" >&2; exit 1; }
  printf '%s' "$value"
}
sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

if [ -z "${MISLATA_REDIS_PASSWORD:-}" ] && [ -z "${MISLATA_REDIS_PASSWORD_FILE:-}" ] && [ -n "${REDISCLI_AUTH:-}" ]; then
  MISLATA_REDIS_PASSWORD="$REDISCLI_AUTH"
fi
# One assignment per secret: a failing $(secret …) then stops the script (set -e).
password="$(secret MISLATA_REDIS_PASSWORD)"; default_hash="$(sha256 "$password")"
password="$(secret MISLATA_REDIS_IDENTITY_PASSWORD)"; identity_hash="$(sha256 "$password")"
password="$(secret MISLATA_REDIS_API_PASSWORD)"; api_hash="$(sha256 "$password")"
password="$(secret MISLATA_REDIS_WORKER_PASSWORD)"; worker_hash="$(sha256 "$password")"
unset password
umask 077
mkdir -p /run/mislata
sed -e "s/@DEFAULT_HASH@/$default_hash/" \
    -e "s/@IDENTITY_HASH@/$identity_hash/" \
    -e "s/@API_HASH@/$api_hash/" \
    -e "s/@WORKER_HASH@/$worker_hash/" \
    /etc/mislata/users.conf.template > /run/mislata/users.conf
if [ "$(id -u)" = 0 ]; then chown -R redis:redis /run/mislata; fi
exec docker-entrypoint.sh "$@"
