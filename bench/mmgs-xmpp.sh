#!/usr/bin/env bash
# XMPP benchmark of a local MMGS cluster: writes a cluster file with free loopback ports (data
# under a temporary directory, PLAIN allowed without TLS), starts it with `mmgs run`,
# provisions DEVICES devices, runs mmgs-bench idle then chat, and stops the cluster.
#   usage: bench/mmgs-xmpp.sh [DEVICES] [CHAT_RATES] [STEP_SECONDS] [HOLD_SECONDS]
#   env:   BIN (default .build/release; must hold mmgs, mmgs-*, mmgsctl and mmgs-bench),
#          MECHANISM (SCRAM-SHA-256), PROCESSES (1), KEEP=1 keeps the work directory,
#          PERF_OUT=FILE records a CPU profile of every MMGS process (needs perf: apt-get install linux-perf; perf record -g,
#          PERF_DELAY seconds after the PERF_PHASE scenario starts (idle or chat), for PERF_SECONDS;
#          defaults 20 and 8),
#          SKIP_IDLE=1 / SKIP_CHAT=1 skip a scenario, LOGIN_RATE (500 logins/s),
#          FRONTENDS and ROUTERS (2 each, as in deploy/local; each front-end process may hold
#          ~19,000 devices under the 20,000 open-files cap), SOURCES (4 loopback source addresses),
#          EVENT_LOOPS (event-loop threads per node process; default one per core)
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${1:-1000}
RATES=${2:-500,1000,2000,5000}
STEP_SECONDS=${3:-10}
HOLD=${4:-10}
BIN=${BIN:-.build/release}
for tool in mmgs mmgsctl mmgs-bench mmgs-frontend mmgs-router mmgs-topology mmgs-transport; do
  [ -x "$BIN/$tool" ] || { echo "missing $BIN/$tool: build the package (or set BIN)" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/mmgs-xmpp.XXXXXX)
python3 - "$WORK" "${FRONTENDS:-2}" "${ROUTERS:-2}" "${EVENT_LOOPS:-0}" <<'PY'
import json, socket, sys
work, frontends, routers, loops = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
cluster = json.load(open("deploy/local/cluster.json"))
def scale(role, count):
    nodes = [n for n in cluster["nodes"] if n["role"] == role]
    others = [n for n in cluster["nodes"] if n["role"] != role]
    cluster["nodes"] = others + [dict(nodes[0], name=f"{role}-{i + 1}") for i in range(count)]
scale("frontend", frontends)
scale("router", routers)
def free():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port
for key in ("tls_certificate", "tls_key"): cluster.pop(key, None)
if loops: cluster["event_loops"] = loops
cluster.update(cluster="xmpp-bench", domain="bench.local", allow_plain_without_tls=True, log_level="warning")
for node in cluster["nodes"]:
    for key in ("etunnel", "http", "xmpp"):
        if key in node: node[key] = f"127.0.0.1:{free()}"
    if node["role"] == "router": node["data"] = f"{work}/data/{node['name']}"
cluster["seeds"] = [n["etunnel"] for n in cluster["nodes"] if n["role"] == "topology"]
json.dump(cluster, open(f"{work}/cluster.json", "w"), indent=1)
open(f"{work}/targets", "w").write(" ".join(f"--target {n['xmpp']}" for n in cluster["nodes"] if "xmpp" in n))
PY
"$BIN/mmgs" run "$WORK/cluster.json" --bin "$BIN" --logs "$WORK/logs" > "$WORK/launcher.out" 2>&1 &
LAUNCHER=$!
stop() {
  kill -INT $LAUNCHER 2>/dev/null || true
  wait $LAUNCHER 2>/dev/null || true
  if pgrep -f "$WORK/cluster.json" >/dev/null; then echo "warning: cluster processes left over" >&2; fi
  [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap stop EXIT
for _ in $(seq 1 300); do grep -q "cluster ready" "$WORK/launcher.out" 2>/dev/null && break; sleep 0.1; done
grep -q "cluster ready" "$WORK/launcher.out" || { echo "cluster did not start" >&2; cat "$WORK/launcher.out" >&2; exit 1; }
PIDS=$(pgrep -d, -P $LAUNCHER)
BIN="$BIN" bench/mmgs-provision.sh "$DEVICES" --cluster "$WORK/cluster.json"
COMMON="$(cat "$WORK/targets") --domain bench.local --devices $DEVICES --rate ${LOGIN_RATE:-500} --mechanism ${MECHANISM:-SCRAM-SHA-256} --processes ${PROCESSES:-1} --source-addresses ${SOURCES:-4} --target-pids $PIDS"
profile() {  # profile PHASE: perf record of every MMGS process when PERF_PHASE is PHASE
  [ -n "${PERF_OUT:-}" ] && [ "${PERF_PHASE:-chat}" = "$1" ] || return 0
  (sleep "${PERF_DELAY:-20}"; perf record -q -F 999 -g -e cpu-clock -p "$PIDS" -o "$PERF_OUT" -- sleep "${PERF_SECONDS:-8}" >/dev/null 2>&1) &
}
if [ "${SKIP_IDLE:-0}" != 1 ]; then
  echo "== idle"
  profile idle
  "$BIN/mmgs-bench" idle $COMMON --hold "$HOLD" --json "${JSON_DIR:-$WORK}/idle.json"
fi
[ "${SKIP_CHAT:-0}" = 1 ] && exit 0
echo "== chat"
profile chat
"$BIN/mmgs-bench" chat $COMMON --rates "$RATES" --step-seconds "$STEP_SECONDS" --json "${JSON_DIR:-$WORK}/chat.json"
