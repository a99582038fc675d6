#!/usr/bin/env bash
# Mutation testing with Stryker.NET (issue 9): Mislata.Crypto and the access code of Core, Api, Infrastructure and
# Identity, each against its unit tests (never the end-to-end project: far too slow to run once per mutant).
#
#   scripts/mutation.sh                       every config of stryker/ (crypto, access-core, access-api,
#                                             access-infrastructure, access-identity)
#   scripts/mutation.sh crypto access-api     only these
#   scripts/mutation.sh --scores [--survivors] [NAME...]   only print the scores of the reports in bench/mutation/
#                                             (and every surviving or uncovered mutant)
#   MISLATA_MUTATION_ARGS="-m **/A.cs{10..90}" MISLATA_MUTATION_REPORT=access-api-rerun scripts/mutation.sh access-api
#                                             one config with extra Stryker arguments (e.g. only some spans of its
#                                             files), its reports under bench/mutation/<MISLATA_MUTATION_REPORT>/
#
# Restores the local tool (.config/dotnet-tools.json), starts one throw-away PostgreSQL cluster for the unit tests
# that need one (as test.sh does; Redis-backed tests start their own), runs each config with one test session at a
# time (concurrency 1: it shares the machine), copies the HTML and JSON reports to bench/mutation/<name>/ and prints
# each score: killed + timeout over killed + timeout + survived + no coverage (compile errors and ignored mutants do
# not count). Stryker runs at low CPU priority (nice; MISLATA_MUTATION_NICE, default 10) so that it does not starve
# test runs sharing the machine. Not part of ./test.sh. Exits non-zero when Stryker fails or a score is below its target (85 % for
# crypto, 75 % for the access code as a whole).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK="$ROOT/scripts/stack.sh"
RUN_ID="mutation-$(date +%Y%m%d-%H%M%S)-$$"
export MISLATA_TEST_STATE="$ROOT/.test-state/$RUN_ID"
export MISLATA_TEST_CONFIGURATION=Release
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
ALL=(crypto access-core access-api access-infrastructure access-identity)

