"""A small run of the load generator against a real cluster, so that the instrument itself
cannot rot: 200 devices log in, chat at 200 messages/s for 2 s, every message arrives. This
asserts delivery, not speed (figures live in docs/performance.md)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
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
