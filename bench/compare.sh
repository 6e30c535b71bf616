#!/usr/bin/env bash
# MMGS beside ejabberd and Prosody, same box, same generator, same run: for each server and each
# run it starts the server fresh on loopback, provisions the accounts, runs mmgs-bench idle, chat
# and login-storm, and stops the server by its PIDs; runs of the servers take turns. At the end
# it writes the side-by-side table (medians over the runs, with their range) into
# docs/performance.md between the compare markers.
#
#   usage: bench/compare.sh [--runs 3] [--devices 1000] [--idle-devices 10000] [--idle-rate 500]
#                           [--rates 2000,4000,…] [--login-rates 250,500,1000,2000,3000]
#                           [--login-devices 2000]
#                           [--step-seconds 8] [--warmup-seconds 4] [--servers mmgs,ejabberd,prosody]
#                           (mmgs-noleases: MMGS with delivery_leases off, for an A/B in one run;
#                            mmgs-base: the MMGS release binaries in BASE_BIN, e.g. a build of
#                            the commit before a change, driven by the same generator)
#                           [--mechanism SCRAM-SHA-256] [--mmgs-event-loops N]
#                           [--out docs/performance.md | --no-write]
#   env:   BIN (release binaries, default .build-release/release; built if missing),
#          BASE_BIN (for mmgs-base)
#
# Every scenario's JSON report is kept under run/compare/<timestamp>/. Bounded: each chat run
# stops at the first step over the p99 bound (100 ms) or with a message missing, each login
# storm at the first step that fails; every server started is stopped, also on error.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=3 DEVICES=1000 IDLE_DEVICES=10000 LOGIN_DEVICES=2000 STEP_SECONDS=8 WARMUP=4 MECHANISM=SCRAM-SHA-256
RATES=500,1000,2000,4000,8000,12000,16000,20000,24000,28000
IDLE_RATE=500
LOGIN_RATES=250,500,1000,2000,3000
SERVERS=mmgs,ejabberd,prosody OUT=docs/performance.md MMGS_LOOPS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --devices) DEVICES=$2; shift 2 ;;
    --idle-devices) IDLE_DEVICES=$2; shift 2 ;;
    --idle-rate) IDLE_RATE=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    --login-rates) LOGIN_RATES=$2; shift 2 ;;
    --login-devices) LOGIN_DEVICES=$2; shift 2 ;;
    --step-seconds) STEP_SECONDS=$2; shift 2 ;;
    --warmup-seconds) WARMUP=$2; shift 2 ;;
    --servers) SERVERS=$2; shift 2 ;;
    --mechanism) MECHANISM=$2; shift 2 ;;
    --mmgs-event-loops) MMGS_LOOPS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-write) OUT=""; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ "$IDLE_DEVICES" -le 19000 ] || { echo "compare.sh: --idle-devices must stay under 19000: ejabberd and Prosody are one process each, capped at 20,000 open files" >&2; exit 2; }
BIN=${BIN:-.build-release/release}
if [ ! -x "$BIN/mmgs-bench" ]; then
  echo "building release binaries into $BIN …" >&2
  swift build -c release --scratch-path .build-release >&2
fi
case "$MECHANISM" in
  SCRAM-SHA-256) PEER_AUTH=scram-sha-256 ;;
  SCRAM-SHA-1) PEER_AUTH=scram ;;
  PLAIN) PEER_AUTH=plain ;;
  *) echo "compare.sh: --mechanism must be PLAIN, SCRAM-SHA-1 or SCRAM-SHA-256" >&2; exit 2 ;;
esac
ACCOUNTS=$(( DEVICES > IDLE_DEVICES ? DEVICES : IDLE_DEVICES ))
ACCOUNTS=$(( ACCOUNTS > LOGIN_DEVICES ? ACCOUNTS : LOGIN_DEVICES ))
RESULTS=run/compare/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RESULTS"
RUNNING=""
stop_running() {
  case "$RUNNING" in
    mmgs) bench/mmgs-down.sh >/dev/null 2>&1 || true ;;
    ejabberd) bench/peers/ejabberd-down.sh >/dev/null 2>&1 || true ;;
    prosody) bench/peers/prosody-down.sh --purge >/dev/null 2>&1 || true ;;
  esac
  RUNNING=""
}
trap stop_running EXIT

