#!/usr/bin/env bash
# Every test of Mislata: builds, starts a throw-away PostgreSQL cluster (and the tests start their own Redis, nginx
# and service processes) on free ports under .test-state/ — never touching run.sh's .state/ — runs the unit,
# integration and end-to-end tests and the compose lint, stops everything on any exit, and ends with
# "N passed, N failed, N skipped".
#
#   ./test.sh                      everything
#   ./test.sh --filter EXPR        passes a dotnet test filter (e.g. FullyQualifiedName~Crypto)
#   MISLATA_TEST_PROJECTS="tests/A tests/B" ./test.sh   only these test projects
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STACK="$ROOT/scripts/stack.sh"
CONFIGURATION="${MISLATA_CONFIGURATION:-Release}"
RUN_ID="run-$(date +%Y%m%d-%H%M%S)-$$"
export MISLATA_TEST_STATE="$ROOT/.test-state/$RUN_ID"
export MISLATA_TEST_CONFIGURATION="$CONFIGURATION"
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
RESULTS="$MISLATA_TEST_STATE/results"
FILTER=()
[ "${1:-}" = "--filter" ] && [ -n "${2:-}" ] && FILTER=(--filter "$2")

cleanup() {
  local status=$?
  # Everything this run started lives under its state folder: nginx, Redis, PostgreSQL clusters, services.
  if [ -d "$MISLATA_TEST_STATE" ]; then
    for conf in "$MISLATA_TEST_STATE"/*/nginx/nginx.conf "$MISLATA_TEST_STATE"/gateway-*/nginx/nginx.conf; do
      [ -f "$conf" ] && "$STACK" nginx-stop "$(dirname "$conf")" >/dev/null 2>&1
    done
    for dir in "$MISLATA_TEST_STATE"/redis-* "$MISLATA_TEST_STATE"/pg-*; do
      [ -d "$dir" ] || continue
      case "$dir" in
        */redis-*) "$STACK" redis-stop "$dir" >/dev/null 2>&1 ;;
        */pg-*) "$STACK" pg-stop "$dir" >/dev/null 2>&1 ;;
      esac
    done
    for pidfile in "$MISLATA_TEST_STATE"/*.pid; do
      [ -f "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2>/dev/null
    done
    pkill -9 -f "$MISLATA_TEST_STATE" 2>/dev/null
  fi
  # Keep only the last few runs' folders (logs are useful after a failure).
  ls -1dt "$ROOT"/.test-state/run-* 2>/dev/null | tail -n +4 | xargs -r rm -rf
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$RESULTS"
started=$SECONDS

echo "== Mislata tests ($RUN_ID)"
"$STACK" packages || { echo "0 passed, 1 failed"; exit 1; }

echo "== build ($CONFIGURATION)"
if ! dotnet build "$ROOT/Mislata.slnx" -c "$CONFIGURATION" -nologo -v quiet > "$MISLATA_TEST_STATE/build.log" 2>&1; then
  grep -E "error|Error" "$MISLATA_TEST_STATE/build.log" | sort -u | head -40
  echo "build failed (log: $MISLATA_TEST_STATE/build.log)"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "   built in $((SECONDS - started)) s"

echo "== shared PostgreSQL for integration tests"
export MISLATA_TEST_PG_PORT MISLATA_TEST_PG_PASSWORD
MISLATA_TEST_PG_PORT="$("$STACK" free-port)"
MISLATA_TEST_PG_PASSWORD="$(head -c 18 /dev/urandom | base64 | tr -d '\n=+/')"
# The password reaches stack.sh through its environment, never its command line (ps shows arguments).
MISLATA_PG_SUPERUSER_PASSWORD="$MISLATA_TEST_PG_PASSWORD" MISLATA_PG_FSYNC=off MISLATA_PG_SYNC_COMMIT=off \
  "$STACK" pg-init "$MISLATA_TEST_STATE/pg-shared" "$MISLATA_TEST_PG_PORT" \
  && "$STACK" pg-start "$MISLATA_TEST_STATE/pg-shared" || { echo "0 passed, 1 failed"; exit 1; }

passed=0; failed=0; skipped=0

echo "== compose lint"
if [ -x "$ROOT/deploy/compose/lint.sh" ]; then
  if "$ROOT/deploy/compose/lint.sh"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "   compose lint FAILED"; fi
fi

echo "== dotnet test"
if [ -n "${MISLATA_TEST_PROJECTS:-}" ]; then
  read -r -a targets <<< "$MISLATA_TEST_PROJECTS"
else
  targets=("$ROOT/Mislata.slnx")
fi
test_status=0
for target in "${targets[@]}"; do
  dotnet test "$target" -c "$CONFIGURATION" --no-build -nologo "${FILTER[@]}" \
    --logger "trx" --logger "console;verbosity=minimal" --results-directory "$RESULTS" \
    -- RunConfiguration.TreatNoTestsAsError=false 2>&1 | tee -a "$MISLATA_TEST_STATE/test.log" \
    | grep -vE "^\s*$|^Test run for|^VSTest version|^Starting test execution|^A total of|^Results File" || true
  [ "${PIPESTATUS[0]}" -eq 0 ] || test_status=1
done

# Counts from the TRX files, per project, and the Wycheproof vector counts the crypto tests print.
summary="$(python3 - "$RESULTS" <<'PY' 2>/dev/null || true
import sys, glob, os, re, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
tp = tf = ts = 0
for f in sorted(glob.glob(os.path.join(sys.argv[1], "**", "*.trx"), recursive=True)):
    root = ET.parse(f).getroot()
    c = root.find("t:ResultSummary/t:Counters", ns)
    if c is None: continue
    p, fl, total = int(c.get("passed", 0)), int(c.get("failed", 0)) + int(c.get("error", 0)) + int(c.get("timeout", 0)) + int(c.get("aborted", 0)), int(c.get("total", 0))
    # Skipped tests are neither passed nor failed (TRX counts them in total only).
    s = max(total - p - fl, 0)
    name = "?"
    for d in root.iterfind(".//t:UnitTest/t:TestMethod", ns):
        name = os.path.basename(d.get("codeBase", "?")).replace(".dll", ""); break
    print(f"   {name}: {p} passed, {fl} failed, {s} skipped")
    for out in root.iterfind(".//t:UnitTestResult/t:Output/t:StdOut", ns):
        for line in (out.text or "").splitlines():
            if line.startswith("wycheproof "): print("     " + line)
    tp += p; tf += fl; ts += s
print(f"TOTAL {tp} {tf} {ts}")
PY
)"
echo "== results"
echo "$summary" | grep -v '^TOTAL' || true
read -r _ tp tf ts <<< "$(echo "$summary" | grep '^TOTAL' || echo 'TOTAL 0 0 0')"
passed=$((passed + ${tp:-0})); failed=$((failed + ${tf:-0})); skipped=$((skipped + ${ts:-0}))
if [ "$test_status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "   dotnet test exited non-zero without a failed test in the results (a test host crashed?)"
  failed=$((failed + 1))
fi
echo "   time: $((SECONDS - started)) s; logs: $MISLATA_TEST_STATE"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
