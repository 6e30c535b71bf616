#!/usr/bin/env bash
# Provision N benchmark devices user1…userN with password `pw` (what mmgs-bench logs in as by
# default), in bulk: one derived credential, sent to the routers in batches.
#   usage: bench/mmgs-provision.sh N [extra mmgsctl options, e.g. --cluster FILE]
#   env:   BIN (directory with mmgsctl, default .build/debug), PREFIX (user), PASSWORD (pw), FIRST (1)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:?usage: bench/mmgs-provision.sh N [mmgsctl options]}
shift
BIN=${BIN:-.build/debug}
[ -x "$BIN/mmgsctl" ] || { echo "missing $BIN/mmgsctl: run 'swift build --product mmgsctl' (or set BIN)" >&2; exit 1; }
start=$(date +%s.%N)
"$BIN/mmgsctl" device import --prefix "${PREFIX:-user}" --count "$N" --first "${FIRST:-1}" --password "${PASSWORD:-pw}" "$@"
echo "provisioned ${PREFIX:-user}${FIRST:-1}…${PREFIX:-user}$(( ${FIRST:-1} + N - 1 )) in $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.2f", e-s}') s"
