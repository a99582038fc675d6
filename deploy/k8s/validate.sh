#!/usr/bin/env bash
# Renders Kustomize overlays offline (kubectl kustomize, no cluster) and validates every object against the
# Kubernetes schemas (tools/validate.mjs, kubernetes-models pinned in tools/package-lock.json).
#   deploy/k8s/validate.sh                   # base and every overlay
#   deploy/k8s/validate.sh production dev    # some of them
# Prints one summary line per overlay ("<name>: N of N objects valid") and the invalid objects; exits 1 on any.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS="$HERE/tools"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

command -v kubectl >/dev/null 2>&1 || { echo "k8s validate: kubectl is not installed (kubectl kustomize renders the overlays)" >&2; exit 2; }
command -v node >/dev/null 2>&1 || { echo "k8s validate: node is not installed" >&2; exit 2; }

if [ ! -d "$TOOLS/node_modules/kubernetes-models" ] || [ "$TOOLS/package-lock.json" -nt "$TOOLS/node_modules/.package-lock.json" ]; then
  if ! out="$(npm ci --prefix "$TOOLS" --no-audit --no-fund --loglevel=error 2>&1)"; then
    printf '%s\n' "$out" >&2
    echo "k8s validate: could not install kubernetes-models (npm ci failed)" >&2
    exit 2
  fi
fi

if [ $# -eq 0 ]; then
  set -- base
  for dir in "$HERE"/overlays/*/; do set -- "$@" "$(basename "$dir")"; done
fi

status=0
for name in "$@"; do
  if [ "$name" = base ]; then dir="$HERE/base"; else dir="$HERE/overlays/$name"; fi
  [ -f "$dir/kustomization.yaml" ] || { echo "$name: no kustomization.yaml in $dir"; status=1; continue; }
  if ! rendered="$(kubectl kustomize "$dir" 2>&1)"; then
    printf '%s\n' "$rendered"
    echo "$name: kubectl kustomize failed"
    status=1
    continue
  fi
  if ! out="$(printf '%s\n' "$rendered" | node "$TOOLS/validate.mjs" "$name")"; then
    status=1
  fi
  printf '%s\n' "$out" | grep -v '^valid ' || true
done
exit "$status"
