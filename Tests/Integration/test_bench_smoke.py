"""A small run of the load generator against a real cluster, so that the instrument itself
cannot rot: 200 devices log in, chat at 200 messages/s for 2 s, every message arrives. This
asserts delivery, not speed (figures live in docs/performance.md)."""
from __future__ import annotations

import json
import subprocess

from conftest import exe, child_env


def test_mmgs_bench_chat_smoke(xmpp_cluster, tmp_path):
    xmpp_cluster.device_ok("import", "--prefix", "smoke", "--count", "200", "--password", "pw", timeout=60)
    targets = []
    for node in xmpp_cluster.of_role("frontend"):
        targets += ["--target", f"127.0.0.1:{node.xmpp}"]
    report = tmp_path / "smoke.json"
    pids = ",".join(str(n.pid) for n in xmpp_cluster.nodes.values() if n.running)
    result = subprocess.run(
        [exe("mmgs-bench"), "chat", *targets, "--domain", xmpp_cluster.domain, "--devices", "200", "--user-prefix", "smoke",
         "--password", "pw", "--mechanism", "SCRAM-SHA-256", "--rate", "200", "--rates", "200", "--step-seconds", "2",
         "--drain-seconds", "3", "--target-pids", pids, "--json", str(report)],
        capture_output=True, text=True, timeout=120, env=child_env(), cwd=tmp_path)
    assert report.exists(), f"no report (exit {result.returncode}): {result.stderr[-2000:]}{result.stdout[-2000:]}"
    data = json.loads(report.read_text())
    assert data["login"]["connected"] == 200, data["login"]
    assert data["login"]["failed"] == 0, data["login"]["failures"]
    step = data["steps"][0]
    assert step["sent"] > 300, step
    assert step["missing"] == 0 and step["duplicates"] == 0, step
    assert step["received"] == step["sent"], step
    assert all(t["rss_kib"] > 0 for t in step["usage"]["targets"]), step["usage"]
    assert result.returncode == 0, result.stdout[-2000:]
