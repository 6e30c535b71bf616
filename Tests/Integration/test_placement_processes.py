"""Placement agrees across processes: the offline `mmgsctl placement` in separate processes, and
the live path a key takes through front-end, router and transport processes."""

from __future__ import annotations

import concurrent.futures
import random
import subprocess
import time

from conftest import child_env, exe, placement_owners, report

# ---------------------------------------------------------------------------------------------
# 2. mmgsctl path: stable, three tiers in order, owners as placement predicts


def test_path_is_stable_and_follows_placement(cluster):
    epoch = cluster.wait_settled(timeout=10)
    view = cluster.topology()
    live = {role: sorted(m["name"] for m in view["nodes"] if m["role"] == role and m["status"] == "up")
            for role in ("frontend", "router", "transport")}
    assert all(len(v) == 2 for v in live.values()), live

    keys = ["alice@itest.local", "bob@itest.local", "carol@itest.local", "dave@itest.local", "erin@itest.local"]
    predicted = {role: placement_owners(live[role], keys) for role in live}
    used = {role: set() for role in live}
    for key in keys:
        paths = [cluster.path(key) for _ in range(5)]
        hops = [[(h["name"], h["role"], h["etunnel"]) for h in p["hops"]] for p in paths]
        assert all(h == hops[0] for h in hops), f"{key}: the path changed between calls: {hops}"
        first = paths[0]
        assert first["key"] == key and first["epoch"] == epoch, first
        assert [h["role"] for h in first["hops"]] == ["frontend", "router", "transport"], first
        for hop in first["hops"]:
            role = hop["role"]
            assert hop["name"] == predicted[role][key], (
                f"{key}: {role} hop is {hop['name']}, `mmgsctl placement --nodes {','.join(live[role])}` says "
                f"{predicted[role][key]}")
            assert hop["etunnel"] == cluster.nodes[hop["name"]].etunnel_addr, hop
            assert hop["epoch"] == epoch, f"{hop['name']} routed by epoch {hop['epoch']}, view is {epoch}"
            used[role].add(hop["name"])
        assert all(p["rtt_ms"] > 0 for p in paths), paths
    rtts = sorted(p["rtt_ms"] for p in [cluster.path(k) for k in keys])
    report(f"mmgsctl path round trip (front-end → router → transport), 5 keys: median {rtts[len(rtts) // 2]:.2f} ms, max {rtts[-1]:.2f} ms")


# ---------------------------------------------------------------------------------------------
# 7. Offline placement in separate processes


def run_parallel(argvs, timeout=120):
    """Runs several commands at once (separate processes) and returns their stdout."""
    procs = [subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(), cwd="/")
             for a in argvs]
    outs = []
    try:
        for p, argv in zip(procs, argvs):
            out, err = p.communicate(timeout=timeout)
            assert p.returncode == 0, f"{argv[:4]}… exited {p.returncode}: {err}"
            outs.append(out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return outs


def owners_in_batches(nodes, keys, batch=20_000):
    """KEY → OWNER for many keys, over several mmgsctl processes. Batches: parsing N positional
    keys is quadratic in N (see test_placement_many_explicit_keys_in_one_call)."""
    chunks = [keys[i:i + batch] for i in range(0, len(keys), batch)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        parts = list(pool.map(lambda chunk: placement_owners(nodes, chunk), chunks))
    owners = {}
    for part in parts:
        owners.update(part)
    return owners


def test_placement_digest_is_order_independent_across_processes():
    nodes = [f"r{i}" for i in range(1, 11)]
    shuffled = nodes[:]
    random.Random(7).shuffle(shuffled)
    orders = [nodes, list(reversed(nodes)), shuffled]
    outs = run_parallel([[exe("mmgsctl"), "placement", "--nodes", ",".join(o), "--keys", "100000"] for o in orders])
    lines = [o.strip() for o in outs]
    assert all(line.startswith("keys 100000 digest ") and " table " in line for line in lines), lines
    assert len(set(lines)) == 1, f"digests differ with the node order:\n" + "\n".join(
        f"{','.join(o)}: {line}" for o, line in zip(orders, lines))

    # A different node set must give a different assignment (the digest is not a constant).
    other = run_parallel([[exe("mmgsctl"), "placement", "--nodes", ",".join(nodes[:9]), "--keys", "100000"]])[0].strip()
    assert other != lines[0], other


def test_adding_a_node_moves_about_one_share_to_it():
    ten = [f"r{i}" for i in range(1, 11)]
    eleven = ten + ["r11"]
    keys = [f"user-{i}@itest.local" for i in range(20_000)]
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        # Separate processes, and the node lists in different orders.
        f10 = pool.submit(owners_in_batches, list(reversed(ten)), keys)
        f11 = pool.submit(owners_in_batches, ["r11"] + ten[5:] + ten[:5], keys)
        before, after = f10.result(), f11.result()
    took = time.monotonic() - started

    moved = [k for k in keys if before[k] != after[k]]
    fraction = len(moved) / len(keys)
    not_to_new = [k for k in moved if after[k] != "r11"]
    loads = {n: sum(1 for k in keys if after[k] == n) for n in eleven}
    report(f"placement r1..r10 → +r11 over {len(keys)} keys: {fraction:.4f} moved (ideal {1 / 11:.4f}), "
           f"{len(not_to_new)} moved elsewhere than r11; r11 owns {loads['r11']}; computed in {took:.1f} s")
    assert 0.8 / 11 <= fraction <= 1.3 / 11, f"{fraction:.4f} of the keys moved; expected within [{0.8 / 11:.4f}, {1.3 / 11:.4f}]"
    assert len(not_to_new) <= 0.05 * len(moved), (
        f"{len(not_to_new)} of {len(moved)} moved keys went elsewhere than r11, e.g. "
        + ", ".join(f"{k}: {before[k]}→{after[k]}" for k in not_to_new[:5]))
    assert all(before[k] in ten for k in keys) and all(after[k] in eleven for k in keys)


def test_placement_many_explicit_keys_in_one_call():
    """`mmgsctl placement --nodes … --stdin` with 20,000 keys in ONE call: 20,000 table lookups.
    (Positional KEY arguments parse in quadratic time in swift-argument-parser; --stdin is the
    interface for many keys.)"""
    keys = [f"user-{i}@itest.local" for i in range(20_000)]
    started = time.monotonic()
    result = subprocess.run([exe("mmgsctl"), "placement", "--nodes", "r1,r2,r3", "--stdin"], input="\n".join(keys) + "\n",
                            capture_output=True, text=True, timeout=60, env=child_env(), cwd="/")
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == len(keys)
    report(f"mmgsctl placement with 20,000 explicit keys in one call: {took:.2f} s")
