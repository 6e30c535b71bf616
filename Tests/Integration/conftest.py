"""Fixtures and helpers for MMGS multi-process integration tests.

Every test runs its own nodes on 127.0.0.1 with ports found free at run time (bind to port 0),
from a cluster file written into the test's tmp_path, so a `make run` cluster on the default
ports is never touched. Every process started here is tracked and stopped in teardown
(SIGTERM, 5 s grace, then SIGKILL). Every wait is a polling loop with a deadline.

The binaries come from $MMGS_BIN (default: <repo>/.build/debug).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import json
import os
import signal
import socket
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("MMGS_BIN") or REPO / ".build" / "debug").resolve()
EXECUTABLES = ["mmgs-topology", "mmgs-frontend", "mmgs-router", "mmgs-transport", "mmgsctl", "mmgs"]
SECRET = "integration-test-secret-0123456789"
HOST = "127.0.0.1"
ROLE_ORDER = ["topology", "frontend", "router", "transport"]


def exe(name: str) -> str:
    return str(BIN / name)


# `mmgs run` records the cluster it runs in $XDG_RUNTIME_DIR/mmgs-$UID/current-cluster (else
# /tmp/mmgs-$UID/…) and mmgsctl falls back to it: the tests' processes get their own runtime
# directory so they never overwrite the pointer of a developer's `make run`.
_runtime_dir: list[str] = []


def runtime_dir() -> str:
    """The tests' private XDG_RUNTIME_DIR, created on first use, removed at session end."""
    if not _runtime_dir:
        _runtime_dir.append(tempfile.mkdtemp(prefix="mmgs-itest-runtime-"))
    return _runtime_dir[0]


def child_env() -> dict:
    """The test runner's environment without anything that would steer a node or mmgsctl
    elsewhere (MMGS_CONFIG, MMGS_SEEDS, … a developer may have exported) or make a node talk
    to systemd, and with a private XDG_RUNTIME_DIR."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMGS_")}
    env.pop("NOTIFY_SOCKET", None)
    env.pop("WATCHDOG_USEC", None)
    env.pop("WATCHDOG_PID", None)
    env["XDG_RUNTIME_DIR"] = runtime_dir()
    return env


# --------------------------------------------------------------------------------------------
# Ports


class PortAllocator:
    """Hands out loopback ports that were free when asked for and never twice in a run."""

    def __init__(self):
        self.given: set[int] = set()

    def take(self, count: int) -> list[int]:
        held, ports = [], []
        try:
            while len(ports) < count:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind((HOST, 0))
                held.append(s)
                port = s.getsockname()[1]
                if port not in self.given:
                    self.given.add(port)
                    ports.append(port)
        finally:
            for s in held:
                s.close()
        return ports

    def one(self) -> int:
        return self.take(1)[0]


@pytest.fixture(scope="session")
def ports() -> PortAllocator:
    return PortAllocator()


# --------------------------------------------------------------------------------------------
# Small utilities


def wait_until(predicate, timeout: float, interval: float = 0.05, message=None):
    """Polls `predicate` until it returns a truthy value (returned) or `timeout` passes
    (AssertionError with `message()` or `message`)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            text = message() if callable(message) else (message or "condition not met")
            raise AssertionError(f"timed out after {timeout:.1f} s: {text}")
        time.sleep(interval)


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError as error:
        return f"<cannot read {path}: {error}>"
    return "\n".join(text[-lines:])


