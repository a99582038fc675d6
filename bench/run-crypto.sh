#!/usr/bin/env bash
# Runs the crypto micro-benchmarks (ShortRun, in-process, 2 warm-ups + 5 iterations) and prints ops/s per
# operation and the wrapper/raw ratio (time of the Mislata wrapper ÷ time of the raw library calls it wraps).
# Usage: bench/run-crypto.sh [extra BenchmarkDotNet args, e.g. --filter '*Mlkem*']
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/.artifacts"
rm -rf "$out"
dotnet run -c Release --project "$here/Mislata.Crypto.Benchmarks" -- --filter '*' --artifacts "$out" "$@" >"$here/.last-run.log" 2>&1 \
  || { tail -50 "$here/.last-run.log"; exit 1; }
python3 - "$out" <<'PY'
import glob, json, sys
rows = {}
for f in glob.glob(sys.argv[1] + "/results/*-report-brief.json"):
    for b in json.load(open(f))["Benchmarks"]:
        op, kind = b["Method"].rsplit("_", 1)
        rows.setdefault(op, {})[kind] = b["Statistics"]["Mean"]  # ns
print(f"| operation | wrapper ops/s | raw ops/s | wrapper/raw time |")
print(f"|---|---:|---:|---:|")
for op in rows:
    w, r = rows[op].get("Wrapper"), rows[op].get("Raw")
    fmt = lambda ns: f"{1e9/ns:,.0f}" if ns else "-"
    ratio = f"{w/r:.2f}" if w and r else "-"
    print(f"| {op} | {fmt(w)} | {fmt(r)} | {ratio} |")
PY
