#!/usr/bin/env bash
# Stops the benchmark's Prosody started by prosody-up.sh: exactly the PID in
# run/bench/prosody/pids (SIGTERM: Prosody shuts down cleanly; SIGKILL after the timeout).
#   usage: bench/peers/prosody-down.sh [--timeout 20] [--purge]
#   --purge  also delete the in-memory data directory (/dev/shm/mmgs-bench/prosody-data, the
#            accounts) once stopped; otherwise it stays for the next start until a reboot.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
TIMEOUT=20 PURGE=""
while [ $# -gt 0 ]; do
  case $1 in
    --timeout) TIMEOUT=$2; shift 2;;
    --purge) PURGE=1; shift;;
    -h|--help) sed -n '2,6p' "$0"; exit 0;;
    *) die "unknown option $1";;
  esac
done
RUN=$BENCH_RUN/prosody
# The config path is in its command line: a PID reused by another process is not touched.
stop_pids "$RUN/pids" "$RUN/conf/prosody.cfg.lua" "$TIMEOUT"
if [ -n "$PURGE" ]; then
  tmp=$(prosody_tmpfs_data)
  rm -rf "$tmp" && rmdir "$(dirname "$tmp")" 2>/dev/null || true
  [ -L "$RUN/data" ] && rm -f "$RUN/data"
  log "purged $tmp"
fi
