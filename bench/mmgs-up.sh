#!/usr/bin/env bash
# Starts a local MMGS cluster configured for benchmarking: plain c2s with SASL PLAIN allowed,
# domain bench.local, front-ends on 127.0.0.1:5222, :5223, … Prints the comma-separated PIDs of
# every MMGS node process on its LAST line. Stop it with bench/mmgs-down.sh.
#   usage: bench/mmgs-up.sh [--frontends N] [--routers N] [--transports N] [--managers N] [--event-loops N]
#                           [--no-leases]   (delivery_leases: false, every message through its router)
#   env:   MMGS_BIN (default .build-release/release; built if missing), MMGS_BENCH_DIR (default run/bench)
set -euo pipefail
cd "$(dirname "$0")/.."
FRONTENDS=2 ROUTERS=2 TRANSPORTS=1 MANAGERS=1 EVENT_LOOPS=0 LEASES=1
while [ $# -gt 0 ]; do
  case "$1" in
    --frontends) FRONTENDS=$2; shift 2 ;;
    --routers) ROUTERS=$2; shift 2 ;;
    --transports) TRANSPORTS=$2; shift 2 ;;
    --managers) MANAGERS=$2; shift 2 ;;
    --event-loops) EVENT_LOOPS=$2; shift 2 ;;
    --no-leases) LEASES=0; shift ;;
    *) echo "mmgs-up.sh: unknown option $1 (known: --frontends --routers --transports --managers --event-loops --no-leases)" >&2; exit 2 ;;
  esac
done
BIN=${MMGS_BIN:-.build-release/release}
DIR=${MMGS_BENCH_DIR:-run/bench}
if [ ! -x "$BIN/mmgs" ]; then
  echo "building release binaries into $BIN …" >&2
  swift build -c release --scratch-path .build-release >&2
fi
if [ -f "$DIR/launcher.pid" ] && kill -0 "$(cat "$DIR/launcher.pid")" 2>/dev/null; then
  echo "a benchmark cluster is already running (launcher pid $(cat "$DIR/launcher.pid")); run bench/mmgs-down.sh first" >&2
  exit 1
fi
rm -rf "$DIR/data" "$DIR/logs"
mkdir -p "$DIR"
python3 - "$DIR" "$FRONTENDS" "$ROUTERS" "$TRANSPORTS" "$MANAGERS" "$EVENT_LOOPS" "$LEASES" <<'PY'
import json, sys
d, fe, ro, tr, ma, loops, leases = sys.argv[1], *map(int, sys.argv[2:])
nodes = []
for i in range(1, ma + 1):
    nodes.append({"name": f"topology-{i}", "role": "topology", "etunnel": f"127.0.0.1:{9100 + i}", "http": f"127.0.0.1:{9180 + i}"})
for i in range(1, fe + 1):
    nodes.append({"name": f"frontend-{i}", "role": "frontend", "etunnel": f"127.0.0.1:{9200 + i}", "http": f"127.0.0.1:{9280 + i}",
                  "xmpp": f"127.0.0.1:{5221 + i}"})
for i in range(1, ro + 1):
    nodes.append({"name": f"router-{i}", "role": "router", "etunnel": f"127.0.0.1:{9300 + i}", "http": f"127.0.0.1:{9380 + i}",
                  "data": f"{d}/data/router-{i}"})
for i in range(1, tr + 1):
    nodes.append({"name": f"transport-{i}", "role": "transport", "etunnel": f"127.0.0.1:{9400 + i}", "http": f"127.0.0.1:{9480 + i}"})
doc = {"cluster": "bench", "domain": "bench.local", "secret": "benchmark-cluster-secret-loopback", "log_level": "warning",
       "allow_plain_without_tls": True, "seeds": [n["etunnel"] for n in nodes if n["role"] == "topology"], "nodes": nodes}
if loops: doc["event_loops"] = loops
if not leases: doc["delivery_leases"] = False
open(f"{d}/cluster.json", "w").write(json.dumps(doc, indent=2))
PY
nohup "$BIN/mmgs" run "$DIR/cluster.json" --bin "$BIN" --logs "$DIR/logs" > "$DIR/launcher.out" 2>&1 &
echo $! > "$DIR/launcher.pid"
for _ in $(seq 1 600); do
  grep -q "cluster ready" "$DIR/launcher.out" 2>/dev/null && break
  if ! kill -0 "$(cat "$DIR/launcher.pid")" 2>/dev/null; then cat "$DIR/launcher.out" >&2; exit 1; fi
  sleep 0.1
done
grep -q "cluster ready" "$DIR/launcher.out" || { echo "the benchmark cluster did not become ready; see $DIR/logs" >&2; exit 1; }
awk '/ pid [0-9]+/ { for (i = 1; i <= NF; i++) if ($i == "pid") print $(i + 1) }' "$DIR/launcher.out" > "$DIR/node.pids"
cat "$DIR/launcher.out" >&2
paste -sd, "$DIR/node.pids"
