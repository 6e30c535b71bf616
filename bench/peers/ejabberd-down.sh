#!/usr/bin/env bash
# Stops the benchmark's ejabberd started by ejabberd-up.sh: exactly the PIDs in
# run/bench/ejabberd/pids (SIGTERM: the Erlang VM shuts down cleanly; SIGKILL after the timeout).
#   usage: bench/peers/ejabberd-down.sh [--timeout 20]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
TIMEOUT=20
while [ $# -gt 0 ]; do
  case $1 in
    --timeout) TIMEOUT=$2; shift 2;;
    -h|--help) sed -n '2,4p' "$0"; exit 0;;
    *) die "unknown option $1";;
  esac
done
RUN=$BENCH_RUN/ejabberd
# The node name is in the VM's command line: a PID reused by another process is not touched.
stop_pids "$RUN/pids" "-sname ejabberd-bench@localhost" "$TIMEOUT"
