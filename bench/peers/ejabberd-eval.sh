#!/usr/bin/env bash
# Evaluates Erlang expressions inside the benchmark's running ejabberd node (run/bench/ejabberd)
# and prints the value of the last one. A hidden node connects over the node's distribution
# port on 127.0.0.1 (no epmd) with the run directory's cookie.
#   usage: bench/peers/ejabberd-eval.sh 'mnesia:table_info(passwd, size)'
#          bench/peers/ejabberd-eval.sh 'ejabberd_auth:count_users(<<"bench.local">>)'
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ $# -eq 1 ] || die "usage: $0 'EXPRESSIONS'"
RUN=$BENCH_RUN/ejabberd
[ -f "$RUN/env.json" ] || die "no $RUN/env.json: run bench/peers/ejabberd-up.sh first"
read -r NODE DIST_PORT < <(python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); print(e["node"], e["dist_port"])' "$RUN/env.json")
EXPR=$1 exec erl -sname "eval$$@localhost" -hidden -noshell -noinput \
  -setcookie "$(cat "$RUN/conf/cookie")" -erl_epmd_port "$DIST_PORT" -start_epmd false -dist_listen false \
  -eval '
    Node = list_to_atom("'"$NODE"'"),
    Source = os:getenv("EXPR"),
    Exprs = case erl_scan:string(Source ++ ".") of
              {ok, Tokens, _} -> case erl_parse:parse_exprs(Tokens) of
                                   {ok, E} -> E;
                                   {error, PE} -> io:format(standard_error, "parse error: ~p~n", [PE]), halt(2)
                                 end;
              {error, SE, _} -> io:format(standard_error, "scan error: ~p~n", [SE]), halt(2)
            end,
    case rpc:call(Node, erl_eval, exprs, [Exprs, []], 600000) of
      {value, Value, _} -> io:format("~p~n", [Value]), halt(0);
      {badrpc, Reason} -> io:format(standard_error, "badrpc: ~p~n", [Reason]), halt(1)
    end.'
