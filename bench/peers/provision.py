#!/usr/bin/env python3
"""Creates benchmark accounts PREFIX1..PREFIXN on a peer server, in bulk (no process per user).

  bench/peers/provision.py --server ejabberd|prosody --count N [--start 1] --password pw
                           --prefix user --domain bench.local [--auth scram|scram-sha-256|plain]
                           [--workers 1]

ejabberd (must be running, started by ejabberd-up.sh): one hidden Erlang node connects to the
benchmark node over its distribution port (no epmd) and runs ejabberd_auth:try_register/3 for
every user inside the server, in one loop (--workers N: N parallel loops, slower on 2 cores).
It is the path of `ejabberdctl register`, so Mnesia, the auth cache and the register_user hooks
all see the accounts. With --auth scram the SCRAM-SHA-1 credentials (4096 iterations) are
derived once by the server (ejabberd_auth:password_to_scram/2) and shared by every account: they
all have the same password, so a salt per user would only cost PBKDF2 runs, not change what a
login costs.

Prosody (running or not): the account files are written straight into the data directory of
prosody-up.sh (its env.json says which; before any start, the default /dev/shm/mmgs-bench/
prosody-data), in the format of Prosody's internal storage:
  <data>/<host, %-escaped>/accounts/<user>.dat  holding  return { ["password"] = "pw"; };
(internal_plain) or, for internal_hashed (--auth scram / scram-sha-256), stored_key/server_key/
salt/iteration_count=4096, computed once here as Prosody's util.sasl.scram does (one salt for all).

--auth defaults to the mode the server was started with (its run/bench/<server>/env.json), else
scram. Existing accounts are kept (ejabberd counts them as "exists"; Prosody's are rewritten).
Prints one JSON line: {"server", "created", "exists", "failed", "seconds", "total_accounts"}.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import pathlib
import pwd
import re
import subprocess
import sys
import time
import uuid

PEERS = pathlib.Path(__file__).resolve().parent
REPO = PEERS.parent.parent
BENCH_RUN = pathlib.Path(os.environ.get("MMGS_BENCH_RUN", REPO / "run" / "bench"))
SCRAM_ITERATIONS = 4096
MAX_COUNT = 1_000_000


def fail(message: str) -> None:
    print(f"provision: error: {message}", file=sys.stderr)
    sys.exit(1)


def read_env(server: str) -> dict | None:
    path = BENCH_RUN / server / "env.json"
    return json.loads(path.read_text()) if path.exists() else None


# ---------------------------------------------------------------------------- ejabberd

ERLANG_PROGRAM = r"""
Node = '%(node)s', Host = <<"%(domain)s">>, Prefix = <<"%(prefix)s">>,
First = %(first)d, Last = %(last)d, Workers = %(workers)d, Password = <<"%(password)s">>,
Pw = case %(auth)s of
       scram -> rpc:call(Node, ejabberd_auth, password_to_scram, [Host, Password]);
       plain -> Password
     end,
case Pw of {badrpc, Why} -> io:format("BADRPC ~p~n", [Why]), halt(2); _ -> ok end,
Job = fun(W) ->
        fun() ->
          lists:foldl(
            fun(I, {Ok, Exists, Failed, FirstError}) ->
                User = <<Prefix/binary, (integer_to_binary(I))/binary>>,
                case ejabberd_auth:try_register(User, Host, Pw) of
                  ok -> {Ok + 1, Exists, Failed, FirstError};
                  {error, exists} -> {Ok, Exists + 1, Failed, FirstError};
                  Other when FirstError =:= none -> {Ok, Exists, Failed + 1, {User, Other}};
                  _ -> {Ok, Exists, Failed + 1, FirstError}
                end
            end, {0, 0, 0, none}, lists:seq(First + W, Last, Workers))
        end
      end,
Parent = self(),
[spawn(fun() -> Parent ! {done, rpc:call(Node, erlang, apply, [Job(W), []], infinity)} end)
 || W <- lists:seq(0, Workers - 1)],
