#!/usr/bin/env python3
"""Summarises one ./test.sh run from each test project's TRX file and dotnet test exit code.

usage: test-summary.py RESULTS_DIR FILTERED PROJECT...

RESULTS_DIR/<project>/ holds the project's TRX file(s), its console log and the exit code of its dotnet test
(exit-code). FILTERED is non-zero when a --filter was given. Prints one line per project ("   Name: N passed,
N failed, N skipped", then the reasons a project counts as failed), the Wycheproof lines the crypto tests print, and
last "TOTAL passed failed skipped". A run is never green by accident: each of these counts as one failure of its
project, on top of the failed tests in its TRX file -
  * no TRX file (the project did not run) or a TRX file that cannot be read;
  * a run the test platform aborted (crashed or hung test host: an "Error" run message or an aborted outcome);
  * a non-zero dotnet test exit code with no failed test in the results (or no exit code at all);
  * no test executed in a project, unless a filter was given;
and, for the whole run, no test executed at all (a filter that selected nothing).
Exits non-zero only when it cannot do its job (bad arguments); test failures are reported in the counts.
"""

import glob
import os
import sys
import xml.etree.ElementTree as ET

NS = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
CLEAN_OUTCOMES = {"Completed", "Passed"}


def first_line(text, limit=300):
    line = next((l.strip() for l in (text or "").splitlines() if l.strip()), "")
    return line if len(line) <= limit else line[:limit] + "…"


def console_hints(directory):
    """Lines of the console log that say which test was running when a host crashed or hung."""
    try:
        with open(os.path.join(directory, "console.log"), encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    hints = []
    for i, line in enumerate(lines):
        if line.startswith("The test running when the crash occurred") and i + 1 < len(lines):
            hints.append("running when the host died: " + lines[i + 1].strip())
        elif "inactivity time of" in line:
            hints.append(first_line(line))
    return hints


def read_trx(path):
    """Returns (passed, failed, skipped, executed, problems, wycheproof lines) of one TRX file."""
    root = ET.parse(path).getroot()
    summary = root.find("t:ResultSummary", NS)
    counters = None if summary is None else summary.find("t:Counters", NS)
    if counters is None:
        raise ValueError("no ResultSummary/Counters element")
    count = lambda name: int(counters.get(name, 0))
    passed = count("passed")
    failed = count("failed") + count("error") + count("timeout") + count("aborted")
    total = count("total")
    executed = count("executed")
    # Skipped tests are neither passed nor failed (TRX counts them in the total only).
    skipped = max(total - passed - failed, 0)
    problems = []
    errors = [first_line(ri.findtext("t:Text", default="", namespaces=NS))
              for ri in summary.iterfind("t:RunInfos/t:RunInfo", NS) if ri.get("outcome") == "Error"]
    outcome = summary.get("outcome", "")
    if errors and failed == 0:
        problems.append("the test run was aborted: " + errors[0])
    elif outcome not in CLEAN_OUTCOMES and failed == 0:
        problems.append(f"the test run ended with outcome '{outcome}' but no failed test")
    wycheproof = []
    for out in root.iterfind(".//t:UnitTestResult/t:Output/t:StdOut", NS):
        wycheproof += [line for line in (out.text or "").splitlines() if line.startswith("wycheproof ")]
    return passed, failed, skipped, executed, problems, wycheproof


def project_summary(results, name, filtered):
    directory = os.path.join(results, name)
    passed = failed = skipped = executed = 0
    problems = []
    wycheproof = []
    files = sorted(glob.glob(os.path.join(directory, "**", "*.trx"), recursive=True))
    if not files:
        problems.append("no result file: the project did not run")
    for path in files:
        try:
            p, f, s, e, probs, wp = read_trx(path)
        except (ET.ParseError, ValueError, OSError) as error:
            problems.append(f"unreadable result file {os.path.relpath(path, results)}: {error}")
            continue
        passed += p; failed += f; skipped += s; executed += e
        problems += probs
        wycheproof += wp
    try:
        with open(os.path.join(directory, "exit-code"), encoding="ascii") as f:
            exit_code = int(f.read().strip())
    except (OSError, ValueError):
        exit_code = None
    if exit_code is None:
        problems.append("no exit code: dotnet test did not finish")
    elif exit_code != 0 and failed == 0:
        reason = "timed out" if exit_code in (124, 137) else "exited"
        problems.append(f"dotnet test {reason} with exit code {exit_code} and no failed test in its results")
    if files and executed == 0 and not filtered:
        problems.append("no test ran")
    if problems:
        problems += console_hints(directory)
    return passed, failed, skipped, executed, problems, wycheproof


def main(argv):
    if len(argv) < 3:
        print("usage: test-summary.py RESULTS_DIR FILTERED PROJECT...", file=sys.stderr)
        return 2
    results, filtered, names = argv[1], argv[2] not in ("", "0"), argv[3:]
    total_passed = total_failed = total_skipped = total_executed = 0
    for name in names:
        passed, failed, skipped, executed, problems, wycheproof = project_summary(results, name, filtered)
        # Each reason not to trust a project's result is one failure, beside its failed tests.
        failed_count = failed + (1 if problems else 0)
        print(f"   {name}: {passed} passed, {failed_count} failed, {skipped} skipped")
        for problem in problems:
            print(f"     FAILED: {problem}")
        for line in wycheproof:
            print("     " + line)
        total_passed += passed; total_failed += failed_count; total_skipped += skipped; total_executed += executed
    if not names:
        print("     FAILED: no test project to run")
        total_failed += 1
    elif total_executed == 0:
        print("     FAILED: no test was executed" + (" (the filter selected no test)" if filtered else ""))
        total_failed += 1
    print(f"TOTAL {total_passed} {total_failed} {total_skipped}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
