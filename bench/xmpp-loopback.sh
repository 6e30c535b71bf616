#!/usr/bin/env bash
# Calibrates mmgs-bench itself: chat against the built-in loopback XMPP server (which costs
# almost nothing per message), so the generator's own ceiling is known before a server is
# blamed for it. Prints the generator CPU per step; the server's CPU is reported too.
#   usage: bench/xmpp-loopback.sh [DEVICES] [RATES] [STEP_SECONDS] [PROCESSES]
#   env:   BIN (directory with mmgs-bench, default .build/release), JSON (report file)
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${1:-1000}
RATES=${2:-1000,2000,5000,10000,20000}
STEP_SECONDS=${3:-5}
PROCESSES=${4:-1}
BIN=${BIN:-.build/release}
[ -x "$BIN/mmgs-bench" ] || { echo "missing $BIN/mmgs-bench: run 'swift build -c release --product mmgs-bench' (or set BIN)" >&2; exit 1; }
OUT=$(mktemp -d)
"$BIN/mmgs-bench" serve --port 0 --domain loop.test --threads 1 > "$OUT/serve.out" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$OUT"' EXIT
for _ in $(seq 1 100); do grep -q listening "$OUT/serve.out" 2>/dev/null && break; sleep 0.05; done
PORT=$(awk '/listening/ {print $2}' "$OUT/serve.out")
[ -n "$PORT" ] || { echo "loopback server did not start" >&2; cat "$OUT/serve.out" >&2; exit 1; }
echo "machine: $(nproc) cores; loopback server pid $SERVER port $PORT"
"$BIN/mmgs-bench" chat --target "127.0.0.1:$PORT" --domain loop.test --devices "$DEVICES" --rate 2000 \
  --rates "$RATES" --step-seconds "$STEP_SECONDS" --processes "$PROCESSES" --source-addresses 4 \
  --target-pids "$SERVER" ${JSON:+--json "$JSON"}