Results = [receive {done, R} -> R end || _ <- lists:seq(1, Workers)],
Sum = lists:foldl(fun({O, E, F, FE}, {O0, E0, F0, FE0}) ->
                        {O0 + O, E0 + E, F0 + F, case FE0 of none -> FE; _ -> FE0 end};
                     (Bad, {O0, E0, F0, _}) -> {O0, E0, F0 + 1, Bad}
                  end, {0, 0, 0, none}, Results),
{Created, Exists, Failed, FirstError} = Sum,
Total = rpc:call(Node, ejabberd_auth, count_users, [Host]),
io:format("RESULT ~w ~w ~w ~w~nFIRSTERROR ~0p~n", [Created, Exists, Failed, Total, FirstError]),
halt(0).
"""


def provision_ejabberd(args) -> dict:
    env = read_env("ejabberd")
    if env is None:
        fail(f"no {BENCH_RUN}/ejabberd/env.json: start the server with bench/peers/ejabberd-up.sh first")
    if env["domain"] != args.domain:
        fail(f"the running ejabberd serves {env['domain']}, not {args.domain}")
    cookie = pathlib.Path(env["cookie_file"]).read_text().strip()
    program = ERLANG_PROGRAM % dict(node=env["node"], domain=args.domain, prefix=args.prefix, first=args.start,
                                    last=args.start + args.count - 1, workers=args.workers,
                                    password=args.password, auth="plain" if args.auth == "plain" else "scram")
    command = ["erl", "-sname", f"provision{os.getpid()}@localhost", "-hidden", "-noshell", "-noinput",
               "-setcookie", cookie, "-erl_epmd_port", str(env["dist_port"]), "-start_epmd", "false",
               "-dist_listen", "false", "-eval", program]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
    seconds = time.monotonic() - started
    match = re.search(r"^RESULT (\d+) (\d+) (\d+) (\S+)$", done.stdout, re.M)
    if done.returncode != 0 or not match:
        fail(f"erl exited {done.returncode}: {done.stdout.strip()} {done.stderr.strip()}")
    created, exists, failed = (int(match.group(i)) for i in (1, 2, 3))
    if failed:
        first = re.search(r"^FIRSTERROR (.*)$", done.stdout, re.M)
        print(f"provision: {failed} registrations failed; first: {first.group(1) if first else '?'}", file=sys.stderr)
    total = int(match.group(4)) if match.group(4).isdigit() else None
    return dict(created=created, exists=exists, failed=failed, seconds=round(seconds, 2), total_accounts=total)


# ---------------------------------------------------------------------------- Prosody

def prosody_escape(name: str) -> str:
    """util.datamanager's encode(): every byte that is not a letter or digit becomes %xx."""
    return "".join(c if c.isascii() and c.isalnum() else "".join(f"%{b:02x}" for b in c.encode()) for c in name)


def lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def prosody_account(password: str, auth: str) -> bytes:
    if auth == "plain":
        return f'return {{\n\t["password"] = {lua_string(password)};\n}};\n'.encode()
    # util.sasl.scram's get_scram_hasher (the salt is used as given: a UUID string, as Prosody
    # makes them); SHA-1, or SHA-256 under password_hash = "SHA-256".
    digest = "sha256" if auth == "scram-sha-256" else "sha1"
    salt = str(uuid.uuid4())
    salted = hashlib.pbkdf2_hmac(digest, password.encode(), salt.encode(), SCRAM_ITERATIONS)
    stored_key = hashlib.new(digest, hmac.new(salted, b"Client Key", digest).digest()).hexdigest()
    server_key = hmac.new(salted, b"Server Key", digest).hexdigest()
    return (f'return {{\n\t["iteration_count"] = {SCRAM_ITERATIONS};\n\t["salt"] = {lua_string(salt)};\n'
            f'\t["server_key"] = {lua_string(server_key)};\n\t["stored_key"] = {lua_string(stored_key)};\n}};\n').encode()


