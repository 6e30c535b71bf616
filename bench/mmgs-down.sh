#!/usr/bin/env bash
# Stops the cluster bench/mmgs-up.sh started: SIGTERM to its launcher (which stops every node),
# then SIGKILL to any node still alive after 15 s. The data (devices, rosters, offline messages)
# stays in the run directory for the next bench/mmgs-up.sh; bench/mmgs-up.sh --fresh wipes it.
#   env:   MMGS_BENCH_DIR (default run/bench)
set -uo pipefail
cd "$(dirname "$0")/.."
DIR=${MMGS_BENCH_DIR:-run/bench}
[ -f "$DIR/launcher.pid" ] || { echo "no benchmark cluster recorded in $DIR" >&2; exit 0; }
LAUNCHER=$(cat "$DIR/launcher.pid")
kill -TERM "$LAUNCHER" 2>/dev/null
for _ in $(seq 1 150); do kill -0 "$LAUNCHER" 2>/dev/null || break; sleep 0.1; done
for pid in $(cat "$DIR/node.pids" 2>/dev/null) "$LAUNCHER"; do
  if kill -0 "$pid" 2>/dev/null; then echo "pid $pid still running: SIGKILL" >&2; kill -KILL "$pid" 2>/dev/null; fi
done
rm -f "$DIR/launcher.pid"
echo "benchmark cluster stopped"
