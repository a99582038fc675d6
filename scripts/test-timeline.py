#!/usr/bin/env python3
"""Where a test project's wall time went, from the start and end time of each test in its TRX file.

usage: test-timeline.py TRX [TOP]

Prints one line per test class, in the order the classes started: seconds from the first test's start to the class's
first start and last end, the span, the sum of its tests' durations and the number of tests; then how many seconds of
the run had 0, 1, 2, … tests running at once (the lanes xUnit used, and idle or single-lane stretches), and the TOP
(default 15) longest tests. A collection fixture's start-up (a stack) is the gap before its first test; the end-to-end
tests also write each stack's start, by phase, to stack-starts.log in the run's state folder.
"""

import collections
import datetime
import re
import sys
import xml.etree.ElementTree as ET

NS = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}


def when(text):
    # TRX times carry 7 fractional digits; fromisoformat takes at most 6.
    return datetime.datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", text))


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__.strip())
        return 2
    top = int(sys.argv[2]) if len(sys.argv) == 3 else 15
    root = ET.parse(sys.argv[1]).getroot()
    classes = {u.get("id"): u.find("t:TestMethod", NS).get("className") for u in root.iter(f"{{{NS['t']}}}UnitTest")}
    results = [
        (classes[r.get("testId")], when(r.get("startTime")), when(r.get("endTime")), r.get("testName"))
        for r in root.iter(f"{{{NS['t']}}}UnitTestResult")
        if r.get("startTime") and r.get("endTime")
    ]
    if not results:
        print("no timed test result")
        return 1
    t0 = min(start for _, start, _, _ in results)
    end = max(stop for _, _, stop, _ in results)
    by_class = collections.defaultdict(list)
    for name, start, stop, _ in results:
        by_class[name].append((start, stop))
    rows = []
    for name, spans in by_class.items():
        first = (min(s for s, _ in spans) - t0).total_seconds()
        last = (max(e for _, e in spans) - t0).total_seconds()
        total = sum((e - s).total_seconds() for s, e in spans)
        rows.append((first, last, total, len(spans), name.rsplit(".", 1)[-1]))
    print("  start     end    span     sum  tests  class")
    for first, last, total, count, name in sorted(rows):
        print(f"{first:7.1f} {last:7.1f} {last - first:7.1f} {total:7.1f} {count:6d}  {name}")
    running = collections.Counter()
    for second in range(int((end - t0).total_seconds()) + 1):
        moment = t0 + datetime.timedelta(seconds=second + 0.5)
        running[sum(1 for _, s, e, _ in results if s <= moment < e)] += 1
    print(f"wall {(end - t0).total_seconds():.1f} s, sum of test durations "
          f"{sum((e - s).total_seconds() for _, s, e, _ in results):.1f} s, {len(results)} tests")
    print("seconds with N tests running: " + ", ".join(f"{n}: {running[n]}" for n in sorted(running)))
    print(f"longest {top} tests:")
    for duration, name in sorted(((e - s).total_seconds(), n) for _, s, e, n in results)[::-1][:top]:
        print(f"{duration:7.1f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
