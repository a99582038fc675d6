#!/usr/bin/env bash
# The client's envelope encryption at scale (issue 14): starts the stack as ./run.sh does (state and ports of its own),
# creates a tenant with a key (bench/ops_bench.py setup), logs the mislata CLI in, and streams 100 MiB and 1 GiB
# through `mislata envelope encrypt` (a data key from POST /datakey, chunked AES-256-GCM), then decrypts the 1 GiB
# envelope (written to a file by a second, separately reported encryption). Each run is measured with /usr/bin/time: peak RSS (constant memory: the 1 GiB peak ÷ the 100 MiB peak
# stays ≈ 1) and MB/s, next to references on the same input in the same run: `cat` (the pipe itself) and
# `openssl enc -aes-256-ctr` (one core of AES without authentication). Writes bench/results/client-envelope-<UTC>.md
# and client-envelope-latest.md.
#
#   bench/run-client-envelope.sh [--gib N] [--keep-state]
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

GIB=1
KEEP_STATE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --gib) GIB="$2"; shift 2 ;;
    --keep-state) KEEP_STATE=1; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) fail "unknown option $1 (see --help)" ;;
  esac
done

BENCH_STATE="${MISLATA_BENCH_STATE:-$BENCH/.state-client}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RUN_DIR="$BENCH_STATE/run-$STAMP"
RESULTS="$BENCH/results"
finish() {
  bench_cleanup
  [ "$KEEP_STATE" = 1 ] || rm -rf "$BENCH_STATE"
}
trap finish EXIT
trap 'exit 130' INT TERM

command -v /usr/bin/time >/dev/null || fail "GNU time (/usr/bin/time) is required"
command -v openssl >/dev/null || fail "openssl is required"
"$STACK" packages
bench_ports
bench_stack_start
say "Creating the tenant, its plan and its keys…"
python3 "$BENCH/ops_bench.py" setup "$RUN_DIR" "$GATEWAY" "$TLS_CERT" "$BENCH_STATE/admin.env"
API_KEY="$(cat "$RUN_DIR/secret/api-key")"

dotnet build "$ROOT/src/Mislata.Cli/Mislata.Cli.csproj" -c "$MISLATA_CONFIGURATION" -v quiet -nologo > "$RUN_DIR/build-cli.log" 2>&1 \
  || { tail -30 "$RUN_DIR/build-cli.log" >&2; fail "the CLI did not build"; }
CLI=(dotnet "$ROOT/src/Mislata.Cli/bin/$MISLATA_CONFIGURATION/net10.0/mislata.dll")
export MISLATA_CONFIG_DIR="$RUN_DIR/cli-config"
printf '%s\n' "$API_KEY" | "${CLI[@]}" login --url "$GATEWAY" --ca-cert "$TLS_CERT" >/dev/null
KEY_ID="$("${CLI[@]}" keys create "bench-envelope-$STAMP" --algorithm ML-KEM-768 -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"

# measure NAME BYTES COMMAND…: stdin is BYTES zero bytes (AES-GCM's speed does not depend on the data); prints
# "NAME BYTES SECONDS PEAK_RSS_KIB" (time and RSS of COMMAND alone, not of the producer).
measure() {
  local name="$1" bytes="$2"; shift 2
  head -c "$bytes" /dev/zero | /usr/bin/time -f '%e %M' -o "$RUN_DIR/time-$name" "$@" > "${OUT:-/dev/null}"
  read -r seconds rss < "$RUN_DIR/time-$name"
  printf '%s %s %s %s\n' "$name" "$bytes" "$seconds" "$rss" | tee -a "$RUN_DIR/figures.txt" >&2
}

SMALL=$((100 * 1024 * 1024))
LARGE=$((GIB * 1024 * 1024 * 1024))
AES_KEY="$(openssl rand -hex 32)"; AES_IV="$(openssl rand -hex 16)"
: > "$RUN_DIR/figures.txt"
say "Measuring (name bytes seconds peak-RSS-KiB):"
measure cat-large "$LARGE" cat
measure openssl-ctr-large "$LARGE" openssl enc -aes-256-ctr -K "$AES_KEY" -iv "$AES_IV"
measure envelope-small "$SMALL" "${CLI[@]}" envelope encrypt --key "$KEY_ID" --context bench
measure envelope-large "$LARGE" "${CLI[@]}" envelope encrypt --key "$KEY_ID" --context bench
# The same again into a file (disk writes included) for the decryption run.
OUT="$RUN_DIR/large.env" measure envelope-large-to-file "$LARGE" "${CLI[@]}" envelope encrypt --key "$KEY_ID" --context bench
/usr/bin/time -f '%e %M' -o "$RUN_DIR/time-decrypt" "${CLI[@]}" envelope decrypt --context bench --in "$RUN_DIR/large.env" > /dev/null
read -r dsec drss < "$RUN_DIR/time-decrypt"
printf 'envelope-decrypt-large %s %s %s\n' "$LARGE" "$dsec" "$drss" | tee -a "$RUN_DIR/figures.txt" >&2
ENVELOPE_BYTES="$(stat -c %s "$RUN_DIR/large.env")"
rm -f "$RUN_DIR/large.env"

mkdir -p "$RESULTS"
python3 - "$RUN_DIR/figures.txt" "$ENVELOPE_BYTES" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" > "$RESULTS/client-envelope-$STAMP.md" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    name, size, seconds, rss = line.split()
    rows[name] = (int(size), max(float(seconds), 0.01), int(rss))
mbps = {k: v[0] / 1e6 / v[1] for k, v in rows.items()}
print("# Client envelope encryption (mislata envelope encrypt/decrypt)\n")
print(f"{sys.argv[3]} cores, load {sys.argv[4]} at the end (the machine is shared: compare ratios, not absolute figures). Input: zero bytes on stdin; output to /dev/null, except envelope-large-to-file (a file on disk), which envelope-decrypt-large then reads. Every CLI run includes its process start and one /datakey or /decrypt call.\n")
print("| run | bytes | seconds | MB/s | peak RSS MiB |")
print("|---|---:|---:|---:|---:|")
for k, (size, sec, rss) in rows.items():
    print(f"| {k} | {size} | {sec:.2f} | {mbps[k]:.1f} | {rss / 1024:.1f} |")
print()
print(f"- constant memory: peak RSS 1 GiB-class run ÷ 100 MiB run = {rows['envelope-large'][2] / rows['envelope-small'][2]:.2f}")
print(f"- encrypt MB/s ÷ openssl aes-256-ctr MB/s (same input, same run) = {mbps['envelope-large'] / mbps['openssl-ctr-large']:.2f}")
print(f"- decrypt MB/s ÷ openssl aes-256-ctr MB/s = {mbps['envelope-decrypt-large'] / mbps['openssl-ctr-large']:.2f}")
print(f"- encrypt MB/s ÷ cat MB/s (the pipe) = {mbps['envelope-large'] / mbps['cat-large']:.2f}")
print(f"- envelope overhead: {(int(sys.argv[2]) - rows['envelope-large'][0]) / rows['envelope-large'][0] * 100:.4f} % of the plaintext")
PY
cp "$RESULTS/client-envelope-$STAMP.md" "$RESULTS/client-envelope-latest.md"
cat "$RESULTS/client-envelope-latest.md"
