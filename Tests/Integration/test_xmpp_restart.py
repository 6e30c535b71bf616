"""The whole cluster stops (SIGTERM to every node) and starts again from the same cluster file
and the same router journals: devices, rosters and offline messages survive."""

from __future__ import annotations

import asyncio
import signal
import time

from conftest import DELAY_NS, XMPPDevices, device_ids, report, run_async


def test_whole_cluster_restart_keeps_devices_rosters_offline(make_cluster):
    c = make_cluster(allow_plain=True)
    c.start_all()
    c.wait_healthy(timeout=45)
    c.wait_device_service(timeout=30)

    ids = device_ids(c, "durable-", 3)
    alice, bob, carol = [c.add_device(d, f"{d}-pw") for d in ids]
    pw = {alice: f"{ids[0]}-pw", bob: f"{ids[1]}-pw", carol: f"{ids[2]}-pw"}
    c.device_ok("add", "durable-ctl", "--password", "x", "--imei", "490154203237518", "--profile", "restart")
    c.device_ok("disable", "durable-ctl")
    texts = [f"kept across the restart {i}" for i in range(3)]

    async def before():
        async with XMPPDevices() as xs:
            a = await xs.login(f"{alice}/phone", pw[alice], c.xmpp_port("frontend-1"))
            b = await xs.login(f"{bob}/phone", pw[bob], c.xmpp_port("frontend-2"))
            # Mutual subscription A <-> B, and a named, grouped item of A for C.
            for x, y in ((a, b), (b, a)):
                x.c.send_presence(pto=y.bare, ptype="subscribe")
                await y.next_presence(lambda p, who=x.bare: p.xml.get("type") == "subscribe" and str(p["from"]) == who,
                                      what="a subscription request")
                y.c.send_presence(pto=x.bare, ptype="subscribed")
            await a.roster_set(carol, name="Carol", groups=["Colleagues"])
            for x, y in ((a, bob), (b, alice)):
                deadline = time.monotonic() + 10
                while (await x.roster()).get(y, {}).get("subscription") != "both":
                    assert time.monotonic() < deadline, f"{x.label}'s roster never reached 'both': {await x.roster()}"
                    await asyncio.sleep(0.05)
            # B leaves; A writes to B (offline) and to C (never logged in).
            await b.close()
            await asyncio.sleep(0.3)
            for text in texts:
                a.send_chat(bob, text)
                a.send_chat(carol, text)
            await a.roster()  # the stream is in order: the router handled the messages

    run_async(before(), 40)

    # Stop every node with SIGTERM, wait for all to exit, start them all again.
    procs = {name: node.proc for name, node in c.nodes.items()}
    started = time.monotonic()
    c.stop_all()
    stopped = time.monotonic() - started
    codes = {name: p.returncode for name, p in procs.items()}
    assert all(code is not None for code in codes.values()), codes
    assert not [n for n, code in codes.items() if code == -signal.SIGKILL], f"nodes needed SIGKILL after SIGTERM: {codes}"
    for router in c.of_role("router"):
        assert any((c.dir / "data" / router.name).iterdir()), f"{router.name} wrote no journal under {c.dir / 'data'}"

    started = time.monotonic()
    c.start_all()
    c.wait_healthy(timeout=45)
    c.wait_device_service(timeout=30)
    report(f"xmpp: whole cluster SIGTERM stop in {stopped:.2f} s, restart to device service in {time.monotonic() - started:.2f} s")

    for router in c.of_role("router"):
        log = router.log.read_text(errors="replace")
        assert "journal recovered" in log, f"{router.name} did not recover its journal:\n{c.log_tail(router.name)}"

    shown = c.device_ok("show", "durable-ctl")
    assert "disabled" in shown and "490154203237518" in shown and "restart" in shown, shown

    async def after():
        async with XMPPDevices() as xs:
            refused = xs.new(f"durable-ctl@{c.domain}/x", "x", c.xmpp_port("frontend-1"))
            assert (await refused.login_fails())[:1] == ["account-disabled"]

            a = await xs.login(f"{alice}/phone", pw[alice], c.xmpp_port("frontend-2"))
            roster = await a.roster()
            assert roster.get(bob) == {"name": None, "subscription": "both", "ask": None, "groups": []}, roster
            assert roster.get(carol) == {"name": "Carol", "subscription": "none", "ask": None, "groups": ["Colleagues"]}, roster

            b = await xs.login(f"{bob}/phone", pw[bob], c.xmpp_port("frontend-1"))
            got = [await b.next_message(what=f"offline message {i} after the restart") for i in range(3)]
            assert [m["body"] for m in got] == texts
            assert all(m.xml.find(f"{{{DELAY_NS}}}delay") is not None for m in got), [str(m) for m in got]
            assert (await b.roster()).get(alice, {}).get("subscription") == "both"
            # Presence flows again along the restored subscription.
            await a.next_presence(lambda p: p.xml.get("type") is None and str(p["from"]) == b.full,
                                  what="B's presence after the restart")

            c_ = await xs.login(f"{carol}/phone", pw[carol], c.xmpp_port("frontend-2"))
            got = [await c_.next_message(what=f"C's offline message {i}") for i in range(3)]
            assert [m["body"] for m in got] == texts

    run_async(after(), 40)
