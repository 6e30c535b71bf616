"""Fixtures and helpers for MMGS multi-process integration tests.

Every test runs its own nodes on 127.0.0.1 with ports found free at run time (bind to port 0),
from a cluster file written into the test's tmp_path, so a `make run` cluster on the default
ports is never touched. Every process started here is tracked and stopped in teardown
(SIGTERM, 5 s grace, then SIGKILL). Every wait is a polling loop with a deadline.

The binaries come from $MMGS_BIN (default: <repo>/.build/debug).
"""

from __future__ import annotations

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
    """Runs a short-lived command with a hard timeout (never hangs the suite)."""
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=child_env(), cwd=cwd)
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
    def __init__(self, name, role, etunnel, http, xmpp=None):
        self.name, self.role = name, role
        self.etunnel, self.http, self.xmpp = etunnel, http, xmpp
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
        return e


class Cluster:
    """Nodes of one test: the cluster file, the processes, their logs."""

    def __init__(self, tmp_path: Path, ports: PortAllocator, membership=None):
        self.dir = tmp_path
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
        node = Node(name, role, etunnel, http_port, xmpp if role == "frontend" else None)
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
        doc = {"cluster": "itest", "domain": "itest.local", "secret": SECRET, "log_level": "info",
               "seeds": self.seeds(), "nodes": [n.entry() for n in self.nodes.values()]}
        if self.membership:
            doc["membership"] = self.membership
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


def members(view: dict) -> dict:
    return {n["name"]: n for n in view["nodes"]}


@pytest.fixture
def make_cluster(tmp_path, ports, request):
    """Factory: make_cluster(managers=2, …) → a Cluster whose processes are stopped at teardown."""
    made: list[Cluster] = []

    def factory(membership=None, **counts) -> Cluster:
        sub = tmp_path / f"c{len(made)}"
        sub.mkdir()
        c = Cluster(sub, ports, membership=membership)
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
