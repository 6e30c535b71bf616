"""Membership across real processes: health, views, failure detection, takeover, rejoin, joins
while a manager is dead, and life without any manager."""

from __future__ import annotations

import re
import signal
import time

from conftest import HOST, ROLE_ORDER, SECRET, ctl, health, http_get, members, placement_owners, report, wait_until

DETECTION_LIMIT_S = 3.0
REJOIN_LIMIT_S = 5.0
JOIN_LIMIT_S = 5.0


# ---------------------------------------------------------------------------------------------
# 1. Health, topology, metrics


def test_all_nodes_healthy_and_listed(cluster):
    status = cluster.wait_healthy(timeout=10)
    epoch = cluster.wait_settled(timeout=10)
    for name, body in status.items():
        node = cluster.nodes[name]
        assert body["status"] == "ready", body
        assert body["name"] == name and body["role"] == node.role, body
        assert body["pid"] == node.pid, f"{name}: /health pid {body['pid']} != Popen pid {node.pid}"

    view = cluster.topology()
    assert view["epoch"] == epoch
    assert view["publisher"] == "topology-1", f"the lowest-named manager publishes: {view['publisher']}"
    listed = members(view)
    assert sorted(listed) == sorted(cluster.nodes), f"view lists {sorted(listed)}"
    assert len(listed) == 8
    for name, node in cluster.nodes.items():
        m = listed[name]
        assert m["status"] == "up", m
        assert m["role"] == node.role, m
        assert m["pid"] == node.pid, f"{name}: view pid {m['pid']} != Popen pid {node.pid}"
        assert m["endpoints"]["etunnel"] == f"{HOST}:{node.etunnel}", m
        assert m["endpoints"]["http"] == f"{HOST}:{node.http}", m
        if node.role == "frontend":
            assert m["endpoints"].get("xmpp") == f"{HOST}:{node.xmpp}", m
        else:
            assert "xmpp" not in m["endpoints"], m
    assert [r for r in ROLE_ORDER if any(m["role"] == r for m in listed.values())] == ROLE_ORDER

    # /metrics: Prometheus text with the epoch of the view the node follows.
    for name, node in cluster.nodes.items():
        code, text = http_get(node.http, "/metrics")
        assert code == 200, f"{name} /metrics: {code} {text}"
        values = re.findall(r"^mmgs_view_epoch(?:\{[^}]*\})? ([0-9.e+]+)$", text, re.M)
        assert values, f"{name}: no mmgs_view_epoch sample in /metrics:\n{text}"
        assert float(values[0]) == epoch, f"{name}: mmgs_view_epoch {values[0]} != {epoch}"
        up = re.findall(r'^mmgs_view_members\{status="up"\} ([0-9.e+]+)$', text, re.M)
        assert up and float(up[0]) == 8, f"{name}: mmgs_view_members up = {up}"


def test_health_not_ready_without_a_manager(make_cluster, ports):
    """A node whose seeds point where no manager listens serves /health, but 503 not-ready."""
    c = make_cluster(managers=0, frontends=0, routers=1, transports=0)
    node = c.nodes["router-1"]
    nowhere = ports.one()  # free, and nothing is started on it
    c.start("router-1", args=["--name", "router-1", "--etunnel", f"{HOST}:{node.etunnel}",
                              "--http", f"{HOST}:{node.http}", "--seeds", f"{HOST}:{nowhere}", "--secret", SECRET])
    answer = {}

    def answered():
        assert node.running, f"router-1 exited {node.proc.returncode}\n{c.log_tail()}"
        answer["v"] = health(node.http)
        return answer["v"][0] is not None

    wait_until(answered, 15, message=lambda: f"/health never answered\n{c.log_tail()}")
    # It must stay not-ready: there is nobody to join.
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        status, body, raw = health(node.http)
        assert status == 503, f"/health {status} {raw}\n{c.log_tail()}"
        assert body and body["status"] == "not-ready", raw
        assert body["name"] == "router-1" and body["role"] == "router", raw
        time.sleep(0.2)
    c.stop("router-1")
    assert node.proc.returncode == 0, f"SIGTERM should stop a node cleanly: exit {node.proc.returncode}\n{c.log_tail()}"


# ---------------------------------------------------------------------------------------------
# 3. kill -9 one node of each role: detection, routing around it, rejoin


