#!/usr/bin/env bash
# Validates the peer-server scripts end to end, for ejabberd and then Prosody: start the server
# (fresh, in its own run directory run/bench-selftest), provision COUNT accounts, log two real
# XMPP clients in (slixmpp: PLAIN on plain TCP, and STARTTLS + SCRAM-SHA-1) and exchange messages,
# stop the server by its PIDs, then check that none of its processes and none of its listeners
# remain. Whatever happens, every server it started is stopped on exit (trap).
#
#   usage: bench/peers/selftest.sh [--count 1000] [--only ejabberd|prosody]
#                                  [--ejabberd-port 5322] [--prosody-port 5422]
# Ends with "N passed, N failed"; exits non-zero on any failure.
set -uo pipefail
PEERS=$(cd "$(dirname "$0")" && pwd)
export MMGS_BENCH_RUN=${MMGS_BENCH_RUN:-$(cd "$PEERS/../.." && pwd)/run/bench-selftest}
source "$PEERS/lib.sh"

COUNT=1000 ONLY="" EJ_PORT=5322 PR_PORT=5422
while [ $# -gt 0 ]; do
  case $1 in
    --count) COUNT=$2; shift 2;;
    --only) ONLY=$2; shift 2;;
    --ejabberd-port) EJ_PORT=$2; shift 2;;
    --prosody-port) PR_PORT=$2; shift 2;;
    -h|--help) sed -n '2,10p' "$0"; exit 0;;
    *) die "unknown option $1";;
  esac
done
[ "$(id -u)" = 0 ] || die "run as root"

PASSED=0 FAILED=0
STARTED=()   # servers whose up script ran: stopped by the trap
pass() { PASSED=$((PASSED + 1)); echo "ok   $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $*"; }

cleanup() {
  local server
  for server in "${STARTED[@]}"; do
    [ -s "$BENCH_RUN/$server/pids" ] || { [ "$server" = prosody ] && rm -rf "$(prosody_tmpfs_data)"; continue; }
    echo "cleanup: stopping $server (PIDs $(cat "$BENCH_RUN/$server/pids"))"
    if [ "$server" = prosody ]; then
      timeout 60 "$PEERS/$server-down.sh" --timeout 15 --purge || true
    else
      timeout 60 "$PEERS/$server-down.sh" --timeout 15 || true
    fi
  done
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM HUP

python3 -c "import slixmpp" 2>/dev/null || python3 -m pip install -q "slixmpp==1.17.0" || die "could not install slixmpp"

# leftovers RUN_DIR : live (non-zombie) processes whose command line names RUN_DIR.
leftovers() {
  local dir pid
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    [ "$pid" = $$ ] && continue
    { tr '\0' ' ' < "$dir/cmdline"; } 2>/dev/null | grep -qF -- "$1" || continue
    alive "$pid" && echo "$pid"
  done
}

# run_server NAME PORT [EXTRA_PORT]
run_server() {
  local name=$1 port=$2 extra_port=${3:-} run=$BENCH_RUN/$1 out pids kids=() pid t0 json
  echo "=== $name (run directory $run, c2s 127.0.0.1:$port)"
  STARTED+=("$name")
  t0=$SECONDS
  if ! out=$(timeout 300 "$PEERS/$name-up.sh" --port "$port" --fresh 2>"$BENCH_RUN/$name-up.err"); then
    fail "$name-up.sh failed: $(tail -5 "$BENCH_RUN/$name-up.err" | tr '\n' ' ')"
    return
  fi
  pids=$(tail -1 <<<"$out")
  if [[ $pids =~ ^[0-9]+(,[0-9]+)*$ ]]; then
    pass "$name-up.sh started it in $((SECONDS - t0)) s; last line: PIDs $pids"
  else
    fail "$name-up.sh's last line is not a PID list: '$pids'"
    return
  fi
  for pid in ${pids//,/ }; do alive "$pid" || fail "PID $pid is not running"; done
  grep -h "Max open files" "/proc/${pids%%,*}/limits" | awk -v n="$name" '{print "     " n " open files limit: " $4}'

  if json=$(timeout 300 python3 "$PEERS/provision.py" --server "$name" --count "$COUNT" --password pw \
              --prefix user --domain bench.local 2>&1) \
     && python3 -c 'import json,sys; r=json.loads(sys.argv[1].splitlines()[-1]); sys.exit(0 if r["failed"]==0 and r["created"]+r["exists"]==int(sys.argv[2]) else 1)' "$json" "$COUNT"; then
    pass "provisioned $COUNT accounts: $(tail -1 <<<"$json")"
  else
    fail "provision.py: $json"
  fi

  if timeout 120 python3 "$PEERS/xmpp_check.py" --port "$port" --domain bench.local --password pw --prefix user \
       | sed 's/^/     /'; then
    pass "two slixmpp clients logged in and exchanged messages"
  else
    fail "xmpp_check.py (above)"
  fi

  local errors
  if [ "$name" = ejabberd ]; then
    errors=$(grep -h '\[error\]\|\[critical\]' "$run/logs/ejabberd.log" 2>/dev/null | head -3)
  else
    errors=$(grep -hP '\t(error)\t' "$run/logs/prosody.log" 2>/dev/null | head -3)
  fi
  if [ -z "$errors" ]; then pass "no error in $name's log"; else fail "errors in $name's log: $errors"; fi

  for pid in ${pids//,/ }; do mapfile -t -O ${#kids[@]} kids < <(descendants "$pid"); done
  t0=$SECONDS
  local down_args=()
  [ "$name" = prosody ] && down_args=(--purge)   # its accounts live in /dev/shm
  if timeout 60 "$PEERS/$name-down.sh" "${down_args[@]}" 2>&1 | sed 's/^/     /'; then
    pass "$name-down.sh returned in $((SECONDS - t0)) s"
  else
    fail "$name-down.sh failed"
  fi
  local left=()
  for pid in ${pids//,/ } "${kids[@]}"; do alive "$pid" && left+=("$pid"); done
  mapfile -t -O ${#left[@]} left < <(leftovers "$run")
  if [ ${#left[@]} -eq 0 ]; then
    pass "no process of $name remains (checked PIDs $pids, their children ${kids[*]:-none}, and every command line naming $run)"
  else
    fail "processes of $name remain: $(ps -o pid=,stat=,args= -p "$(IFS=,; echo "${left[*]}")" | tr '\n' ';')"
  fi
  local p busy=""
  for p in "$port" $extra_port; do port_in_use "$p" && busy="$busy $p"; done
  if [ -z "$busy" ]; then pass "nothing listens on 127.0.0.1:$port${extra_port:+ or :$extra_port} any more"; else fail "still listening:$busy"; fi
}

mkdir -p "$BENCH_RUN"
[ -z "$ONLY" ] || [ "$ONLY" = ejabberd ] && run_server ejabberd "$EJ_PORT" "$((EJ_PORT + 1))"
[ -z "$ONLY" ] || [ "$ONLY" = prosody ] && run_server prosody "$PR_PORT"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
