#!/usr/bin/env bash
# ejabberdctl for the benchmark's private ejabberd (run/bench/ejabberd): its config dir, spool,
# logs, node name, cookie and distribution port; no epmd. Runs as the ejabberd user through
# setpriv, not su (su's PAM session would lower the open-files limit to 1024).
#   usage: bench/peers/ejabberd-ctl.sh status | registered_users bench.local | stats onlineusers | ...
set -euo pipefail
source "$(dirname "$0")/lib.sh"
RUN=$BENCH_RUN/ejabberd
[ -f "$RUN/conf/ejabberdctl.cfg" ] || die "no $RUN/conf/ejabberdctl.cfg: run bench/peers/ejabberd-up.sh first"
cd "$RUN/spool"
exec env HOME="$RUN" setpriv --reuid ejabberd --regid ejabberd --init-groups \
  ejabberdctl --config-dir "$RUN/conf" --spool "$RUN/spool" --logs "$RUN/logs" "$@"
