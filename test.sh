#!/usr/bin/env bash
# Every test of Mislata: builds, starts a throw-away PostgreSQL cluster (and the tests start their own Redis, nginx
# and service processes) on free ports under .test-state/ — never touching run.sh's .state/ — runs the unit,
# integration and end-to-end tests and the compose lint, stops everything on any exit, and ends with
# "N passed, N failed, N skipped".
#
#   ./test.sh                      everything
#   ./test.sh --filter EXPR        passes a dotnet test filter (e.g. FullyQualifiedName~Crypto)
#   MISLATA_TEST_PROJECTS="tests/A tests/B" ./test.sh   only these test projects
#
# It fails (non-zero exit, a "failed" count) for a failed test, a crashed or hung test host, a test project that
# did not run or left no readable result, and a run in which no test was selected. Each test project runs on its
# own with a result file of its own (.test-state/<run>/results/<project>/); MISLATA_TEST_HANG_TIMEOUT (e.g. 30s)
# overrides the projects' hang timeouts (Directory.Build.props), MISLATA_TEST_PARALLEL (2) the number of projects
# run at once; MISLATA_TEST_NO_BUILD=1 skips the build (the tests of the last build run). Each failure mode is
# planted by scripts/test-runner-selftest.sh, which checks that this script reports it.
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
case "$#:${1:-}" in
  0:) ;;
  2:--filter) [ -n "$2" ] || { echo "test.sh: --filter needs an expression"; echo "0 passed, 1 failed, 0 skipped"; exit 2; }
    FILTER=(--filter "$2") ;;
  *) echo "usage: ./test.sh [--filter EXPR]"; echo "0 passed, 1 failed, 0 skipped"; exit 2 ;;
esac