def wait_down_everywhere(cluster, victim: str, epoch_before: int, killed_at: float, limit: float) -> dict:
    """Waits until every surviving node's own view marks `victim` down, in a view with an
    epoch above `epoch_before`, and its /health answers 200 with that epoch. Returns name →
    seconds from the kill to the answer that showed it (an upper bound: it includes the poll
    and the mmgsctl round trip, a few tens of ms)."""
    survivors = [n for n in cluster.running_names() if n != victim]

    def marks_down(name, view):
        m = members(view).get(victim)
        return view["epoch"] > epoch_before and m is not None and m["status"] == "down"

    # Watch past the limit so a slow detection is reported with its real figure.
    first = cluster.watch(marks_down, limit + 2.0 - (time.monotonic() - killed_at), names=survivors,
                          what=f"every survivor to mark {victim} down above epoch {epoch_before}",
                          require_all_at_once=False)
    return {n: t - killed_at for n, t in first.items()}


def wait_up_everywhere(cluster, name: str, limit: float, what: str) -> float:
    """Waits until every running node's own view (and /health) lists `name` up with its
    current pid; returns the seconds it took."""
    node = cluster.nodes[name]
    started = time.monotonic()

    def lists_it(_, view):
        m = members(view).get(name)
        return m is not None and m["status"] == "up" and m["pid"] == node.pid

    cluster.watch(lists_it, limit, what=what)
    return time.monotonic() - started


def key_owned_by(nodes: list[str], owner: str, prefix: str = "user") -> str:
    keys = [f"{prefix}-{i}@itest.local" for i in range(64)]
    owners = placement_owners(nodes, keys)
    for key in keys:
        if owners[key] == owner:
            return key
    raise AssertionError(f"none of 64 keys is owned by {owner} among {nodes}")


def test_kill_each_role_detect_route_around_and_rejoin(cluster):
    epoch = cluster.wait_settled(timeout=10)
    figures = []
    # The manager last, and the publisher (lowest name) at that, to exercise takeover.
    for victim in ["frontend-1", "router-1", "transport-1", "topology-1"]:
        role = cluster.nodes[victim].role
        live_same_role = [n.name for n in cluster.of_role(role)]
        key = key_owned_by(live_same_role, victim) if role != "topology" else "alice@itest.local"
        before = cluster.path(key)
        hop_of_role = {h["role"]: h["name"] for h in before["hops"]}
        if role != "topology":
            assert hop_of_role[role] == victim, f"before the kill, {key} should go through {victim}: {before}"

        old_pid = cluster.nodes[victim].pid
        killed_at = cluster.kill9(victim)
        seen = wait_down_everywhere(cluster, victim, epoch, killed_at, DETECTION_LIMIT_S)
        worst = max(seen.values())
        figures.append((victim, worst))
        report(f"kill -9 {victim} ({role}): down with a higher epoch in every survivor's view after "
               f"{worst:.2f} s (first {min(seen.values()):.2f} s; " +
               ", ".join(f"{n} {t:.2f}" for n, t in sorted(seen.items())) + ")")
        assert worst <= DETECTION_LIMIT_S, (
            f"{victim}: detection took {worst:.2f} s > {DETECTION_LIMIT_S} s: {seen}\n{cluster.log_tail(lines=15)}")

        # After detection, the key is served by a live node (via --cluster: for the manager
        # kill the dead publisher is the first seed, so mmgsctl must fall through to the next).
        view = cluster.topology()
        if role == "topology":
            assert view["publisher"] == "topology-2", f"topology-2 should have taken over: {view['publisher']}"
        after = cluster.path(key)
        names = [h["name"] for h in after["hops"]]
        assert victim not in names, f"{key} still routed through dead {victim}: {after}"
        assert [h["role"] for h in after["hops"]] == ["frontend", "router", "transport"], after
        for hop_role in ("frontend", "router", "transport"):
            live = [n.name for n in cluster.of_role(hop_role) if n.running]
            expected = placement_owners(live, [key])[key]
            got = next(h["name"] for h in after["hops"] if h["role"] == hop_role)
            assert got == expected, f"{key}: {hop_role} hop {got}, placement over live {live} says {expected}: {after}"
        assert all(h["epoch"] > epoch for h in after["hops"]), f"hops should route by the new view: {after}"

        # Restart it with the same name: a new process that rejoins.
        started = time.monotonic()
        cluster.start(victim)
        assert cluster.nodes[victim].pid != old_pid
        wait_up_everywhere(cluster, victim, REJOIN_LIMIT_S - (time.monotonic() - started),
                           f"restarted {victim} (pid {cluster.nodes[victim].pid}, old {old_pid}) up in every view")
        took = time.monotonic() - started
        report(f"restart {victim}: up again in every node's view after {took:.2f} s (new pid {cluster.nodes[victim].pid}, old {old_pid})")
        epoch = cluster.wait_settled(timeout=10)

    view = cluster.topology()
    assert all(m["status"] == "up" for m in view["nodes"]) and len(view["nodes"]) == 8, view
    assert view["publisher"] == "topology-1", f"the restarted lowest-named manager publishes again: {view['publisher']}"


