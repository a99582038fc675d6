#!/usr/bin/env bash
# Builds the web console (src/Mislata.Console, a Vite + Preact + TypeScript single-page application) into
# src/Mislata.Console/dist, which the gateway serves at /console/. Uses the machine's Node.js (20.19 or later) and
# npm: `npm ci` from the committed lock file, then the TypeScript check and the Vite build. Does nothing when the
# build is newer than every source file.
#
#   scripts/console.sh          build when needed
#   scripts/console.sh --force  build again
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/src/Mislata.Console"
die() { printf 'console.sh: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
  || die "Node.js and npm are needed to build the web console (Node.js 20.19 or later)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || die "Node.js $(node --version) is too old to build the web console: 20.19 or later is needed"

if [ "${1:-}" != "--force" ] && [ -f "$DIR/dist/index.html" ] \
   && [ -z "$(find "$DIR/src" "$DIR/index.html" "$DIR/package.json" "$DIR/package-lock.json" "$DIR/vite.config.ts" "$DIR/tsconfig.json" \
              -newer "$DIR/dist/index.html" -print -quit)" ]; then
  exit 0
fi

cd "$DIR"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error > /dev/null || die "npm ci failed in $DIR"
fi
npm run --silent build > "$DIR/build.log" 2>&1 || { tail -30 "$DIR/build.log" >&2; die "the console build failed (log: $DIR/build.log)"; }
