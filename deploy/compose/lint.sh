#!/usr/bin/env bash
# Lints docker-compose.yml with the pinned Docker Compose Linter (dclint, tools/package-lock.json).
# Prints "compose lint: passed" or dclint's findings; exits non-zero on any error or warning.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS="$HERE/tools"
DCLINT="$TOOLS/node_modules/.bin/dclint"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

command -v node >/dev/null 2>&1 || { echo "compose lint: node is not installed (Node.js >= 20.19)" >&2; exit 2; }

# Install (again) only when the tools are missing or the lock file changed since the last install.
if [ ! -x "$DCLINT" ] || [ "$TOOLS/package-lock.json" -nt "$TOOLS/node_modules/.package-lock.json" ]; then
  if ! out="$(npm ci --prefix "$TOOLS" --no-audit --no-fund --loglevel=error 2>&1)"; then
    printf '%s\n' "$out" >&2
    echo "compose lint: could not install dclint (npm ci failed)" >&2
    exit 2
  fi
fi

status=0
out="$("$DCLINT" "$HERE/docker-compose.yml" --config "$HERE/.dclintrc.json" --max-warnings 0 --no-color 2>&1)" || status=$?

if [ "$status" -eq 0 ]; then
  echo "compose lint: passed"
else
  printf '%s\n' "$out"
  echo "compose lint: FAILED (dclint exit code $status)"
  exit 1
fi
