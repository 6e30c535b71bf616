#!/usr/bin/env bash
# Provision N benchmark devices user1…userN with password `pw` (what mmgs-bench logs in as by
# default), in bulk: one derived credential, sent to the routers in batches. Devices that exist
# are replaced, so provisioning again is harmless.
#   usage: bench/mmgs-provision.sh N [extra mmgsctl options, e.g. --cluster FILE]
#   By default it provisions the benchmark cluster bench/mmgs-up.sh is running (the cluster file
#   it wrote, MMGS_BENCH_DIR/cluster.json, default run/bench/cluster.json), with the binaries that
#   cluster runs, and fails if none is running. --cluster FILE or --seed HOST:PORT provisions
#   another cluster instead ($MMGS_CONFIG is not followed: pass --cluster "$MMGS_CONFIG").
#   env:   BIN (directory with mmgsctl; default: the benchmark cluster's, else .build/debug),
#          MMGS_BENCH_DIR (run/bench), PREFIX (user), PASSWORD (pw), FIRST (1)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:?usage: bench/mmgs-provision.sh N [mmgsctl options]}
[[ $N =~ ^[0-9]+$ ]] || { echo "mmgs-provision.sh: N must be a number of devices, got '$N'" >&2; exit 2; }
shift
DIR=${MMGS_BENCH_DIR:-run/bench}
OTHER=0
for arg in "$@"; do
  case "$arg" in --cluster|--cluster=*|--seed|--seed=*) OTHER=1 ;; esac
done
WHERE="the cluster given ($*)"
if [ "$OTHER" = 0 ]; then
  if ! { [ -f "$DIR/launcher.pid" ] && kill -0 "$(cat "$DIR/launcher.pid")" 2>/dev/null; }; then
    echo "mmgs-provision.sh: no benchmark cluster is running in $DIR (no live launcher in $DIR/launcher.pid):" \
         "start one with bench/mmgs-up.sh (same MMGS_BENCH_DIR), or pass --cluster FILE to provision another cluster" >&2
    exit 1
  fi
  [ -f "$DIR/cluster.json" ] || { echo "mmgs-provision.sh: $DIR/cluster.json is missing: restart the cluster with bench/mmgs-down.sh and bench/mmgs-up.sh" >&2; exit 1; }
  set -- --cluster "$DIR/cluster.json" "$@"
  BIN=${BIN:-$(cat "$DIR/bin" 2>/dev/null || echo .build/debug)}
  WHERE="the benchmark cluster in $DIR"
fi
BIN=${BIN:-.build/debug}
[ -x "$BIN/mmgsctl" ] || { echo "missing $BIN/mmgsctl: run 'swift build --product mmgsctl' (or set BIN)" >&2; exit 1; }
start=$(date +%s.%N)
"$BIN/mmgsctl" device import --prefix "${PREFIX:-user}" --count "$N" --first "${FIRST:-1}" --password "${PASSWORD:-pw}" "$@"
echo "provisioned ${PREFIX:-user}${FIRST:-1}…${PREFIX:-user}$(( ${FIRST:-1} + N - 1 )) into $WHERE in $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.2f", e-s}') s"