def http_get(port: int, path: str, timeout: float = 1.0):
    """(status, body) of GET http://127.0.0.1:port/path, or (None, error text)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    except (OSError, http.client.HTTPException) as error:
        return None, f"{type(error).__name__}: {error}"
    finally:
        conn.close()


def health(port: int, timeout: float = 1.0):
    """(status, parsed JSON or None, raw body)."""
    status, body = http_get(port, "/health", timeout)
    try:
        parsed = json.loads(body) if status is not None else None
    except ValueError:
        parsed = None
    return status, parsed, body


def run_cmd(args, timeout: float = 20.0, cwd=None) -> subprocess.CompletedProcess:
    """Runs a short-lived command with a hard timeout (never hangs the suite). Without `cwd` it
    runs in the tests' private runtime directory, never in the repository: a router started
    there would create its journal in data/<name> of the working directory, and mmgsctl would
    pick up deploy/local/cluster.json."""
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=child_env(),
                              cwd=cwd if cwd is not None else runtime_dir())
    except subprocess.TimeoutExpired as error:
        raise AssertionError(f"{' '.join(map(str, args))} did not finish in {timeout} s; "
                             f"stdout: {error.stdout!r} stderr: {error.stderr!r}") from None


def ctl(*args, timeout: float = 20.0, cwd=None) -> subprocess.CompletedProcess:
    """Runs mmgsctl from a scratch directory (so it can never pick up deploy/local/cluster.json)."""
    return run_cmd([exe("mmgsctl"), *map(str, args)], timeout=timeout, cwd=cwd or "/")


def ctl_json(*args, timeout: float = 20.0):
    result = ctl(*args, "--json", timeout=timeout)
    assert result.returncode == 0, f"mmgsctl {' '.join(map(str, args))} failed ({result.returncode}): {result.stderr}{result.stdout}"
    try:
        return json.loads(result.stdout)
    except ValueError:
        raise AssertionError(f"mmgsctl {' '.join(map(str, args))} printed no JSON: {result.stdout!r} {result.stderr!r}") from None


def placement_owners(nodes, keys) -> dict:
    """KEY → OWNER from `mmgsctl placement --nodes … --stdin` (offline), keys on standard input."""
    result = subprocess.run([exe("mmgsctl"), "placement", "--nodes", ",".join(nodes), "--stdin"], input="\n".join(keys) + "\n",
                            capture_output=True, text=True, timeout=60, env=child_env(), cwd="/")
    assert result.returncode == 0, f"mmgsctl placement failed: {result.stderr}"
    owners = {}
    for line in result.stdout.splitlines():
        key, owner = line.rsplit(" ", 1)
        owners[key] = owner
    missing = set(keys) - owners.keys()
    assert not missing, f"mmgsctl placement printed no owner for {sorted(missing)[:5]}"
    return owners


def pid_alive(pid: int) -> bool:
    """True while a process with this pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def stop_process(proc: subprocess.Popen, grace: float = 5.0, sig=signal.SIGTERM):
    """SIGTERM (or `sig`), wait up to `grace` s, then SIGKILL; always reaps."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


# --------------------------------------------------------------------------------------------
# A cluster of node processes


class Node:
    def __init__(self, name, role, etunnel, http, xmpp=None, data=None):
        self.name, self.role = name, role
        self.etunnel, self.http, self.xmpp = etunnel, http, xmpp
        # Routers: the journal directory (always under the test's tmp_path, never the repository).
        self.data: str | None = data
        self.proc: subprocess.Popen | None = None
        self.log: Path | None = None
        self.starts = 0

    @property
    def etunnel_addr(self) -> str:
        return f"{HOST}:{self.etunnel}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def entry(self) -> dict:
        e = {"name": self.name, "role": self.role, "etunnel": f"{HOST}:{self.etunnel}", "http": f"{HOST}:{self.http}"}
        if self.xmpp:
            e["xmpp"] = f"{HOST}:{self.xmpp}"
        if self.data:
            e["data"] = self.data
        return e


class Cluster:
    """Nodes of one test: the cluster file, the processes, their logs."""

    def __init__(self, tmp_path: Path, ports: PortAllocator, membership=None, domain: str = "itest.local",
                 allow_plain: bool | None = None):
        self.dir = tmp_path
        self.domain = domain
        # "allow_plain_without_tls" in the cluster file (left out when None).
        self.allow_plain = allow_plain
        self.ports = ports
        self.file = tmp_path / "cluster.json"
        self.logs = tmp_path / "logs"
        self.logs.mkdir(exist_ok=True)
        self.nodes: dict[str, Node] = {}
        self.membership = membership
        self.seed_names: list[str] | None = None
        self.extra_procs: list[tuple[str, subprocess.Popen, Path]] = []

    # -- layout --------------------------------------------------------------------------

    def add(self, name: str, role: str) -> Node:
        etunnel, http_port, xmpp = self.ports.take(3)
        # A router's journal goes to <cluster dir>/data/<name> (explicitly: the default,
        # data/<name> relative to the working directory, must never land in the repository).
        data = str(self.dir / "data" / name) if role == "router" else None
        node = Node(name, role, etunnel, http_port, xmpp if role == "frontend" else None, data)
        self.nodes[name] = node
        return node

    def layout(self, managers=2, frontends=2, routers=2, transports=2):
        for role, count, prefix in [("topology", managers, "topology"), ("frontend", frontends, "frontend"),
                                    ("router", routers, "router"), ("transport", transports, "transport")]:
            for i in range(1, count + 1):
                self.add(f"{prefix}-{i}", role)
        return self

    def managers(self) -> list[Node]:
        return sorted((n for n in self.nodes.values() if n.role == "topology"), key=lambda n: n.name)

    def of_role(self, role) -> list[Node]:
        return sorted((n for n in self.nodes.values() if n.role == role), key=lambda n: n.name)

    def seeds(self) -> list[str]:
        names = self.seed_names or [n.name for n in self.managers()]
        return [self.nodes[n].etunnel_addr for n in names]

    def document(self) -> dict:
        doc = {"cluster": "itest", "domain": self.domain, "secret": SECRET, "log_level": "info",
               "seeds": self.seeds(), "nodes": [n.entry() for n in self.nodes.values()]}
        if self.membership:
            doc["membership"] = self.membership
        if self.allow_plain is not None:
            doc["allow_plain_without_tls"] = self.allow_plain
        return doc

    def write(self) -> Path:
        self.file.write_text(json.dumps(self.document(), indent=2))
        return self.file

    # -- processes -----------------------------------------------------------------------

    def start(self, name: str, args=None) -> Node:
        """Starts node `name` from the cluster file (or with `args` instead of
        --config/--name)."""
        node = self.nodes[name]
        assert not node.running, f"{name} is already running (pid {node.pid})"
        node.starts += 1
        node.log = self.logs / f"{name}.{node.starts}.log"
        argv = [exe(f"mmgs-{node.role}")] + (list(args) if args is not None else ["--config", str(self.file), "--name", name])
        with open(node.log, "wb") as log:
            node.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=child_env(), cwd=self.dir)
        return node

    def start_all(self):
        self.write()
        for name in self.nodes:
            self.start(name)

    def spawn(self, label: str, argv, **kwargs) -> tuple[subprocess.Popen, Path]:
        """Any other tracked process (stopped in teardown), output to a log file."""
        log_path = self.logs / f"{label}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=child_env(), cwd=self.dir, **kwargs)
        self.extra_procs.append((label, proc, log_path))
        return proc, log_path

    def kill9(self, name: str) -> float:
        """SIGKILL; returns the monotonic time of the kill. Reaps the process."""
        node = self.nodes[name]
        assert node.running, f"{name} is not running\n{self.log_tail(name)}"
        os.kill(node.pid, signal.SIGKILL)
        at = time.monotonic()
        node.proc.wait(timeout=5)
        return at

    def stop(self, name: str):
        node = self.nodes[name]
        if node.proc is not None:
            stop_process(node.proc)

    def stop_all(self):
        procs = [n.proc for n in self.nodes.values() if n.proc is not None and n.proc.poll() is None]
        procs += [p for _, p, _ in self.extra_procs if p.poll() is None]
        for p in procs:
            try:
                p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        for p in procs:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for p in procs:
            if p.poll() is None:
                try:
                    p.kill()
                except ProcessLookupError:
                    pass
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass

    # -- observing -----------------------------------------------------------------------

    def log_tail(self, *names, lines: int = 20) -> str:
        names = names or tuple(self.nodes)
        parts = []
        for name in names:
            node = self.nodes.get(name)
            if node is None or node.log is None:
                continue
            state = "running" if node.running else f"exited {node.proc.returncode}"
            parts.append(f"--- {name} (pid {node.pid}, {state}) {node.log} ---\n{tail(node.log, lines)}")
        return "\n".join(parts)

    def health(self, name: str, timeout: float = 1.0):
        return health(self.nodes[name].http, timeout)

    def healths(self, names) -> dict:
        """name → (status, json) for several nodes, queried in parallel."""
        names = list(names)
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            results = list(pool.map(lambda n: self.health(n)[:2], names))
        return dict(zip(names, results))

    def wait_healthy(self, names=None, timeout: float = 30.0) -> dict:
        """Waits until every node in `names` (default: all) answers /health 200; returns
        name → health JSON."""
        names = list(names or self.nodes)
        state = {}

        def check():
            for name in names:
                node = self.nodes[name]
                if node.proc is not None and node.proc.poll() is not None:
                    raise AssertionError(f"{name} exited with {node.proc.returncode} while waiting for health\n"
                                         f"{self.log_tail(name, lines=40)}")
            state.update(self.healths(names))
            return all(state[n][0] == 200 for n in names)

        wait_until(check, timeout, interval=0.1, message=lambda: (
            "not healthy: " + ", ".join(f"{n}={state.get(n, (None,))[0]}" for n in names if state.get(n, (None,))[0] != 200)
            + "\n" + self.log_tail(*[n for n in names if state.get(n, (None,))[0] != 200])))
        return {n: state[n][1] for n in names}

    def ctl_args(self, seed: str | None = None) -> list[str]:
        if seed is None:
            return ["--cluster", str(self.file)]
        return ["--seed", seed, "--secret", SECRET]

    def topology(self, seed: str | None = None, timeout: float = 10.0) -> dict:
        """`mmgsctl topology --json`, through the cluster file's seeds or through `seed`
        (any node serves its own view)."""
        return ctl_json("topology", *self.ctl_args(seed), timeout=timeout)

    def try_topology(self, seed: str, timeout: float = 10.0):
        result = ctl("topology", "--json", *self.ctl_args(seed), timeout=timeout)
        if result.returncode != 0:
            return None
        try:
            return json.loads(result.stdout)
        except ValueError:
            return None

    def views(self, names) -> dict:
        """name → the view node `name` itself follows (`mmgsctl topology --seed <its eTunnel
        endpoint>`: every node serves its own view), or None; fetched in parallel."""
        names = list(names)
        if not names:
            return {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(names)) as pool:
            return dict(zip(names, pool.map(lambda n: self.try_topology(self.nodes[n].etunnel_addr, timeout=5), names)))

    def running_names(self) -> list[str]:
        return [n for n, node in self.nodes.items() if node.running]

    def watch(self, predicate, timeout: float, names=None, what: str = "condition", refresh: float = 0.5,
              interval: float = 0.03, require_all_at_once: bool = True) -> dict:
        """Waits until, for every node (`names`, default: the running ones), /health answers 200
        and `predicate(name, view)` holds for the view that node follows.

        /health (cheap) is polled every `interval`; a node's view is fetched with mmgsctl only
        when its /health epoch differs from the last view fetched, or every `refresh` s, so the
        watcher itself does not load the machine (which would slow the very timers measured).
        Returns name → monotonic time of the first answer that satisfied the predicate. With
        `require_all_at_once` False, a node that satisfied it once counts as done."""
        cache: dict[str, tuple] = {}  # name → (view epoch, view, fetched at)
        first_ok: dict[str, float] = {}
        state: dict = {}
        deadline = time.monotonic() + timeout

        fixed = list(names) if names is not None else self.running_names()

        def node_names():
            return fixed

        while True:
            current = node_names()
            pending = current if require_all_at_once else [n for n in current if n not in first_ok]
            hs = self.healths(pending)
            now = time.monotonic()
            fetch = [n for n in pending if hs[n][0] == 200 and (
                n not in cache or cache[n][0] != (hs[n][1] or {}).get("epoch") or now - cache[n][2] > refresh)]
            for n, view in self.views(fetch).items():
                cache[n] = ((view or {}).get("epoch"), view, time.monotonic())
            ok_now = []
            for n in pending:
                view = cache.get(n, (None, None, 0))[1]
                good = hs[n][0] == 200 and view is not None and predicate(n, view)
                if good:
                    first_ok.setdefault(n, cache[n][2])
                    ok_now.append(n)
            state.update(hs=hs, cache=cache)
            if len(ok_now) == len(pending):
                return {n: first_ok[n] for n in current}
            if time.monotonic() >= deadline:
                lines = []
                for n in pending:
                    if n in ok_now:
                        continue
                    view = cache.get(n, (None, None, 0))[1]
                    summary = ", ".join(f"{m['name']}={m['status']}/pid {m['pid']}" for m in view["nodes"]) if view else "none"
                    lines.append(f"{n}: /health {hs[n][0]} epoch {(hs[n][1] or {}).get('epoch')}; "
                                 f"its view epoch {view and view['epoch']} by {view and view['publisher']}: {summary}")
                bad = [n for n in pending if n not in ok_now]
                raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}:\n  " + "\n  ".join(lines)
                                     + "\n" + self.log_tail(*bad, lines=15))
            for n in current:
                node = self.nodes[n]
                if node.proc is not None and node.proc.poll() is not None:
                    raise AssertionError(f"{n} exited {node.proc.returncode} while waiting for {what}\n{self.log_tail(n, lines=40)}")
            time.sleep(interval)

    def wait_settled(self, timeout: float = 10.0) -> int:
        """Waits until every running node answers 200 and its own view lists every running node
        up with its current pid, all at the same epoch; returns that epoch."""
        running = self.running_names()
        pids = {n: self.nodes[n].pid for n in running}
        epochs = {}

        def settled(name, view):
            m = members(view)
            epochs[name] = view["epoch"]
            return all(m.get(n, {}).get("status") == "up" and m.get(n, {}).get("pid") == pids[n] for n in running)

        deadline = time.monotonic() + timeout
        while True:
            self.watch(settled, max(0.5, deadline - time.monotonic()), names=running, what="every node up in every view")
            if len({epochs[n] for n in running}) == 1:
                return epochs[running[0]]
            assert time.monotonic() < deadline, f"views did not converge on one epoch: {epochs}"
            time.sleep(0.1)

    def path(self, key: str, seed: str | None = None) -> dict:
        return ctl_json("path", key, *self.ctl_args(seed))

    # -- devices (XMPP) --------------------------------------------------------------------

    def xmpp_port(self, name: str) -> int:
        """The device-facing XMPP port of front-end `name`."""
        port = self.nodes[name].xmpp
        assert port, f"{name} has no xmpp endpoint"
        return port

    def device(self, *args, timeout: float = 20.0) -> subprocess.CompletedProcess:
        """`mmgsctl device ARGS --cluster <this cluster file>` (any exit status)."""
        return ctl("device", *args, *self.ctl_args(), timeout=timeout)

    def device_ok(self, *args, timeout: float = 20.0) -> str:
        """`mmgsctl device ARGS`, which must succeed; returns its standard output."""
        result = self.device(*args, timeout=timeout)
        assert result.returncode == 0, (f"mmgsctl device {' '.join(map(str, args))} failed ({result.returncode}): "
                                        f"{result.stderr}{result.stdout}\n{self.log_tail(*[n.name for n in self.of_role('router')])}")
        return result.stdout

    def add_device(self, device_id: str, password: str, **fields) -> str:
        """Provisions ID@domain (`mmgsctl device add ID --password PW [--imei …]`); returns the bare JID."""
        extra = []
        for key, value in fields.items():
            extra += [f"--{key.replace('_', '-')}", value]
        self.device_ok("add", device_id, "--password", password, *extra)
        return f"{device_id}@{self.domain}"

    def wait_device_service(self, timeout: float = 20.0):
        """Waits until every node is up in every view and `mmgsctl device list` answers (every
        router reachable), so provisioning and logins do not race the cluster's start."""
        self.wait_settled(timeout=timeout)
        last = {}

        def ready():
            last["r"] = self.device("list", "--json", timeout=10)
            return last["r"].returncode == 0

        wait_until(ready, timeout, interval=0.2, message=lambda: f"mmgsctl device list keeps failing: "
                   f"{last['r'].stderr}{last['r'].stdout}")


