"""`mmgs run`: the launcher starts every node, says when the cluster is ready, reports (never
restarts) a dead node, and stops everything on SIGINT."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import BIN, child_env, ctl, exe, health, members, pid_alive, report, runtime_dir, wait_until

NODE_LINE = re.compile(r"^\s+(\S+)\s+(topology|frontend|router|transport)\s+pid (\d+)\b")


class Launcher:
    """`mmgs run` with its stdout read line by line in a thread (never a blocking read)."""

    def __init__(self, cluster_file: Path, logs: Path, out_log: Path):
        self.lines: list[str] = []
        self.lock = threading.Lock()
        self.out_log = out_log
        self.proc = subprocess.Popen(
            [exe("mmgs"), "run", str(cluster_file), "--bin", str(BIN), "--logs", str(logs)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env(),
            cwd=cluster_file.parent, text=True, bufsize=1)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        with open(self.out_log, "w") as log:
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                with self.lock:
                    self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        with self.lock:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float) -> str:
        regex = re.compile(pattern)

        def found():
            with self.lock:
                hit = next((line for line in self.lines if regex.search(line)), None)
            if hit is None and self.proc.poll() is not None:
                self.reader.join(timeout=2)
                with self.lock:
                    hit = next((line for line in self.lines if regex.search(line)), None)
                if hit is None:
                    raise AssertionError(f"mmgs run exited {self.proc.returncode} without printing /{pattern}/:\n{self.output()}")
            return hit

        return wait_until(found, timeout, message=lambda: f"mmgs run did not print /{pattern}/:\n{self.output()}")

    def children(self) -> dict:
        """name → (role, pid) from the launcher's per-node lines."""
        with self.lock:
            lines = list(self.lines)
        found = {}
        for line in lines:
            m = NODE_LINE.match(line)
            if m:
                found[m.group(1)] = (m.group(2), int(m.group(3)))
        return found


def processes_of(cluster_file: Path, name: str | None = None) -> list[int]:
    """Pids of live processes started with this cluster file (and --name NAME)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv]
        if str(cluster_file) not in args or "--config" not in args:
            continue
        if name is not None and not any(args[i] == "--name" and i + 1 < len(args) and args[i + 1] == name
                                        for i in range(len(args))):
            continue
        if pid_alive(int(entry)):
            pids.append(int(entry))
    return pids


@pytest.fixture
def launcher_cluster(make_cluster):
    """A cluster layout (2+2+2+2, fresh ports) that only the launcher starts; teardown stops
    the launcher and, should it leave any behind, its children."""
    c = make_cluster()
    c.write()
    launched: list[Launcher] = []

    def start() -> Launcher:
        la = Launcher(c.file, c.dir / "launcher-logs", c.logs / "mmgs-run.out")
        launched.append(la)
        c.extra_procs.append(("mmgs run", la.proc, la.out_log))
        return la

    yield c, start
    for la in launched:
        if la.proc.poll() is None:
            la.proc.send_signal(signal.SIGTERM)
            try:
                la.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                la.proc.kill()
                la.proc.wait(timeout=5)
    # Only processes started from this test's own cluster file.
    for pid in processes_of(c.file):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def real_pointer_state():
    base = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    path = Path(base) / f"mmgs-{os.getuid()}" / "current-cluster"
    try:
        return path.read_text()
    except OSError as error:
        return type(error).__name__


def test_launcher_runs_reports_death_and_stops(launcher_cluster):
    c, start = launcher_cluster
    pointer_before = real_pointer_state()
    began = time.monotonic()
    la = start()
    ready = la.wait_for(r"cluster ready", 60)
    took = time.monotonic() - began
    report(f"mmgs run: '{ready.strip()}' ({took:.1f} s from exec as seen by the test)")

    kids = la.children()
    assert sorted(kids) == sorted(c.nodes), f"launcher lines name {sorted(kids)}, file has {sorted(c.nodes)}:\n{la.output()}"
    for name, (role, pid) in kids.items():
        assert role == c.nodes[name].role, (name, role)
        assert pid_alive(pid), f"{name} pid {pid} is not running:\n{la.output()}"
        status, body, raw = health(c.nodes[name].http)
        assert status == 200 and body["pid"] == pid, f"{name}: /health {status} {raw} (launcher said pid {pid})"
    view = c.topology()
    listed = members(view)
    assert sorted(listed) == sorted(c.nodes) and all(m["status"] == "up" for m in listed.values()), view
    assert {n: m["pid"] for n, m in listed.items()} == {n: p for n, (_, p) in kids.items()}, view

    # The launcher records the running cluster (here in the tests' private runtime directory)
    # and a bare `mmgsctl topology`, from a directory without deploy/local/cluster.json, finds it.
    pointer = Path(runtime_dir()) / f"mmgs-{os.getuid()}" / "current-cluster"
    assert pointer.exists() and pointer.read_text().strip() == str(c.file), f"{pointer}: {pointer.read_text() if pointer.exists() else 'missing'}"
    bare = ctl("topology", "--json")
    assert bare.returncode == 0, f"mmgsctl topology with no flags: {bare.stderr}"
    assert sorted(members(json.loads(bare.stdout))) == sorted(c.nodes), bare.stdout

    # kill -9 one child: reported, not restarted.
    victim = "router-2"
    victim_pid = kids[victim][1]
    os.kill(victim_pid, signal.SIGKILL)
    line = la.wait_for(rf"node {victim} \(router, pid {victim_pid}\) killed by signal 9; not restarting it", 10)
    assert "Log:" in line, line
    end = time.monotonic() + 2.0
    while time.monotonic() < end:
        assert not pid_alive(victim_pid), f"{victim} pid {victim_pid} is still alive"
        again = processes_of(c.file, victim)
        assert not again, f"a new {victim} process appeared: {again}\n{la.output()}"
        assert la.proc.poll() is None, f"the launcher exited ({la.proc.returncode}) after one child died:\n{la.output()}"
        time.sleep(0.1)
    assert la.output().count(f"node {victim} ") == 1, la.output()
    # The others keep running and notice the death.
    others = [n for n in c.nodes if n != victim]
    assert all(pid_alive(kids[n][1]) for n in others), la.output()

    def marked_down():
        return members(c.topology())[victim]["status"] == "down"
    wait_until(marked_down, 5, interval=0.1, message=lambda: f"{victim} not down in {c.topology()}")

    # SIGINT: stops every child, says so, exits 0.
    la.proc.send_signal(signal.SIGINT)
    la.wait_for(r"^stopped$", 20)
    try:
        code = la.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"mmgs run printed 'stopped' but did not exit:\n{la.output()}") from None
    assert code == 0, f"mmgs run exited {code} on SIGINT:\n{la.output()}"
    assert "not restarting" not in la.output().split("stopping", 1)[-1], (
        f"nodes stopped by the launcher should not be reported as deaths:\n{la.output()}")

    def all_gone():
        return not [n for n, (_, pid) in kids.items() if pid_alive(pid)] and not processes_of(c.file)
    wait_until(all_gone, 5, message=lambda: "children still running after the launcher exited: "
               + str({n: pid for n, (_, pid) in kids.items() if pid_alive(pid)}) + f" {processes_of(c.file)}\n{la.output()}")
    # Each node left cleanly (SIGTERM path), with a log in --logs.
    for name in others:
        log = c.dir / "launcher-logs" / f"{name}.log"
        assert log.exists(), f"no log {log}"
        assert "node stopped" in log.read_text(errors="replace"), f"{name} did not stop gracefully:\n{log.read_text()[-2000:]}"
    assert real_pointer_state() == pointer_before, "the test touched the real current-cluster pointer"
