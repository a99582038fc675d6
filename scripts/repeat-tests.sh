#!/usr/bin/env bash
# Issue 9's "ten consecutive ./test.sh runs are green": runs ./test.sh N times in a row (default 10) on this
# checkout, unchanged between runs, and keeps for each run its exit code, time, counts and the names of failed
# tests. Writes bench/results/repeat-<UTC time>.md (and prints it). Exit code 0 only when every run was green.
#
#   scripts/repeat-tests.sh [RUNS] [-- extra ./test.sh arguments]
#
# Nothing is retried or skipped: a run that fails is reported as failed with its failing tests, and the next run
# starts from scratch (./test.sh builds once per run and starts its own PostgreSQL, Redis and nginx).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS=10
if [ $# -gt 0 ] && [ "$1" != "--" ]; then RUNS="$1"; shift; fi
[ "${1:-}" = "--" ] && shift
case "$RUNS" in ''|*[!0-9]*) echo "usage: $0 [RUNS] [-- test.sh arguments]" >&2; exit 2 ;; esac

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT_DIR="$ROOT/.state/repeat-$STAMP"
REPORT="$ROOT/bench/results/repeat-$STAMP.md"
mkdir -p "$OUT_DIR" "$ROOT/bench/results"
COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
DIRTY="$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | wc -l)"

rows=()
green=0
for run in $(seq 1 "$RUNS"); do
  log="$OUT_DIR/run-$run.log"
  echo "== run $run of $RUNS ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
  start=$SECONDS
  (cd "$ROOT" && ./test.sh "$@") > "$log" 2>&1
  rc=$?
  took=$((SECONDS - start))
  counts="$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -1)"
  [ -n "$counts" ] || counts="no summary line"
  # Failed tests as the console logger names them ("Failed Name [time]"), and every reason the summary gave.
  failures="$(grep -hE '^\s+Failed [^ ]' "$log" | sed -E 's/^\s+Failed //; s/ \[[^]]*\]$//' | sort -u | head -20 | paste -sd ';' -)"
  reasons="$(grep -hE '^\s+FAILED: ' "$log" | sed -E 's/^\s+FAILED: //' | sort -u | head -5 | paste -sd ';' -)"
  [ "$rc" -eq 0 ] && green=$((green + 1))
  verdict=$([ "$rc" -eq 0 ] && echo green || echo "**red**")
  rows+=("| $run | $verdict | $rc | $took | $counts | ${failures:-–} ${reasons:+($reasons)} |")
  echo "   exit $rc after $took s: $counts${failures:+; failed: $failures}"
done

{
  echo "# $RUNS consecutive ./test.sh runs — $STAMP"
  echo
  echo "Commit \`$COMMIT\`$([ "$DIRTY" -gt 0 ] && echo " with $DIRTY modified tracked files"); $(nproc) cores; load at the end $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Logs of each run: \`.state/repeat-$STAMP/\` (not committed)."
  echo
  echo "| run | verdict | exit code | seconds | counts | failed tests |"
  echo "|---:|---|---:|---:|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "**$green of $RUNS runs green.**"
} > "$REPORT"
cat "$REPORT"
[ "$green" -eq "$RUNS" ]