# ---------------------------------------------------------------------------------------------
# 4. A new node joins while a manager is dead


def test_new_node_joins_while_a_manager_is_dead(cluster):
    cluster.wait_settled(timeout=10)
    dead, survivor = "topology-1", "topology-2"
    dead_seed, survivor_seed = cluster.nodes[dead].etunnel_addr, cluster.nodes[survivor].etunnel_addr
    killed_at = cluster.kill9(dead)

    # router-3 is not in the cluster file: everything on the command line, no --config.
    new = cluster.add("router-3", "router")
    started = time.monotonic()
    cluster.start("router-3", args=[
        "--name", "router-3", "--etunnel", new.etunnel_addr, "--http", f"{HOST}:{new.http}",
        "--seeds", f"{dead_seed},{survivor_seed}", "--secret", SECRET])
    wait_up_everywhere(cluster, "router-3", JOIN_LIMIT_S - (time.monotonic() - started),
                       "new router-3 up in every view")
    took = time.monotonic() - started
    report(f"new node router-3 (seeds: dead {dead} first) up in every node's view {took:.2f} s after it started")

    # The surviving manager keeps serving topology, through the file's seed list (dead first)
    # and directly.
    for args in (cluster.ctl_args(), cluster.ctl_args(survivor_seed)):
        result = ctl("topology", "--json", *args)
        assert result.returncode == 0, f"mmgsctl topology {args}: {result.stderr}"
    # The dead manager may still be suspect here (router-3 can be in within ~1 s); it must be
    # down within the detection limit of its kill.
    def dead_marked_down():
        v = cluster.topology(seed=survivor_seed)
        return v if members(v)[dead]["status"] == "down" else None

    view = wait_until(dead_marked_down, max(0.5, killed_at + DETECTION_LIMIT_S - time.monotonic()),
                      message=lambda: f"{survivor} does not mark {dead} down within {DETECTION_LIMIT_S} s of the kill: "
                                      f"{members(cluster.topology(seed=survivor_seed))[dead]}")
    listed = members(view)
    assert view["publisher"] == survivor, view["publisher"]
    assert listed["router-3"]["status"] == "up" and listed["router-3"]["pid"] == new.pid, listed["router-3"]
    assert listed[dead]["status"] == "down", listed[dead]
    assert all(listed[n]["status"] == "up" for n in cluster.running_names()), listed

    # And router-3 takes its share of keys.
    routers = ["router-1", "router-2", "router-3"]
    key = key_owned_by(routers, "router-3")
    path = cluster.path(key)
    assert [h["name"] for h in path["hops"] if h["role"] == "router"] == ["router-3"], path


# ---------------------------------------------------------------------------------------------
# 5. Both managers dead: the rest keeps its last view and keeps routing


def test_nodes_keep_last_view_when_every_manager_is_dead(cluster):
    epoch = cluster.wait_settled(timeout=10)
    keys = [f"user-{i}@itest.local" for i in range(6)]
    paths_before = {k: cluster.path(k) for k in keys}
    for m in cluster.managers():
        cluster.kill9(m.name)
    others = cluster.running_names()
    assert len(others) == 6

    hold = 3.5
    end = time.monotonic() + hold
    rounds = 0
    while time.monotonic() < end:
        for name, (status, body) in cluster.healths(others).items():
            assert status == 200 and body and body["status"] == "ready", (
                f"{name} not healthy {time.monotonic() - end + hold:.1f} s after both managers died: {status} {body}\n"
                + cluster.log_tail(name))
            assert body["epoch"] == epoch, f"{name}: epoch moved from {epoch} to {body['epoch']} with no manager alive"
        rounds += 1
        time.sleep(0.2)
    assert rounds >= 10

    # mmgsctl through the cluster file's seeds (the managers) cannot get a view: it must say so.
    result = ctl("path", keys[0], "--json", *cluster.ctl_args(), timeout=30)
    assert result.returncode != 0, f"mmgsctl path with every manager dead should fail: {result.stdout}"
    for m in cluster.managers():
        assert m.etunnel_addr in result.stderr, f"the error should name seed {m.etunnel_addr}: {result.stderr}"

    # Any node serves the view it follows, so mmgsctl pointed at a front-end still traces the
    # real path: front-end → router → transport, by the last view, same hops as before.
    for seed_node in ("frontend-1", "router-2"):
        seed = cluster.nodes[seed_node].etunnel_addr
        view = cluster.topology(seed=seed)
        assert view["epoch"] == epoch, view
        for key in keys:
            path = cluster.path(key, seed=seed)
            assert [h["role"] for h in path["hops"]] == ["frontend", "router", "transport"], path
            assert [h["name"] for h in path["hops"]] == [h["name"] for h in paths_before[key]["hops"]], (
                f"{key}: path changed with the managers gone: {paths_before[key]['hops']} → {path['hops']}")
            assert all(h["epoch"] == epoch for h in path["hops"]), path
    for name in others:
        assert cluster.nodes[name].running, f"{name} died\n{cluster.log_tail(name)}"


