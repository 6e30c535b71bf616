# Shared helpers of the peer-server scripts (sourced, not run). Bash only.
# shellcheck shell=bash

PEERS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$PEERS_DIR/../.." && pwd)
# Every run directory lives under run/bench (git-ignored through /run/); MMGS_BENCH_RUN moves it.
BENCH_RUN=${MMGS_BENCH_RUN:-$REPO_ROOT/run/bench}

# Prosody's data directory with --storage tmpfs: one per BENCH_RUN (run/bench -> mmgs-bench).
prosody_tmpfs_data() { echo "/dev/shm/mmgs-$(basename "$BENCH_RUN")/prosody-data"; }

die() { echo "error: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# apt_install PKG... : installs the Debian packages that are missing (idempotent). The package
# scripts must not start the system's own service: where no policy-rc.d exists, one that denies
# every start is put in place for the duration of the install and removed afterwards.
apt_install() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  local made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made_policy=1
  fi
  local rc=0
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || rc=$?
  [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
  [ $rc -eq 0 ] || die "apt-get install ${missing[*]} failed (rc $rc)"
}

# raise_nofile: the open-files soft limit up to the hard one (this machine: 20,000 per process),
# inherited by the server started next.
raise_nofile() {
  local hard
  hard=$(ulimit -Hn)
  [ "$hard" = unlimited ] && hard=1048576
  ulimit -Sn "$hard" 2>/dev/null || log "warning: could not raise the open-files limit to $hard"
}

# port_in_use PORT : true when something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_port PORT SECONDS : waits until 127.0.0.1:PORT accepts connections.
wait_port() {
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt "$deadline" ]; do
    port_in_use "$1" && return 0
    sleep 0.2
  done
  return 1
}

# alive PID : the process exists and is not a zombie.
alive() {
  local state
  [ -r "/proc/$1/stat" ] || return 1
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# descendants PID : every live descendant of PID (children first-level, then theirs), one a line.
descendants() {
  local kid
  for kid in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$kid"
    descendants "$kid"
  done
}

# selfsigned DIR DOMAIN : a self-signed certificate for DOMAIN (cert.pem, key.pem) made once,
# so that STARTTLS can be offered (optionally: plain c2s stays allowed).
selfsigned() {
  [ -s "$1/cert.pem" ] && [ -s "$1/key.pem" ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$2" \
    -addext "subjectAltName=DNS:$2,DNS:*.$2,DNS:localhost,IP:127.0.0.1" \
    -keyout "$1/key.pem" -out "$1/cert.pem" >/dev/null 2>&1 || die "openssl could not make a certificate"
}

# stop_pids PIDFILE MARKER TIMEOUT : stops exactly the PIDs listed (comma- or space-separated)
# in PIDFILE: SIGTERM, wait up to TIMEOUT seconds, then SIGKILL. A PID is only signalled while
# its command line still contains MARKER (a PID reused by an unrelated process is left alone).
# The descendants each PID had when the stop began (Erlang's erl_child_setup, port programs)
# are waited for too, and killed with it if they outlive the timeout.
stop_pids() {
  local pidfile=$1 marker=$2 timeout=$3 pid
  [ -s "$pidfile" ] || { log "no pid file $pidfile: nothing to stop"; return 0; }
  local listed mains=() all=()
  listed=$(tr ',' ' ' < "$pidfile")
  for pid in $listed; do
    [[ $pid =~ ^[0-9]+$ ]] || continue
    if alive "$pid" && { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$marker"; then
      mains+=("$pid")
      all+=("$pid")
      mapfile -t -O ${#all[@]} all < <(descendants "$pid")
    elif alive "$pid"; then
      log "PID $pid is alive but is not this server (no '$marker' in its command line): left alone"
    fi
  done
  if [ ${#mains[@]} -eq 0 ]; then
    log "none of PIDs $listed is running"
    rm -f "$pidfile"
    return 0
  fi
  log "SIGTERM to ${mains[*]} (with descendants: ${all[*]})"
  kill -TERM "${mains[@]}" 2>/dev/null
  local deadline=$((SECONDS + timeout)) left
  while :; do
    left=()
    for pid in "${all[@]}"; do alive "$pid" && left+=("$pid"); done
    [ ${#left[@]} -eq 0 ] && break
    if [ $SECONDS -ge "$deadline" ]; then
      log "still running after ${timeout}s: ${left[*]}: SIGKILL"
      kill -KILL "${left[@]}" 2>/dev/null
      sleep 0.5
      left=()
      for pid in "${all[@]}"; do alive "$pid" && left+=("$pid"); done
      [ ${#left[@]} -eq 0 ] && break
      log "error: still running after SIGKILL: ${left[*]}"
      return 1
    fi
    sleep 0.2
  done
  rm -f "$pidfile"
  log "stopped: ${all[*]}"
}
