"""Delivery leases: after a router has delivered a message, the sender's front-end delivers the
next ones to the same address itself (written locally, or one `deliver` call to the receiver's
front-end) until the router revokes the lease. These tests check that the shortcut is taken
(the front-ends' /metrics count it), that it follows every session change as the router would
(RFC 6121 §8.5 priorities, a new resource, a closed stream, offline storage), and that a kill -9
of the receiver's front-end loses nothing."""

from __future__ import annotations

import re

from conftest import DELAY_NS, XMPPDevices, device_ids, http_get, run_async


def out_counts(cluster, frontend: str) -> dict[str, int]:
    """mmgs_messages_out_total by path, and mmgs_lease_misses_total, from a front-end's /metrics."""
    code, text = http_get(cluster.nodes[frontend].http, "/metrics")
    assert code == 200, f"{frontend} /metrics: {code} {text}"
    counts = {m.group(1): int(float(m.group(2)))
              for m in re.finditer(r'^mmgs_messages_out_total\{path="([^"]+)"\} (\S+)$', text, re.M)}
    misses = re.search(r"^mmgs_lease_misses_total (\S+)$", text, re.M)
    counts["misses"] = int(float(misses.group(1))) if misses else 0
    return counts


def grew(before: dict, after: dict, key: str) -> int:
    return after.get(key, 0) - before.get(key, 0)


async def exchange(sender, to: str, receiver, prefix: str, count: int):
    """`count` messages PREFIX n from `sender` to `to`; `receiver` must get them all, in order."""
    for i in range(count):
        sender.send_chat(to, f"{prefix} {i}")
    for i in range(count):
        assert (await receiver.next_message(what=f"{prefix} {i}"))["body"] == f"{prefix} {i}"


def start(make_cluster, prefix: str):
    """A healthy cluster with two devices on different routers: (cluster, alice, bob, the
    XMPP ports of frontend-1 and frontend-2)."""
    c = make_cluster(allow_plain=True)
    c.start_all()
    c.wait_healthy(timeout=45)
    c.wait_device_service(timeout=30)
    alice, bob = [c.add_device(d, "pw") for d in device_ids(c, prefix)]
    return c, alice, bob, c.xmpp_port("frontend-1"), c.xmpp_port("frontend-2")


def test_leases_are_used_and_follow_session_changes(make_cluster):
    c, alice, bob, fe1, fe2 = start(make_cluster, "lease-")

    async def scenario():
        async with XMPPDevices() as xs:
            a = await xs.login(f"{alice}/phone", "pw", fe1)
            phone = await xs.login(f"{bob}/phone", "pw", fe2, priority=1)

            # 1. Across front-ends: the first message goes through bob's router, which grants a
            #    lease; the rest go from frontend-1 to frontend-2 directly, in order.
            before = out_counts(c, "frontend-1")
            await exchange(a, bob, phone, "cross", 20)
            after = out_counts(c, "frontend-1")
            assert grew(before, after, "router") >= 1, (before, after)
            assert grew(before, after, "lease-frontend") >= 15, f"the lease was not used: {before} → {after}"

            # 2. A new resource with a higher priority, on alice's own front-end: the router
            #    revokes the lease when it binds and when its presence arrives, so the very next
            #    message goes to it; later ones are written by frontend-1 without leaving it.
            tablet = await xs.login(f"{bob}/tablet", "pw", fe1, priority=5)
            before = out_counts(c, "frontend-1")
            await exchange(a, bob, tablet, "to the top", 10)
            after = out_counts(c, "frontend-1")
            assert grew(before, after, "lease-local") >= 5, f"no local delivery on the lease: {before} → {after}"
            assert phone.drain_messages() == [], "the lower-priority resource got a bare-JID message"

            # 3. The tablet goes negative: bare-JID messages go back to the phone at once.
            await tablet.available(priority=-1)
            a.send_chat(bob, "back to the phone")
            assert (await phone.next_message(what="the message after the priority change"))["body"] == "back to the phone"
            assert tablet.drain_messages() == []

            # 4. A full JID is leased on its own and honours the resource, whatever its priority.
            await exchange(a, tablet.full, tablet, "only the tablet", 3)

            # 5. The phone leaves: nothing non-negative is left, so the message is kept offline
            #    (not written to the negative tablet on an old lease) and delivered, delayed, to
            #    the next resource that comes online.
            await phone.close()
            a.send_chat(bob, "kept offline")
            await a.roster()  # one stream, in order: the message has been handled
            laptop = await xs.login(f"{bob}/laptop", "pw", fe2, priority=0)
            msg = await laptop.next_message(what="the offline message")
            assert msg["body"] == "kept offline" and msg.xml.find(f"{{{DELAY_NS}}}delay") is not None, str(msg)
            assert tablet.drain_messages() == [], "a negative-priority resource got a bare-JID message"

    run_async(scenario(), 90)


def test_kill9_of_the_receivers_frontend_loses_nothing(make_cluster):
    """The sender's front-end holds a lease on bob at frontend-2; frontend-2 dies (kill -9). The
    next messages find no stream there, go to bob's router, and are kept offline for bob."""
    c, alice, bob, fe1, fe2 = start(make_cluster, "leasekill-")

    async def scenario():
        async with XMPPDevices() as xs:
            a = await xs.login(f"{alice}/phone", "pw", fe1)
            b = await xs.login(f"{bob}/phone", "pw", fe2)
            await exchange(a, bob, b, "warm", 5)
            assert out_counts(c, "frontend-1").get("lease-frontend", 0) >= 1

            c.kill9("frontend-2")
            texts = [f"after the kill {i}" for i in range(5)]
            for text in texts:
                a.send_chat(bob, text)
            await a.roster(timeout=40)  # in order: every message above has been handled
            counts = out_counts(c, "frontend-1")
            assert counts["misses"] >= 1, f"the dead front-end's lease was never found stale: {counts}"

            back = await xs.login(f"{bob}/phone", "pw", fe1)
            got = [(await back.next_message(what=f"offline message {i}"))["body"] for i in range(len(texts))]
            assert got == texts, f"lost or reordered across the kill: {got}"

    run_async(scenario(), 90)
