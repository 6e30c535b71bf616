#!/usr/bin/env bash
# eTunnel benchmark between two processes on loopback: one-way 200-byte messages per second on
# one connection, and request/response calls per second with 64 in flight (p50/p99 from
# HdrHistogram). Runs each scenario RUNS times and prints the median.
#   usage: bench/etunnel.sh [RUNS] [SECONDS]      (after: swift build -c release --product mmgs-etunnel-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
SECONDS_PER_RUN=${2:-5}
BIN=${MMGS_BENCH_BIN:-.build/release/mmgs-etunnel-bench}
[ -x "$BIN" ] || { echo "missing $BIN: run 'swift build -c release --product mmgs-etunnel-bench' first" >&2; exit 1; }

OUT=$(mktemp -d)
"$BIN" server --port 0 > "$OUT/server.out" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$OUT"' EXIT
for _ in $(seq 1 100); do grep -q listening "$OUT/server.out" 2>/dev/null && break; sleep 0.05; done
PORT=$(awk '/listening/ {print $2}' "$OUT/server.out")
[ -n "$PORT" ] || { echo "bench server did not start" >&2; cat "$OUT/server.out" >&2; exit 1; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
for i in $(seq 1 "$RUNS"); do
  "$BIN" oneway --target "127.0.0.1:$PORT" --seconds "$SECONDS_PER_RUN" --size 200 | tee -a "$OUT/oneway.txt" | head -1
done
for i in $(seq 1 "$RUNS"); do
  "$BIN" calls --target "127.0.0.1:$PORT" --seconds "$SECONDS_PER_RUN" --inflight 64 --size 200 | tee -a "$OUT/calls.txt" | head -1
done
python3 - "$OUT" <<'PY'
import json, statistics, sys, pathlib
out = pathlib.Path(sys.argv[1])
def runs(name):
    return [json.loads(l) for l in (out / name).read_text().splitlines() if l.startswith("{")]
one, calls = runs("oneway.txt"), runs("calls.txt")
print(f"median one-way: {statistics.median(r['rate'] for r in one):,.0f} msg/s over {len(one)} runs "
      f"(min {min(r['rate'] for r in one):,}, max {max(r['rate'] for r in one):,})")
print(f"median calls (64 in flight): {statistics.median(r['rate'] for r in calls):,.0f} calls/s, "
      f"p50 {statistics.median(r['p50_us'] for r in calls):.0f} us, p99 {statistics.median(r['p99_us'] for r in calls):.0f} us")
PY
