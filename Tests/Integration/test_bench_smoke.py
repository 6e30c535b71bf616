"""A small run of the load generator against a real cluster, so that the instrument itself
cannot rot: 200 devices log in, chat at 200 messages/s for 2 s, every message arrives. This
asserts delivery, not speed (figures live in docs/performance.md). And the contract of the
benchmark cluster's scripts (bench/mmgs-up.sh, mmgs-provision.sh, mmgs-down.sh): provisioning
addresses the running benchmark cluster, its devices survive a restart, --fresh wipes them."""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import sys
from pathlib import Path
import subprocess

from conftest import BIN, HOST, REPO, XMPPDevices, child_env, ctl, exe, pid_alive, run_async, wait_until


def test_mmgs_bench_chat_smoke(xmpp_cluster, tmp_path):
    xmpp_cluster.device_ok("import", "--prefix", "smoke", "--count", "200", "--password", "pw", timeout=60)
    targets = []
    for node in xmpp_cluster.of_role("frontend"):
        targets += ["--target", f"127.0.0.1:{node.xmpp}"]
    report = tmp_path / "smoke.json"
    pids = ",".join(str(n.pid) for n in xmpp_cluster.nodes.values() if n.running)
    result = subprocess.run(
        [exe("mmgs-bench"), "chat", *targets, "--domain", xmpp_cluster.domain, "--devices", "200", "--user-prefix", "smoke",
         "--password", "pw", "--mechanism", "SCRAM-SHA-256", "--rate", "200", "--rates", "200", "--step-seconds", "2", "--warmup-seconds", "1",
         "--drain-seconds", "3", "--target-pids", pids, "--json", str(report)],
        capture_output=True, text=True, timeout=120, env=child_env(), cwd=tmp_path)
    assert report.exists(), f"no report (exit {result.returncode}): {result.stderr[-2000:]}{result.stdout[-2000:]}"
    data = json.loads(report.read_text())
    assert data["login"]["connected"] == 200, data["login"]
    assert data["login"]["failed"] == 0, data["login"]["failures"]
    assert data["configuration"]["warmup_seconds"] == 1
    assert len(data["steps"]) == 1, "the warm-up is not reported as a step"
    step = data["steps"][0]
    assert step["sent"] > 300, step
    assert "warm-up: 200 msgs/s for 1.0 s" in result.stderr + result.stdout, result.stderr[-2000:]
    assert step["missing"] == 0 and step["duplicates"] == 0, step
    assert step["received"] == step["sent"], step
    assert all(t["rss_kib"] > 0 for t in step["usage"]["targets"]), step["usage"]
    assert result.returncode == 0, result.stdout[-2000:]

    # The comparison report reads the same JSON: the table bench/compare.sh writes into
    # docs/performance.md, replacing only its own block.
    results = tmp_path / "results"
    results.mkdir()
    (results / "mmgs-chat-1.json").write_text(report.read_text())
    (results / "mmgs-chat-2.json").write_text(report.read_text())
    document = tmp_path / "performance.md"
    document.write_text("# Before\n\n<!-- compare:begin (written by bench/compare.sh; edits here are overwritten) -->\nold\n<!-- compare:end -->\n\n# After\n")
    tool = Path(__file__).resolve().parents[2] / "bench" / "compare_report.py"
    summary = subprocess.run([sys.executable, str(tool), str(results), "--write", str(document)],
                             capture_output=True, text=True, timeout=60)
    assert summary.returncode == 0, summary.stderr
    written = document.read_text()
    assert written.startswith("# Before\n") and written.rstrip().endswith("# After"), written
    assert "old" not in written
    assert "| chat p99 at 200 msgs/s" in written and "| **max chat rate sustained** (msgs/s) | **200** |" in written, written
    assert "Medians over 2 runs" in written, written
    # Each p99 comes with its range over the runs (here two copies of one run: low = high).
    p99 = f"{step['latency_ms']['p99']:.2f}" if step["latency_ms"]["p99"] < 10 else f"{step['latency_ms']['p99']:,.0f}"
    assert f"({p99}–{p99})" in written, written


# --------------------------------------------------------------------------------------------
# bench/mmgs-up.sh, mmgs-provision.sh, mmgs-down.sh

BENCH_PREFIX = "benchkeep"
BENCH_DEVICES = 4
# --managers 1 --frontends 1 --routers 2 --transports 1: eTunnel and HTTP port offsets from
# --node-ports (managers +1, front-ends +101, routers +201…, transports +301; HTTP +80).
BENCH_LAYOUT = ["--managers", "1", "--frontends", "1", "--routers", "2", "--transports", "1"]
BENCH_OFFSETS = [1, 101, 201, 202, 301]


def _free(port: int) -> bool:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _bench_node_ports() -> int:
    """A --node-ports base whose ports are free, below the ephemeral range (where the session's
    other ports come from) and away from deploy/local's and the default benchmark cluster's."""
    bases = list(range(10000, 30000, 500))
    random.shuffle(bases)
    for base in bases:
        if all(_free(base + o) and _free(base + 80 + o) for o in BENCH_OFFSETS):
            return base
    raise AssertionError("no free block of loopback ports for the benchmark cluster")