def test_cluster_reconverges_when_the_managers_come_back(cluster):
    """After losing every manager, restarting them (same names, same file) must bring back one
    cluster: the managers' view lists every node again and every node follows it. Without this
    an operator's only fix is restarting every node."""
    epoch = cluster.wait_settled(timeout=10)
    for m in cluster.managers():
        cluster.kill9(m.name)
    time.sleep(3.0)  # the others notice the managers are gone, as in the test above
    restarted = time.monotonic()
    for m in cluster.managers():
        cluster.start(m.name)
    limit = 10.0
    pids = {n: cluster.nodes[n].pid for n in cluster.nodes}

    def whole(_, view):
        m = members(view)
        return view["epoch"] > epoch and all(m.get(n, {}).get("status") == "up" and m[n]["pid"] == pids[n] for n in pids)

    try:
        cluster.watch(whole, limit, what="one view listing all 8 nodes (managers with their new pids), above "
                                         f"the epoch {epoch} the others kept, in every node")
    except AssertionError as error:
        view = cluster.try_topology(cluster.managers()[0].etunnel_addr)
        raise AssertionError(
            f"{error}\n\nThe restarted managers publish: epoch {view and view['epoch']} with "
            f"{sorted(members(view)) if view else None}; `mmgsctl path` through them: "
            f"{ctl('path', 'alice@itest.local', *cluster.ctl_args()).stderr.strip()}") from None
    report(f"both managers restarted after total loss: one view again everywhere after {time.monotonic() - restarted:.2f} s")


def test_sigterm_leaves_the_cluster_at_once(cluster):
    """A node stopped with SIGTERM exits 0 and tells the managers it leaves (NodeBootstrap:
    "leaves the cluster"; MembershipShell.leave: "so its view entry turns down at once"), so it
    turns down faster than failure detection could ever notice (ping 150 ms + indirect probe
    300 ms + suspicion 800 ms ≥ 1.25 s by default)."""
    epoch = cluster.wait_settled(timeout=10)
    victim, publisher = "router-2", cluster.managers()[0]
    node = cluster.nodes[victim]
    started = time.monotonic()
    node.proc.send_signal(signal.SIGTERM)
    try:
        code = node.proc.wait(timeout=5)
    except Exception:
        raise AssertionError(f"{victim} did not stop within 5 s of SIGTERM\n{cluster.log_tail(victim)}") from None
    assert code == 0, f"{victim} exited {code} on SIGTERM\n{cluster.log_tail(victim)}"
    assert "node stopped" in node.log.read_text(errors="replace"), cluster.log_tail(victim)

    def down_at_publisher():
        view = cluster.try_topology(publisher.etunnel_addr, timeout=5)
        return view is not None and view["epoch"] > epoch and members(view)[victim]["status"] == "down"

    wait_until(down_at_publisher, 5, interval=0.02, message=lambda: f"{victim} never turned down\n{cluster.log_tail(publisher.name)}")
    took = time.monotonic() - started
    history = [line.split("[Membership]")[-1].strip() + " (" + line.split(" info ")[0][-14:] + ")"
               for line in publisher.log.read_text(errors="replace").splitlines() if f"member={victim}" in line]
    report(f"SIGTERM {victim}: down in the publisher's view after {took:.2f} s; publisher saw: {', '.join(history[-3:])}")
    assert took < 0.75, (f"{victim} left with SIGTERM but turned down only after {took:.2f} s, i.e. by failure detection "
                         f"(the publisher logged: {', '.join(history)}): the farewell did not reach the managers")