def members(view: dict) -> dict:
    return {n["name"]: n for n in view["nodes"]}


@pytest.fixture
def make_cluster(tmp_path, ports, request):
    """Factory: make_cluster(managers=2, …) → a Cluster whose processes are stopped at teardown."""
    made: list[Cluster] = []

    def factory(membership=None, domain: str = "itest.local", allow_plain: bool | None = None, **counts) -> Cluster:
        sub = tmp_path / f"c{len(made)}"
        sub.mkdir()
        c = Cluster(sub, ports, membership=membership, domain=domain, allow_plain=allow_plain)
        c.layout(**counts)
        made.append(c)
        return c

    yield factory
    for c in made:
        c.stop_all()


@pytest.fixture
def cluster(make_cluster) -> Cluster:
    """2 managers, 2 front-ends, 2 routers, 2 transports (default SWIM timing), all healthy."""
    c = make_cluster()
    c.start_all()
    c.wait_healthy(timeout=45)
    return c


@pytest.fixture(scope="module")
def xmpp_cluster(tmp_path_factory, ports, request):
    """One cluster per test module for the device (XMPP) tests: 2 managers, 2 front-ends,
    2 routers (journals under the module's tmp dir), 2 transports; domain itest.local; SASL PLAIN
    allowed without TLS. Every node healthy, every router reachable for `mmgsctl device`.
    Processes stopped at module teardown."""
    base = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    # A module may set XMPP_ALLOW_PLAIN = False to run its cluster without PLAIN.
    c = Cluster(base, ports, domain="itest.local", allow_plain=getattr(request.module, "XMPP_ALLOW_PLAIN", True))
    c.layout()
    try:
        c.start_all()
        c.wait_healthy(timeout=45)
        c.wait_device_service(timeout=30)
        yield c
    finally:
        c.stop_all()