def provision_prosody(args) -> dict:
    env = read_env("prosody")
    # Without a prosody-up.sh run yet: its default data directory (--storage tmpfs).
    data = pathlib.Path(env["data_dir"]) if env else pathlib.Path(f"/dev/shm/mmgs-{BENCH_RUN.name}/prosody-data")
    if env and env["domain"] != args.domain:
        print(f"provision: note: prosody-up.sh last served {env['domain']}, accounts go to {args.domain}", file=sys.stderr)
    try:
        owner = pwd.getpwnam("prosody")
        uid, gid = owner.pw_uid, owner.pw_gid
    except KeyError:
        uid = gid = -1  # Prosody not installed yet: the files stay root's until prosody-up.sh chowns
    started = time.monotonic()
    accounts = data / prosody_escape(args.domain) / "accounts"
    data.mkdir(mode=0o750, parents=True, exist_ok=True)
    for directory in (data, data / prosody_escape(args.domain), accounts):
        directory.mkdir(mode=0o750, exist_ok=True)
        if uid >= 0 and os.geteuid() == 0:
            os.chown(directory, uid, gid)
    body = prosody_account(args.password, args.auth)
    created = exists = 0
    chown = uid >= 0 and os.geteuid() == 0
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    for i in range(args.start, args.start + args.count):
        path = os.path.join(accounts, prosody_escape(f"{args.prefix}{i}") + ".dat")
        fd = os.open(path, flags, 0o640)
        try:
            if os.fstat(fd).st_size:
                exists += 1
            else:
                created += 1
            os.write(fd, body)
            if chown:
                os.fchown(fd, uid, gid)
        finally:
            os.close(fd)
    seconds = time.monotonic() - started
    total = sum(1 for name in os.listdir(accounts) if name.endswith(".dat"))
    return dict(created=created, exists=exists, failed=0, seconds=round(seconds, 2), total_accounts=total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=True, choices=["ejabberd", "prosody"])
    parser.add_argument("--count", required=True, type=int)
    parser.add_argument("--start", type=int, default=1, help="first user number (default 1)")
    parser.add_argument("--password", default="pw")
    parser.add_argument("--prefix", default="user")
    parser.add_argument("--domain", default="bench.local")
    parser.add_argument("--auth", choices=["scram", "scram-sha-256", "plain"],
                        help="default: the mode the server was started with")
    parser.add_argument("--workers", type=int, default=1, help="ejabberd: parallel registration loops (default 1: more only contend on Mnesia)")
    parser.add_argument("--timeout", type=float, default=600, help="ejabberd: give up after this many seconds")
    args = parser.parse_args()
    if not 1 <= args.count <= MAX_COUNT:
        fail(f"--count must be 1..{MAX_COUNT}")
    if args.start < 0 or not 1 <= args.workers <= 64:
        fail("--start must be >= 0 and --workers 1..64")
    if not re.fullmatch(r"[a-z0-9._-]{1,64}", args.prefix):
        fail("--prefix: lower-case letters, digits, '.', '_', '-' (the names must be nodeprep-stable)")
    if not re.fullmatch(r"[a-z0-9.-]{1,253}", args.domain):
        fail("--domain: lower-case letters, digits, '.', '-'")
    if not re.fullmatch(r"[\x21-\x7e]{1,128}", args.password) or any(c in args.password for c in '"\\'):
        fail("--password: printable ASCII without spaces, quotes or backslashes")
    env = read_env(args.server)
    if args.auth is None:
        args.auth = env["auth"] if env else "scram"
    elif env and env["auth"] != args.auth:
        fail(f"the {args.server} run directory is configured for --auth {env['auth']}, not {args.auth}")
    result = provision_ejabberd(args) if args.server == "ejabberd" else provision_prosody(args)
    print(json.dumps(dict(server=args.server, domain=args.domain, auth=args.auth, first=f"{args.prefix}{args.start}",
                          last=f"{args.prefix}{args.start + args.count - 1}", **result)))
    if result["failed"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
