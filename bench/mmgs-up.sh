#!/usr/bin/env bash
# Starts a local MMGS cluster configured for benchmarking: plain c2s with SASL PLAIN allowed,
# domain bench.local, front-ends on 127.0.0.1:5222, :5223, … Prints the comma-separated PIDs of
# every MMGS node process on its LAST line. Stop it with bench/mmgs-down.sh.
#   usage: bench/mmgs-up.sh [--frontends N] [--routers N] [--transports N] [--managers N] [--event-loops N]
#                           [--no-leases]   (delivery_leases: false, every message through its router)
#                           [--port 5222] [--node-ports 9100] [--fresh]
#   --port        the first front-end's XMPP port (the next ones take the ports after it).
#   --node-ports  eTunnel and HTTP ports: managers BASE+1…, front-ends BASE+101…, routers BASE+201…,
#                 transports BASE+301… (HTTP: the same +80).
#   --fresh       wipe the data (devices, rosters, offline messages: the routers' journals) and the
#                 logs first. Without it the data of the previous start in this run directory is
#                 kept: devices provisioned once stay across bench/mmgs-down.sh and mmgs-up.sh.
#                 Devices are not moved between routers, so kept data needs the same --routers.
#   env:   MMGS_BIN (default .build-release/release; built if missing), MMGS_BENCH_DIR (default run/bench)
# The run directory holds the cluster file (cluster.json, which bench/mmgs-provision.sh uses by
# default), the binary directory (bin), launcher.pid, node.pids, data/ and logs/.
set -euo pipefail
cd "$(dirname "$0")/.."
FRONTENDS=2 ROUTERS=2 TRANSPORTS=1 MANAGERS=1 EVENT_LOOPS=0 LEASES=1 XMPP_PORT=5222 NODE_PORTS=9100 FRESH=0
while [ $# -gt 0 ]; do
  case "$1" in
    --frontends) FRONTENDS=$2; shift 2 ;;
    --routers) ROUTERS=$2; shift 2 ;;
    --transports) TRANSPORTS=$2; shift 2 ;;
    --managers) MANAGERS=$2; shift 2 ;;
    --event-loops) EVENT_LOOPS=$2; shift 2 ;;
    --no-leases) LEASES=0; shift ;;
    --port) XMPP_PORT=$2; shift 2 ;;
    --node-ports) NODE_PORTS=$2; shift 2 ;;
    --fresh) FRESH=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "mmgs-up.sh: unknown option $1 (known: --frontends --routers --transports --managers --event-loops --no-leases --port --node-ports --fresh)" >&2; exit 2 ;;
  esac
done
for value in "$FRONTENDS" "$ROUTERS" "$TRANSPORTS" "$MANAGERS" "$EVENT_LOOPS" "$XMPP_PORT" "$NODE_PORTS"; do
  [[ $value =~ ^[0-9]+$ ]] || { echo "mmgs-up.sh: '$value' is not a number" >&2; exit 2; }
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
if [ "$FRESH" = 1 ]; then
  rm -rf "$DIR/data" "$DIR/logs"
elif [ -d "$DIR/data" ]; then
  echo "keeping the data of the previous start in $DIR/data (--fresh wipes it)" >&2
fi
mkdir -p "$DIR/data"
python3 - "$DIR" "$FRONTENDS" "$ROUTERS" "$TRANSPORTS" "$MANAGERS" "$EVENT_LOOPS" "$LEASES" "$XMPP_PORT" "$NODE_PORTS" <<'PY'
import json, os, socket, sys
d, fe, ro, tr, ma, loops, leases, xmpp, base = sys.argv[1], *map(int, sys.argv[2:])
nodes = []
for i in range(1, ma + 1):
    nodes.append({"name": f"topology-{i}", "role": "topology", "etunnel": f"127.0.0.1:{base + i}", "http": f"127.0.0.1:{base + 80 + i}"})
for i in range(1, fe + 1):
    nodes.append({"name": f"frontend-{i}", "role": "frontend", "etunnel": f"127.0.0.1:{base + 100 + i}", "http": f"127.0.0.1:{base + 180 + i}",
                  "xmpp": f"127.0.0.1:{xmpp + i - 1}"})
for i in range(1, ro + 1):
    nodes.append({"name": f"router-{i}", "role": "router", "etunnel": f"127.0.0.1:{base + 200 + i}", "http": f"127.0.0.1:{base + 280 + i}",
                  "data": f"{d}/data/router-{i}"})
for i in range(1, tr + 1):
    nodes.append({"name": f"transport-{i}", "role": "transport", "etunnel": f"127.0.0.1:{base + 300 + i}", "http": f"127.0.0.1:{base + 380 + i}"})
# The kept data holds each router's devices; they are not moved to another router.
layout = "routers=" + ",".join(n["name"] for n in nodes if n["role"] == "router")
try:
    kept = open(f"{d}/data/layout").read().strip()
except FileNotFoundError:
    kept = None
if kept is not None and kept != layout:
    sys.exit(f"mmgs-up.sh: the data in {d}/data was written by a cluster with {kept}, not {layout}: "
             f"devices are not moved between routers, so use --routers {kept.count(',') + 1} again, or --fresh to wipe the data")
for n in nodes:
    for key in ("etunnel", "http", "xmpp"):
        if key not in n:
            continue
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the nodes do: a listener fails this, TIME_WAIT does not
        try:
            s.bind(("127.0.0.1", int(n[key].rsplit(":", 1)[1])))
        except OSError as error:
            sys.exit(f"mmgs-up.sh: {n[key]} ({n['name']} {key}) is not free: {error.strerror} "
                     f"(another cluster on these ports, e.g. make run or a benchmark cluster of another MMGS_BENCH_DIR? "
                     f"--port and --node-ports move this one)")
        finally:
            s.close()
open(f"{d}/data/layout", "w").write(layout + "\n")
doc = {"cluster": "bench", "domain": "bench.local", "secret": "benchmark-cluster-secret-loopback", "log_level": "warning",
       "allow_plain_without_tls": True, "seeds": [n["etunnel"] for n in nodes if n["role"] == "topology"], "nodes": nodes}
if loops: doc["event_loops"] = loops
if not leases: doc["delivery_leases"] = False
open(f"{d}/cluster.json", "w").write(json.dumps(doc, indent=2))
PY
(cd "$BIN" && pwd) > "$DIR/bin"
nohup "$BIN/mmgs" run "$DIR/cluster.json" --bin "$BIN" --logs "$DIR/logs" > "$DIR/launcher.out" 2>&1 < /dev/null &
echo $! > "$DIR/launcher.pid"
for _ in $(seq 1 600); do
  grep -q "cluster ready" "$DIR/launcher.out" 2>/dev/null && break
  if ! kill -0 "$(cat "$DIR/launcher.pid")" 2>/dev/null; then cat "$DIR/launcher.out" >&2; exit 1; fi
  sleep 0.1
done
awk '/ pid [0-9]+/ { for (i = 1; i <= NF; i++) if ($i == "pid") print $(i + 1) }' "$DIR/launcher.out" > "$DIR/node.pids"
if ! grep -q "cluster ready" "$DIR/launcher.out"; then
  cat "$DIR/launcher.out" >&2
  echo "the benchmark cluster did not become ready in 60 s; see $DIR/logs. Stopping it." >&2
  bench/mmgs-down.sh >&2
  exit 1
fi
cat "$DIR/launcher.out" >&2
paste -sd, "$DIR/node.pids"