cleanup() {
  local status=$?
  # Test projects still running (interrupted run): their timeout processes pass the signal on to dotnet test.
  if declare -p running >/dev/null 2>&1; then
    for pid in "${!running[@]}"; do pkill -TERM -P "$pid" 2>/dev/null; done
  fi
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
MISLATA_WITH_BROWSER=1 "$STACK" packages || { echo "0 passed, 1 failed"; exit 1; }

if [ -n "${MISLATA_TEST_NO_BUILD:-}" ]; then
  echo "== build skipped (MISLATA_TEST_NO_BUILD): the tests of the last $CONFIGURATION build run"
else
  echo "== build ($CONFIGURATION)"
  if ! dotnet build "$ROOT/Mislata.slnx" -c "$CONFIGURATION" -nologo -v quiet > "$MISLATA_TEST_STATE/build.log" 2>&1; then
    grep -E "error|Error" "$MISLATA_TEST_STATE/build.log" | sort -u | head -40
    echo "build failed (log: $MISLATA_TEST_STATE/build.log)"
    echo "0 passed, 1 failed"
    exit 1
  fi
  # The web console is built when its sources are present (the runner's self-test runs this script in a scratch
  # tree of probe projects that has none); the browser tests fail if the gateway has no console to serve.
  if [ -f "$ROOT/src/Mislata.Console/package.json" ] && ! "$ROOT/scripts/console.sh"; then
    echo "the web console did not build"
    echo "0 passed, 1 failed"
    exit 1
  fi
  # Independent implementations the end-to-end tests check Mislata against (tests/tools: @noble/post-quantum).
  tools="$ROOT/tests/tools"
  if [ -f "$tools/package-lock.json" ] && { [ ! -f "$tools/node_modules/.package-lock.json" ] || [ "$tools/package-lock.json" -nt "$tools/node_modules/.package-lock.json" ]; }; then
    if ! (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error > /dev/null); then
      echo "the test tools did not install (npm ci in tests/tools)"
      echo "0 passed, 1 failed"
      exit 1
    fi
  fi
  echo "   built in $((SECONDS - started)) s"
fi

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
# The test projects expected to produce a result: every *.Tests project of the solution, or of MISLATA_TEST_PROJECTS
# (folders, .csproj files or solutions). One that leaves no result file counts as failed.
solution_tests() {
  grep -oE 'Path="[^"]+\.Tests\.csproj"' "$1" | sed -E 's/^Path="(.*)"$/\1/' | while read -r rel; do
    printf '%s\n' "$(dirname "$1")/$rel"
  done
}
resolve_target() {
  local target="$1"
  [ -e "$target" ] || [ ! -e "$ROOT/$target" ] || target="$ROOT/$target"
  case "$target" in
    *.slnx|*.sln) solution_tests "$target" ;;
    *.csproj) printf '%s\n' "$target" ;;
    *) if [ -d "$target" ]; then
         local found=("$target"/*.csproj)
         if [ "${#found[@]}" -eq 1 ] && [ -f "${found[0]}" ]; then printf '%s\n' "${found[0]}"; else printf '%s\n' "$target/$(basename "$target").csproj"; fi
       else
         printf '%s\n' "$target"
       fi ;;
  esac
}
projects=()
if [ -n "${MISLATA_TEST_PROJECTS:-}" ]; then
  read -r -a targets <<< "$MISLATA_TEST_PROJECTS"
else
  targets=("$ROOT/Mislata.slnx")
fi
for target in "${targets[@]}"; do
  while IFS= read -r project; do [ -n "$project" ] && projects+=("$project"); done < <(resolve_target "$target")
done
# The longest project first, so that it overlaps with the others.
mapfile -t projects < <(printf '%s\n' "${projects[@]}" | awk '{ print (/EndToEnd/ ? 0 : 1) "\t" $0 }' | sort -s -k1,1n | cut -f2-)
names=()
for project in "${projects[@]}"; do names+=("$(basename "$project" .csproj)"); done
if [ "${#projects[@]}" -eq 0 ]; then
  echo "   no test project found in: ${targets[*]}"
fi

# Hang protection: --blame-hang kills a test host whose current test runs longer than the project's hang timeout
# (VSTestBlameHangTimeout in Directory.Build.props; 10 min for the end-to-end tests), --blame-crash names the test
# that was running when a host crashed. The outer timeout catches a hung dotnet test itself.
BLAME=(--blame-crash --blame-crash-dump-type mini --blame-hang --blame-hang-dump-type none)
[ -n "${MISLATA_TEST_HANG_TIMEOUT:-}" ] && BLAME+=(--blame-hang-timeout "$MISLATA_TEST_HANG_TIMEOUT")
PROJECT_TIMEOUT="${MISLATA_TEST_PROJECT_TIMEOUT:-45m}"
run_project() {
  local project="$1" name="$2" dir="$RESULTS/$2" status=0
  mkdir -p "$dir"
  if [ ! -f "$project" ]; then
    echo "no such project: $project" > "$dir/console.log"
    echo 2 > "$dir/exit-code"
    return
  fi
  timeout --kill-after=60s "$PROJECT_TIMEOUT" dotnet test "$project" -c "$CONFIGURATION" --no-build -nologo "${FILTER[@]}" \
    --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=minimal" --results-directory "$dir" "${BLAME[@]}" \
    -- RunConfiguration.TreatNoTestsAsError=false > "$dir/console.log" 2>&1 || status=$?
  echo "$status" > "$dir/exit-code"
}
show_project() {
  local name="$1" dir="$RESULTS/$1"
  echo "-- $name (exit code $(cat "$dir/exit-code" 2>/dev/null || echo '?'))"
  tee -a "$MISLATA_TEST_STATE/test.log" < "$dir/console.log" \
    | grep -vE "^\s*$|^Test run for|^VSTest version|^Starting test execution|^A total of|^Results File|^Blame: Attaching" || true
}

PARALLEL="${MISLATA_TEST_PARALLEL:-2}"
declare -A running=()
for i in "${!projects[@]}"; do
  while [ "${#running[@]}" -ge "$PARALLEL" ]; do
    wait -n || true
    for pid in "${!running[@]}"; do
      kill -0 "$pid" 2>/dev/null && continue
      wait "$pid" 2>/dev/null; show_project "${running[$pid]}"; unset "running[$pid]"
    done
  done
  run_project "${projects[$i]}" "${names[$i]}" &
  running[$!]="${names[$i]}"
done
for pid in "${!running[@]}"; do wait "$pid" 2>/dev/null; show_project "${running[$pid]}"; done

# Counts from each project's TRX file, the Wycheproof lines the crypto tests print, and every reason a run cannot
# be trusted (no result, unreadable result, aborted host, non-zero exit without a failure, nothing selected).
echo "== results"
summary_status=0
summary="$(python3 "$ROOT/scripts/test-summary.py" "$RESULTS" "${#FILTER[@]}" "${names[@]}")" || summary_status=$?
echo "$summary" | grep -v '^TOTAL' || true
total_line="$(echo "$summary" | grep '^TOTAL ' | tail -1)"
if [ "$summary_status" -ne 0 ] || [ -z "$total_line" ]; then
  echo "   the result summary failed (exit code $summary_status): the results cannot be trusted"
  failed=$((failed + 1))
else
  read -r _ tp tf ts <<< "$total_line"
  passed=$((passed + tp)); failed=$((failed + tf)); skipped=$((skipped + ts))
fi
echo "   time: $((SECONDS - started)) s; logs: $MISLATA_TEST_STATE"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