def test_bench_cluster_provision_and_restart_keep_devices(tmp_path, ports):
    """bench/mmgs-provision.sh N, with no cluster argument, provisions the benchmark cluster that
    bench/mmgs-up.sh is running (not deploy/local/cluster.json); the devices survive
    mmgs-down.sh + mmgs-up.sh; mmgs-up.sh --fresh wipes them. Debug binaries (MMGS_BIN), a run
    directory and ports of the test's own; everything started is stopped by PID."""
    run_dir = tmp_path / "bench-run"
    cluster_file = run_dir / "cluster.json"
    xmpp_port = ports.one()
    port_args = ["--port", str(xmpp_port), "--node-ports", str(_bench_node_ports())]
    env = child_env()
    for key in ("BIN", "PREFIX", "PASSWORD", "FIRST"):
        env.pop(key, None)
    env.update(MMGS_BIN=str(BIN), MMGS_BENCH_DIR=str(run_dir), PREFIX=BENCH_PREFIX)
    started: set[int] = set()
    expected = {f"{BENCH_PREFIX}{i}@bench.local" for i in range(1, BENCH_DEVICES + 1)}

    def script(name, *args, timeout=90.0):
        try:
            return subprocess.run([str(REPO / "bench" / name), *args], capture_output=True, text=True, timeout=timeout,
                                  env=env, cwd=tmp_path, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as error:
            raise AssertionError(f"bench/{name} {' '.join(args)} did not finish in {timeout} s: {error.stderr!r}") from None

    def launcher() -> int | None:
        try:
            return int((run_dir / "launcher.pid").read_text())
        except (OSError, ValueError):
            return None

    def up(*args) -> list[int]:
        result = script("mmgs-up.sh", *BENCH_LAYOUT, *port_args, *args)
        if launcher():
            started.add(launcher())
        assert result.returncode == 0, f"mmgs-up.sh {' '.join(args)} failed ({result.returncode}): {result.stderr[-3000:]}"
        pids = [int(p) for p in result.stdout.strip().splitlines()[-1].split(",")]
        started.update(pids)
        assert len(pids) == 5 and all(pid_alive(p) for p in pids), result.stdout
        return pids

    def down(pids):
        pids = [p for p in [*pids, launcher()] if p]
        result = script("mmgs-down.sh", timeout=40)
        assert result.returncode == 0, result.stderr
        wait_until(lambda: not any(pid_alive(p) for p in pids), 10, message=f"node processes still alive after mmgs-down.sh: {pids}")

    def listed(strict=True):
        """The benchmark devices `mmgsctl device list` finds in the cluster (None: it failed, when not strict)."""
        result = ctl("device", "list", "--json", "--cluster", cluster_file, timeout=20)
        if result.returncode != 0 and not strict:
            return None
        assert result.returncode == 0, f"mmgsctl device list failed: {result.stderr}{result.stdout}"
        return {d["jid"] for d in json.loads(result.stdout) if d["jid"].startswith(BENCH_PREFIX)}

    def assert_present(what):
        seen = {}
        wait_until(lambda: seen.update(jids=listed(strict=False)) or seen["jids"] == expected, 20,
                   message=lambda: f"{what}: devices listed {sorted(seen.get('jids') or ())}, expected {sorted(expected)}")
        for jid in sorted(expected):
            shown = ctl("device", "show", jid.split("@")[0], "--cluster", cluster_file)
            assert shown.returncode == 0 and jid in shown.stdout, f"{what}: device show {jid}: {shown.stderr}{shown.stdout}"

    try:
        pids = up()
        provision = script("mmgs-provision.sh", str(BENCH_DEVICES), timeout=60)
        assert provision.returncode == 0, f"mmgs-provision.sh failed ({provision.returncode}): {provision.stderr}{provision.stdout}"
        assert f"into the benchmark cluster in {run_dir}" in provision.stdout, provision.stdout
        assert_present("after mmgs-provision.sh")
        down(pids)

        # Stopped: provisioning refuses and says how to start one; a different router count
        # would strand the kept devices and is refused before anything starts.
        refused = script("mmgs-provision.sh", str(BENCH_DEVICES), timeout=30)
        assert refused.returncode != 0, refused.stdout
        assert "no benchmark cluster is running" in refused.stderr and "bench/mmgs-up.sh" in refused.stderr, refused.stderr
        other = script("mmgs-up.sh", *BENCH_LAYOUT, "--routers", "1", *port_args, timeout=30)
        assert other.returncode != 0 and "--fresh" in other.stderr, other.stderr
        assert launcher() is None, "a refused mmgs-up.sh recorded a launcher"

        pids = up()  # without --fresh: the data of the first start is kept
        assert_present("after mmgs-down.sh and mmgs-up.sh")

        async def login():
            async with XMPPDevices() as xs:
                device = await xs.login(f"{BENCH_PREFIX}1@bench.local", "pw", xmpp_port, presence=False)
                assert device.bare == f"{BENCH_PREFIX}1@bench.local"
        run_async(login(), timeout=30)
        down(pids)

        pids = up("--fresh")
        assert listed() == set(), "mmgs-up.sh --fresh kept the devices"
        gone = ctl("device", "show", f"{BENCH_PREFIX}1", "--cluster", cluster_file)
        assert gone.returncode != 0, gone.stdout
        down(pids)
    finally:
        if launcher() is not None and pid_alive(launcher()):
            script("mmgs-down.sh", timeout=40)
        for pid in started:
            try:
                mine = str(run_dir) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if mine and pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