# --------------------------------------------------------------------------------------------
# XMPP devices (slixmpp; imported lazily so the other tests run without it)

try:
    import slixmpp
    from slixmpp.xmlstream.handler import Callback as _SlixCallback
    from slixmpp.xmlstream.matcher import MatchXPath as _SlixMatchXPath, StanzaPath as _SlixStanzaPath
except ImportError:  # pragma: no cover - reported by the fixtures that need it
    slixmpp = None

XMPP_TIMEOUT = 10.0  # default bound of every single XMPP wait
DELAY_NS = "urn:xmpp:delay"
STREAMS_NS = "urn:ietf:params:xml:ns:xmpp-streams"
STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def run_async(coro, timeout: float = 60.0):
    """Runs one test scenario (a coroutine) in a fresh event loop, bounded by `timeout`."""
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


class XMPPDevice:
    """A real XMPP client (slixmpp.ClientXMPP) on a plain TCP stream to one front-end, with
    everything it receives queued: messages, presences, roster pushes, stream errors, SASL
    failures. slixmpp's automatic subscription handling is off (the tests answer themselves)."""

    def __init__(self, jid: str, password: str, port: int, *, mechanism: str | None = None, plain: bool = False,
                 label: str | None = None):
        if slixmpp is None:
            pytest.fail("slixmpp is not installed: pip install 'slixmpp==1.17.0'")
        self.jid, self.port, self.label = jid, port, label or jid
        self.c = slixmpp.ClientXMPP(jid, password)
        # Plain TCP only: no direct-TLS attempt first (it would reach the front-end as garbage).
        self.c.enable_direct_tls = False
        mechanisms = self.c.plugin["feature_mechanisms"]
        mechanisms.unencrypted_scram = True
        mechanisms.unencrypted_plain = plain
        if mechanism:
            mechanisms.use_mech = mechanism
        self.c.auto_authorize = None
        self.c.auto_subscribe = False
        self.messages: asyncio.Queue = asyncio.Queue()
        self.presences: asyncio.Queue = asyncio.Queue()
        self.pushes: asyncio.Queue = asyncio.Queue()
        self.stream_errors: list[tuple[str, str]] = []
        self.auth_failures: list[str] = []
        self.received: list[str] = []  # every stanza, as XML text (for failure messages)
        loop = asyncio.get_running_loop()
        self.started = loop.create_future()
        self.failed = loop.create_future()
        self.gone = loop.create_future()
        self.c.register_handler(_SlixCallback("itest messages", _SlixMatchXPath("{jabber:client}message"), self._on_message))
        self.c.register_handler(_SlixCallback("itest presences", _SlixMatchXPath("{jabber:client}presence"), self._on_presence))
        self.c.register_handler(_SlixCallback("itest roster pushes", _SlixStanzaPath("iq@type=set/roster"), self._on_push))
        self.c.add_event_handler("session_start", lambda _: self._settle(self.started, True))
        self.c.add_event_handler("failed_auth", self._on_failed_auth)
        self.c.add_event_handler("failed_all_auth", lambda _: self._settle(self.failed, True))
        self.c.add_event_handler("stream_error", self._on_stream_error)
        self.c.add_event_handler("disconnected", lambda _: self._settle(self.gone, True))

    @staticmethod
    def _settle(future, value):
        if not future.done():
            future.set_result(value)

    def _on_message(self, msg):
        self.received.append(str(msg))
        self.messages.put_nowait(msg)

    def _on_presence(self, pres):
        self.received.append(str(pres))
        self.presences.put_nowait(pres)

    def _on_push(self, iq):
        self.received.append(str(iq))
        self.pushes.put_nowait(iq)

    def _on_failed_auth(self, failure):
        self.auth_failures.append(failure["condition"])
        self._settle(self.failed, True)

    def _on_stream_error(self, error):
        self.stream_errors.append((error["condition"], error["text"]))

    def __repr__(self):
        return f"<XMPPDevice {self.label} port {self.port}>"

    @property
    def full(self) -> str:
        return str(self.c.boundjid.full)

    @property
    def bare(self) -> str:
        return str(self.c.boundjid.bare)

    async def login(self, presence: bool = False, priority: int | None = None, timeout: float = XMPP_TIMEOUT):
        """Connects, authenticates, binds; with `presence`, sends initial presence and then a
        roster get whose answer proves the presence was handled (the front-end keeps a stream's
        stanzas in order)."""
        self.c.connect(HOST, self.port)
        done, _ = await asyncio.wait({self.started, self.failed, self.gone}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if not self.started.done():
            raise AssertionError(f"{self.label} did not log in on port {self.port} within {timeout} s: "
                                 f"SASL failures {self.auth_failures}, stream errors {self.stream_errors}, "
                                 f"disconnected {self.gone.done()}")
        if presence:
            await self.available(priority)
        return self

    async def available(self, priority: int | None = None, timeout: float = XMPP_TIMEOUT):
        self.c.send_presence(ppriority=priority)
        await self.roster(timeout=timeout)

    async def login_fails(self, timeout: float = XMPP_TIMEOUT) -> list[str]:
        """Connects and expects SASL to fail; returns the failure conditions seen."""
        self.c.connect(HOST, self.port)
        done, _ = await asyncio.wait({self.started, self.failed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if self.started.done():
            raise AssertionError(f"{self.label} logged in as {self.full} but should have been refused")
        if not self.failed.done():
            raise AssertionError(f"no SASL failure for {self.label} within {timeout} s (disconnected: {self.gone.done()}, "
                                 f"stream errors {self.stream_errors})")
        return list(self.auth_failures)

    async def wait_gone(self, timeout: float = XMPP_TIMEOUT):
        try:
            await asyncio.wait_for(asyncio.shield(self.gone), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"{self.label} still connected after {timeout} s (stream errors {self.stream_errors})") from None

    async def close(self, wait: float = 2.0):
        """Ends the stream (bounded) and drops the connection."""
        self.c.cancel_connection_attempt()
        if self.gone.done():
            return
        try:
            await asyncio.wait_for(self.c.disconnect(wait=wait), wait + 2)
        except (asyncio.TimeoutError, Exception):
            self.c.abort()
        try:
            await asyncio.wait_for(asyncio.shield(self.gone), 2)
        except asyncio.TimeoutError:
            self.c.abort()

    # -- sending and receiving -----------------------------------------------------------

    def send_chat(self, to: str, body: str, mtype: str = "chat"):
        self.c.send_message(mto=to, mbody=body, mtype=mtype)

    async def next_message(self, timeout: float = XMPP_TIMEOUT, what: str = "a message"):
        try:
            return await asyncio.wait_for(self.messages.get(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"{self.label} received no {what} within {timeout} s; last stanzas: "
                                 f"{self.received[-5:]}") from None

    async def next_presence(self, match=None, timeout: float = XMPP_TIMEOUT, what: str = "presence"):
        """The next presence satisfying `match` (others are skipped)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            try:
                pres = await asyncio.wait_for(self.presences.get(), max(0.0, left))
            except asyncio.TimeoutError:
                raise AssertionError(f"{self.label} received no {what} within {timeout} s; last stanzas: "
                                     f"{self.received[-6:]}") from None
            if match is None or match(pres):
                return pres

    async def next_push(self, timeout: float = XMPP_TIMEOUT, what: str = "roster push") -> dict:
        """The next roster push, as {jid: {name, subscription, ask, groups}}."""
        try:
            iq = await asyncio.wait_for(self.pushes.get(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"{self.label} received no {what} within {timeout} s; last stanzas: "
                                 f"{self.received[-6:]}") from None
        return roster_items(iq)

    def drain_messages(self) -> list:
        items = []
        while not self.messages.empty():
            items.append(self.messages.get_nowait())
        return items

    def drain_presences(self) -> list:
        items = []
        while not self.presences.empty():
            items.append(self.presences.get_nowait())
        return items

    async def roster(self, timeout: float = XMPP_TIMEOUT) -> dict:
        """The roster (iq get), as {jid: {name, subscription, ask, groups}}."""
        iq = self.c.Iq()
        iq["type"] = "get"
        iq.enable("roster")
        return roster_items(await iq.send(timeout=timeout))

    async def roster_set(self, jid: str, timeout: float = XMPP_TIMEOUT, **item):
        """Roster set of one item (name=, groups=, subscription='remove'); returns the answer
        (an iq result; an iq error raises slixmpp.exceptions.IqError)."""
        iq = self.c.Iq()
        iq["type"] = "set"
        iq["roster"]["items"] = {jid: item}
        return await iq.send(timeout=timeout)

    async def iq(self, to: str | None, payload_xml: str, itype: str = "get", timeout: float = XMPP_TIMEOUT):
        """Sends <iq type=… to=…>payload</iq>; returns the answer (result or error, never raises on error)."""
        from xml.etree import ElementTree as ET
        iq = self.c.Iq()
        iq["type"] = itype
        if to:
            iq["to"] = to
        iq.append(ET.fromstring(payload_xml))
        try:
            return await iq.send(timeout=timeout)
        except slixmpp.exceptions.IqError as error:
            return error.iq


def device_ids(cluster: "Cluster", prefix: str, count: int = 2) -> list[str]:
    """`count` device ids PREFIX<n> whose bare JIDs are owned by the cluster's routers in turn
    (per `mmgsctl placement`), so that a conversation between them crosses routers."""
    routers = [n.name for n in cluster.of_role("router")]
    candidates = [f"{prefix}{i}" for i in range(64)]
    owners = placement_owners(routers, [f"{d}@{cluster.domain}" for d in candidates])
    chosen: list[str] = []
    for d in candidates:
        want = routers[len(chosen) % len(routers)]
        if owners[f"{d}@{cluster.domain}"] == want:
            chosen.append(d)
            if len(chosen) == count:
                return chosen
    raise AssertionError(f"no {count} ids {prefix}N alternating over {routers}")


def roster_items(iq) -> dict:
    """{jid: {"name", "subscription", "ask", "groups"}} of a roster query in `iq`."""
    items = {}
    query = iq.xml.find("{jabber:iq:roster}query")
    if query is None:
        return items
    for item in query.findall("{jabber:iq:roster}item"):
        items[item.get("jid")] = {"name": item.get("name"), "subscription": item.get("subscription"),
                                  "ask": item.get("ask"), "groups": sorted(g.text or "" for g in item.findall("{jabber:iq:roster}group"))}
    return items


def stanza_error(stanza) -> str | None:
    """The defined condition of an error stanza (urn:ietf:params:xml:ns:xmpp-stanzas), or None."""
    return element_error(stanza.xml)


def element_error(element) -> str | None:
    """`stanza_error` of an ElementTree element (a raw stream's stanza)."""
    error = element.find("{jabber:client}error")
    if error is None:
        return None
    for child in error:
        if child.tag.startswith("{" + STANZAS_NS + "}") and not child.tag.endswith("}text"):
            return child.tag.split("}", 1)[1]
    return None


class XMPPDevices:
    """`async with XMPPDevices() as xs:` — devices made with xs.new(…) are closed on exit."""

    def __init__(self):
        self.all: list[XMPPDevice] = []

    def new(self, jid: str, password: str, port: int, **kwargs) -> XMPPDevice:
        device = XMPPDevice(jid, password, port, **kwargs)
        self.all.append(device)
        return device

    async def login(self, jid: str, password: str, port: int, presence: bool = True, priority: int | None = None,
                    **kwargs) -> XMPPDevice:
        return await self.new(jid, password, port, **kwargs).login(presence=presence, priority=priority)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await asyncio.gather(*(d.close() for d in self.all), return_exceptions=True)
        return False


async def raw_stream(port: int, chunks, timeout: float = XMPP_TIMEOUT, pause: float = 0.05,
                     until: bytes | None = None) -> tuple[bytes, bool]:
    """Opens a plain TCP connection to a front-end, writes `chunks` (bytes, one after another),
    reads until the server closes, `until` has been read, or `timeout` passes. Returns
    (everything read, closed by the server)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    received = bytearray()
    closed = False
    try:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(pause)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                data = await asyncio.wait_for(reader.read(65536), left)
            except asyncio.TimeoutError:
                break
            except ConnectionError:
                closed = True
                break
            if not data:
                closed = True
                break
            received += data
            if until is not None and until in received:
                break
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 2)
        except (asyncio.TimeoutError, ConnectionError):
            pass
    return bytes(received), closed


# --------------------------------------------------------------------------------------------
# Measurements (printed at the end of the run, also with -q: they go into the docs)

MEASUREMENTS: list[str] = []


def report(line: str):
    print(line)
    MEASUREMENTS.append(line)


def pytest_terminal_summary(terminalreporter):
    if MEASUREMENTS:
        terminalreporter.section("MMGS integration measurements")
        for line in MEASUREMENTS:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session):
    for path in _runtime_dir:
        shutil.rmtree(path, ignore_errors=True)


def pytest_sessionstart(session):
    missing = [name for name in EXECUTABLES if not os.access(BIN / name, os.X_OK)]
    if missing:
        raise pytest.UsageError(f"MMGS binaries missing in {BIN}: {', '.join(missing)} (build with `swift build`, "
                                f"or point MMGS_BIN at the directory holding them)")