scores() {
  python3 - "$ROOT/bench/mutation" "$@" <<'PY'
"""Scores of Stryker JSON reports (mutation-testing-elements schema) under bench/mutation/<name>/.

Prints per config the counts and the score (killed + timeout) / (killed + timeout + survived + no coverage), the
access code's combined score, and exits 1 when crypto is below 85 % or the access code below 75 %.
Usage (through scripts/mutation.sh --scores): BENCH_DIR NAME... [--survivors]   (--survivors lists every surviving / uncovered mutant)
"""
import json
import os
import sys

TARGETS = {"crypto": 85.0, "access": 75.0}
COUNTED = ("Killed", "Timeout", "Survived", "NoCoverage")


def counts(path, survivors):
    with open(path, encoding="utf-8") as f:
        report = json.load(f)
    c = {k: 0 for k in ("Killed", "Timeout", "Survived", "NoCoverage", "CompileError", "Ignored", "RuntimeError")}
    for file_name, file in sorted(report["files"].items()):
        for m in file["mutants"]:
            c[m["status"]] = c.get(m["status"], 0) + 1
            if survivors and m["status"] in ("Survived", "NoCoverage"):
                loc = m["location"]["start"]
                print(f"   {m['status']:10} {os.path.basename(file_name)}:{loc['line']}:{loc['column']} "
                      f"{m['mutatorName']}: {m.get('replacement', '').strip()[:90]!r}")
    return c


def score(c):
    valid = sum(c[k] for k in COUNTED)
    return 100.0 * (c["Killed"] + c["Timeout"]) / valid if valid else 0.0


def main():
    args = [a for a in sys.argv[1:] if a != "--survivors"]
    survivors = "--survivors" in sys.argv
    bench, names = args[0], args[1:]
    failed = False
    access = {k: 0 for k in COUNTED}
    for name in names:
        path = os.path.join(bench, name, "mutation-report.json")
        if not os.path.exists(path):
            print(f"{name}: no report ({path})")
            failed = True
            continue
        c = counts(path, survivors)
        print(f"{name}: score {score(c):.2f} % — killed {c['Killed']}, survived {c['Survived']}, timeout {c['Timeout']}, "
              f"no coverage {c['NoCoverage']} (compile errors {c['CompileError']}, ignored {c['Ignored']})")
        if name == "crypto" or name.startswith("crypto-"):  # crypto-<part>: partial runs of the same project
            failed |= score(c) < TARGETS["crypto"]
        else:
            for k in COUNTED:
                access[k] += c[k]
    if any(access.values()):
        s = score(access)
        print(f"access code (all access-* configs): score {s:.2f} % — killed {access['Killed']}, survived {access['Survived']}, "
              f"timeout {access['Timeout']}, no coverage {access['NoCoverage']}")
        failed |= s < TARGETS["access"] and all(os.path.exists(os.path.join(bench, n, "mutation-report.json"))
                                                 for n in ("access-core", "access-api", "access-infrastructure", "access-identity"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
PY
}

if [ "${1:-}" = "--scores" ]; then
  shift
  extra=(); names=()
  for a in "$@"; do if [ "$a" = "--survivors" ]; then extra+=("$a"); else names+=("$a"); fi; done
  [ "${#names[@]}" -gt 0 ] || names=("${ALL[@]}")
  scores "${names[@]}" "${extra[@]}"
  exit $?
fi
if [ "$#" -gt 0 ]; then CONFIGS=("$@"); else CONFIGS=("${ALL[@]}"); fi

cleanup() {
  local status=$?
  if [ -d "$MISLATA_TEST_STATE" ]; then
    for dir in "$MISLATA_TEST_STATE"/redis-* "$MISLATA_TEST_STATE"/pg-*; do
      [ -d "$dir" ] || continue
      case "$dir" in
        */redis-*) "$STACK" redis-stop "$dir" >/dev/null 2>&1 ;;
        */pg-*) "$STACK" pg-stop "$dir" >/dev/null 2>&1 ;;
      esac
    done
    rm -rf "$MISLATA_TEST_STATE"
  fi
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$MISLATA_TEST_STATE"

for name in "${CONFIGS[@]}"; do
  [ -f "$ROOT/stryker/$name/stryker-config.json" ] || { echo "mutation.sh: no stryker/$name/stryker-config.json"; exit 2; }
done

cd "$ROOT" || exit 1
echo "== dotnet tool restore"
dotnet tool restore >/dev/null || { echo "dotnet tool restore failed"; exit 1; }

echo "== shared PostgreSQL for the unit tests that need one"
export MISLATA_TEST_PG_PORT MISLATA_TEST_PG_PASSWORD
MISLATA_TEST_PG_PORT="$("$STACK" free-port)"
MISLATA_TEST_PG_PASSWORD="$(head -c 18 /dev/urandom | base64 | tr -d '\n=+/')"
MISLATA_PG_SUPERUSER_PASSWORD="$MISLATA_TEST_PG_PASSWORD" MISLATA_PG_FSYNC=off MISLATA_PG_SYNC_COMMIT=off \
  "$STACK" pg-init "$MISLATA_TEST_STATE/pg-shared" "$MISLATA_TEST_PG_PORT" >/dev/null \
  && "$STACK" pg-start "$MISLATA_TEST_STATE/pg-shared" >/dev/null || { echo "PostgreSQL did not start"; exit 1; }

# Stryker leaves the mutated assembly (all mutants compiled in, inactive) in each test project's output folder, newer
# than the real build: remove it so that the next build (and ./test.sh) copies the real one back.
forget_mutated() {
  python3 - "$1" <<'PY' | while read -r file; do rm -f "$file"; done
import glob, json, os, sys
path = sys.argv[1]
config = json.load(open(path, encoding="utf-8"))["stryker-config"]
dll = os.path.splitext(config["project"])[0] + ".dll"
for test in config["test-projects"]:
    folder = os.path.dirname(os.path.normpath(os.path.join(os.path.dirname(path), test)))
    for f in glob.glob(os.path.join(folder, "bin", "*", "*", dll)) + glob.glob(os.path.join(folder, "bin", "*", "*", dll + ".stryker-unchanged")):
        print(f)
PY
}

status=0
for name in "${CONFIGS[@]}"; do
  out="$MISLATA_TEST_STATE/stryker-$name"
  echo "== stryker: $name"
  started=$SECONDS
  config="$ROOT/stryker/$name/stryker-config.json"
  extra=()
  # Read as words, never glob-expanded (the patterns are Stryker's own globs).
  [ -z "${MISLATA_MUTATION_ARGS:-}" ] || read -r -a extra <<< "$MISLATA_MUTATION_ARGS"
  if ! (cd "$ROOT/stryker/$name" && nice -n "${MISLATA_MUTATION_NICE:-10}" dotnet dotnet-stryker --skip-version-check "${extra[@]}" --output "$out" > "$out.log" 2>&1); then
    forget_mutated "$config"
    tail -n 30 "$out.log"
    echo "   stryker failed for $name (log above)"
    status=1
    continue
  fi
  forget_mutated "$config"
  dest="$ROOT/bench/mutation/${MISLATA_MUTATION_REPORT:-$name}"
  mkdir -p "$dest"
  cp "$out/reports/mutation-report.html" "$out/reports/mutation-report.json" "$dest/"
  echo "   $((SECONDS - started)) s"
done

echo "== scores"
if [ -n "${MISLATA_MUTATION_REPORT:-}" ]; then scores "$MISLATA_MUTATION_REPORT" || status=1; else scores "${CONFIGS[@]}" || status=1; fi
exit $status