# start SERVER: starts it, provisions ACCOUNTS accounts; sets PIDS and TARGETS.
start() {
  local out
  case "$1" in
    mmgs|mmgs-noleases|mmgs-base)
      local bin=$BIN
      if [ "$1" = mmgs-base ]; then
        bin=${BASE_BIN:?compare.sh: mmgs-base needs BASE_BIN, the release binaries of the baseline}
      fi
      out=$(MMGS_BIN="$bin" bench/mmgs-up.sh --fresh --frontends 2 --routers 2 ${MMGS_LOOPS:+--event-loops $MMGS_LOOPS} \
            $([ "$1" = mmgs-noleases ] && echo --no-leases))
      RUNNING=mmgs
      PIDS=$(tail -n 1 <<< "$out")
      TARGETS="--target 127.0.0.1:5222 --target 127.0.0.1:5223"
      BIN="$bin" bench/mmgs-provision.sh "$ACCOUNTS" >&2 ;;
    ejabberd)
      out=$(bench/peers/ejabberd-up.sh --auth "$PEER_AUTH" --fresh)
      RUNNING=ejabberd
      PIDS=$(tail -n 1 <<< "$out")
      TARGETS="--target 127.0.0.1:5322"
      python3 bench/peers/provision.py --server ejabberd --count "$ACCOUNTS" >&2 ;;
    prosody)
      out=$(bench/peers/prosody-up.sh --auth "$PEER_AUTH" --fresh)
      RUNNING=prosody
      PIDS=$(tail -n 1 <<< "$out")
      TARGETS="--target 127.0.0.1:5422"
      python3 bench/peers/provision.py --server prosody --count "$ACCOUNTS" >&2 ;;
    *) echo "compare.sh: unknown server $1" >&2; exit 2 ;;
  esac
}

# settle: waits (at most 60 s) until the server's processes use under 5 % of a core together,
# so that one scenario does not inherit the previous one's teardown (Prosody needs seconds to
# close 10,000 sessions).
settle() {
  local before after
  ticks() { local total=0; for pid in ${PIDS//,/ }; do [ -r /proc/$pid/stat ] && total=$(( total + $(awk '{print $14 + $15}' /proc/$pid/stat) )); done; echo $total; }
  for _ in $(seq 1 60); do
    before=$(ticks); sleep 1; after=$(ticks)
    [ $(( after - before )) -lt 5 ] && return 0
  done
  echo "compare.sh: $RUNNING still busy after 60 s; going on" >&2
}

# Runs are interleaved (run 1 of every server, then run 2 of every server, …) and every run
# starts its server fresh: a box that drifts during the hour this takes then shifts every server's
# medians alike instead of favouring the server measured first, and every run's idle step
# measures the memory of a fresh server.
for run in $(seq 1 "$RUNS"); do
  for server in ${SERVERS//,/ }; do
    echo "== $server run $run/$RUNS" >&2
    start "$server"
    common="$TARGETS --domain bench.local --mechanism $MECHANISM --target-pids $PIDS --source-addresses 2"
    settle
    echo "-- $server run $run/$RUNS: idle ($IDLE_DEVICES devices)" >&2
    "$BIN/mmgs-bench" idle $common --devices "$IDLE_DEVICES" --rate "$IDLE_RATE" --hold 10 --processes 2 \
      --json "$RESULTS/$server-idle-$run.json" | grep -E "^(login|result|  all targets)" >&2 || true
    settle
    echo "-- $server run $run/$RUNS: chat ($DEVICES devices)" >&2
    "$BIN/mmgs-bench" chat $common --devices "$DEVICES" --rate 500 --rates "$RATES" --step-seconds "$STEP_SECONDS" \
      --warmup-seconds "$WARMUP" --p99-bound-ms 100 --json "$RESULTS/$server-chat-$run.json" | grep -E "^(step|result)" | cut -c1-160 >&2 || true
    settle
    echo "-- $server run $run/$RUNS: login storm ($LOGIN_DEVICES devices)" >&2
    "$BIN/mmgs-bench" login-storm $common --devices "$LOGIN_DEVICES" --rates "$LOGIN_RATES" --p99-bound-ms 1000 \
      --json "$RESULTS/$server-login-$run.json" | grep -E "^(step|result)" | cut -c1-160 >&2 || true
    stop_running
  done
done

python3 bench/compare_report.py "$RESULTS" ${OUT:+--write "$OUT"} \
  --command "bench/compare.sh --runs $RUNS --devices $DEVICES --idle-devices $IDLE_DEVICES --mechanism $MECHANISM --warmup-seconds $WARMUP${MMGS_LOOPS:+ --mmgs-event-loops $MMGS_LOOPS} --servers $SERVERS"
