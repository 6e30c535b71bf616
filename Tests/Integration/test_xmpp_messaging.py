"""Messages between real XMPP clients on different front-ends (and, by the choice of device
ids, owned by different routers): bare and full JIDs in both directions, 1,000 messages in
order, offline storage with XEP-0203 delay stamps, several resources of one device (RFC 6121
§8.5), errors for unknown local users, server IQs (ping, disco)."""

from __future__ import annotations

import asyncio
import time

from conftest import DELAY_NS, XMPPDevices, device_ids, report, run_async, stanza_error

DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"


def body(msg) -> str:
    return msg["body"]


def delay_of(msg):
    return msg.xml.find(f"{{{DELAY_NS}}}delay")


def provision(cluster, prefix: str, password: str = "pw", count: int = 2) -> list[str]:
    """Devices PREFIX<n> on alternating routers; returns their bare JIDs."""
    return [cluster.add_device(d, password) for d in device_ids(cluster, prefix, count)]


async def expect_silence(device, marker_from, marker_to: str, what: str):
    """Proves `device` received nothing before a marker message: `marker_from` (one stream, so
    routed after everything it sent before) sends a marker to `marker_to` (a full JID of
    `device`); everything `device` got before the marker is returned."""
    marker = f"marker {time.monotonic_ns()}"
    marker_from.send_chat(marker_to, marker)
    before = []
    while True:
        msg = await device.next_message(what=f"the marker after {what}")
        if body(msg) == marker:
            return before
        before.append(body(msg))


def test_messages_between_frontends_bare_and_full(xmpp_cluster):
    c = xmpp_cluster
    alice, bob = provision(c, "chat-")

    async def scenario():
        async with XMPPDevices() as xs:
            a = await xs.login(f"{alice}/phone", "pw", c.xmpp_port("frontend-1"))
            b = await xs.login(f"{bob}/tablet", "pw", c.xmpp_port("frontend-2"))
            for sender, receiver, to in [(a, b, bob), (b, a, alice), (a, b, f"{bob}/tablet"), (b, a, f"{alice}/phone")]:
                text = f"{sender.bare} to {to}"
                sender.send_chat(to, text)
                msg = await receiver.next_message(what=f"message {text!r}")
                assert body(msg) == text
                assert str(msg["from"]) == sender.full, f"from {msg['from']}, expected the sender's full JID {sender.full}"
                assert str(msg["to"]) == to
                assert msg["type"] == "chat"
                assert delay_of(msg) is None, f"a live message carries a delay: {msg}"
            # A message to a full JID whose resource is not bound goes to the bare JID (§8.5.3.2.1).
            a.send_chat(f"{bob}/nosuchresource", "to a gone resource")
            msg = await b.next_message(what="the message to an unbound resource")
            assert body(msg) == "to a gone resource"

    run_async(scenario(), 40)


def test_thousand_messages_in_order(xmpp_cluster):
    c = xmpp_cluster
    alice, bob = provision(c, "bulk-")
    count = 1000

    async def scenario():
        async with XMPPDevices() as xs:
            a = await xs.login(f"{alice}/sender", "pw", c.xmpp_port("frontend-1"))
            b = await xs.login(f"{bob}/receiver", "pw", c.xmpp_port("frontend-2"))
            started = time.monotonic()
            for seq in range(count):
                a.send_chat(bob, f"seq {seq}")
            got = []
            while len(got) < count:
                msg = await b.next_message(timeout=20, what=f"message {len(got)} of {count} (got {len(got)})")
                got.append(body(msg))
            elapsed = time.monotonic() - started
            assert got == [f"seq {i}" for i in range(count)], (
                f"out of order or duplicated: first difference at "
                f"{next(i for i, (x, y) in enumerate(zip(got, [f'seq {i}' for i in range(count)])) if x != y)}")
            # Nothing more (no duplicate) arrives after the last one.
            extra = await expect_silence(b, a, b.full, "the 1,000 messages")
            assert not extra, f"after the {count} messages: {extra[:5]}"
            report(f"xmpp: {count} chat messages frontend-1 -> frontend-2 (bare JID, across routers) in order in "
                   f"{elapsed:.2f} s ({count / elapsed:.0f}/s)")

    run_async(scenario(), 90)


def test_offline_messages_delivered_once_in_order_with_delay(xmpp_cluster):
    c = xmpp_cluster
    alice, bob = provision(c, "offline-")

    async def scenario():
        async with XMPPDevices() as xs:
            a = await xs.login(f"{alice}/phone", "pw", c.xmpp_port("frontend-1"))
            texts = [f"while you were away {i}" for i in range(3)]
            sent_at = time.time()
            for text in texts:
                a.send_chat(bob, text)
            a.send_chat(bob, "a headline is not stored", mtype="headline")
            # The router has handled them once this answer is back (the stream is kept in order).
            await a.roster()
            await asyncio.sleep(0.2)

            # Logged in without presence: nothing yet (delivery waits for initial presence).
            b = await xs.login(f"{bob}/tablet", "pw", c.xmpp_port("frontend-2"), presence=False)
            await b.roster()
            assert b.messages.empty(), f"offline messages before initial presence: {[body(m) for m in b.drain_messages()]}"
            await b.available()
            got = [await b.next_message(what=f"offline message {i}") for i in range(3)]
            assert [body(m) for m in got] == texts
            for msg in got:
                delay = delay_of(msg)
                assert delay is not None, f"no <delay xmlns='{DELAY_NS}'/> in {msg}"
                stamp = delay.get("stamp")
                assert stamp and stamp.endswith("Z") and stamp.startswith(time.strftime("%Y-", time.gmtime(sent_at))), (
                    f"bad stamp {stamp!r} in {msg}")
                assert delay.get("from") == c.domain, f"delay from {delay.get('from')!r}, expected {c.domain}"
                assert str(msg["from"]) == a.full
            assert not await expect_silence(b, a, b.full, "the offline messages"), "more than the 3 offline messages"
            await b.close()

            # A second login gets them no more.
            b2 = await xs.login(f"{bob}/tablet", "pw", c.xmpp_port("frontend-1"))
            extra = await expect_silence(b2, a, b2.full, "a second login")
            assert not extra, f"offline messages delivered twice: {extra}"

    run_async(scenario(), 40)


def test_offline_waits_for_a_non_negative_initial_presence(xmpp_cluster):
    """A device whose only resource has a negative priority gets no bare-JID messages: they are
    kept (§8.5.2.1.1) and delivered at the next initial presence with priority >= 0."""
    c = xmpp_cluster
    alice, bob = provision(c, "negative-")

    async def scenario():
        async with XMPPDevices() as xs:
            a = await xs.login(f"{alice}/phone", "pw", c.xmpp_port("frontend-1"))
            shy = await xs.login(f"{bob}/shy", "pw", c.xmpp_port("frontend-2"), priority=-5)
            a.send_chat(bob, "kept for later")
            extra = await expect_silence(shy, a, shy.full, "a bare message to a negative-priority resource")
            assert not extra, f"a negative-priority resource got a bare-JID message: {extra}"
            bold = await xs.login(f"{bob}/bold", "pw", c.xmpp_port("frontend-1"), priority=0)
            msg = await bold.next_message(what="the kept message at the priority-0 initial presence")
            assert body(msg) == "kept for later" and delay_of(msg) is not None, str(msg)

    run_async(scenario(), 30)


def test_several_resources_priorities_and_conflict(xmpp_cluster):
    c = xmpp_cluster
    alice, bob = provision(c, "multi-")

    async def scenario():
        async with XMPPDevices() as xs:
            a = await xs.login(f"{alice}/phone", "pw", c.xmpp_port("frontend-1"))
            high = await xs.login(f"{bob}/high", "pw", c.xmpp_port("frontend-1"), priority=5)
            low = await xs.login(f"{bob}/low", "pw", c.xmpp_port("frontend-2"), priority=1)
            neg = await xs.login(f"{bob}/negative", "pw", c.xmpp_port("frontend-2"), priority=-1)
            # Resources of one device see each other's presence (§4.2.2, §4.4.2).
            for d in (high, low):
                await d.next_presence(lambda p: str(p["from"]) == neg.full and p.xml.get("type") is None,
                                      what=f"{neg.full}'s presence at {d.full}")
            for other in (high, low):
                await neg.next_presence(lambda p, who=other.full: str(p["from"]) == who and p.xml.get("type") is None,
                                        what=f"{other.full}'s presence at the new resource")

            # Bare JID: only the highest priority.
            a.send_chat(bob, "to the bare JID 1")
            assert body(await high.next_message()) == "to the bare JID 1"
            assert await expect_silence(low, a, low.full, "bare message 1") == []
            assert await expect_silence(neg, a, neg.full, "bare message 1") == []

            # Full JIDs: only that resource, whatever its priority.
            for target in (low, neg):
                a.send_chat(target.full, f"only for {target.full}")
                assert body(await target.next_message()) == f"only for {target.full}"
            assert await expect_silence(high, a, high.full, "full-JID messages") == []

            # A tie at the top: both get a bare message; the negative one still does not.
            await low.available(priority=5)
            a.send_chat(bob, "to the bare JID 2")
            assert body(await high.next_message()) == "to the bare JID 2"
            assert body(await low.next_message()) == "to the bare JID 2"
            assert await expect_silence(neg, a, neg.full, "bare message 2") == []

            # Same resource again: the old stream gets <conflict/>, the new one takes over.
            newer = await xs.login(f"{bob}/high", "pw", c.xmpp_port("frontend-2"), priority=5)
            await high.wait_gone()
            assert [cond for cond, _ in high.stream_errors][:1] == ["conflict"], high.stream_errors
            a.send_chat(f"{bob}/high", "to the new high")
            assert body(await newer.next_message()) == "to the new high"

    run_async(scenario(), 60)


def test_unknown_user_errors_and_server_iqs(xmpp_cluster):
    c = xmpp_cluster
    (alice,) = provision(c, "errors-", count=1)

    async def scenario():
        async with XMPPDevices() as xs:
            a = await xs.login(f"{alice}/phone", "pw", c.xmpp_port("frontend-2"))
            nobody = f"nobody-here@{c.domain}"

            a.c.send_message(mto=nobody, mbody="anyone?", mtype="chat")
            error = await a.next_message(what="the error for a message to an unknown user")
            assert error["type"] == "error", str(error)
            assert stanza_error(error) == "service-unavailable", str(error)
            assert str(error["from"]) == nobody, str(error)

            answer = await a.iq(f"{nobody}/x", "<query xmlns='jabber:iq:version'/>")
            assert answer["type"] == "error" and stanza_error(answer) == "service-unavailable", str(answer)
            answer = await a.iq(nobody, f"<query xmlns='{DISCO_INFO}'/>")
            assert answer["type"] == "error" and stanza_error(answer) == "service-unavailable", str(answer)

            # XEP-0199 ping of the domain (and of the server without a 'to').
            answer = await a.iq(c.domain, "<ping xmlns='urn:xmpp:ping'/>")
            assert answer["type"] == "result", str(answer)
            answer = await a.iq(None, "<ping xmlns='urn:xmpp:ping'/>")
            assert answer["type"] == "result", str(answer)
            # Legacy session establishment (RFC 3921 §3) is accepted.
            answer = await a.iq(None, "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>", itype="set")
            assert answer["type"] == "result", str(answer)

            # disco#info and disco#items of the domain.
            info = await a.iq(c.domain, f"<query xmlns='{DISCO_INFO}'/>")
            assert info["type"] == "result", str(info)
            query = info.xml.find(f"{{{DISCO_INFO}}}query")
            identities = [(i.get("category"), i.get("type")) for i in query.findall(f"{{{DISCO_INFO}}}identity")]
            features = {f.get("var") for f in query.findall(f"{{{DISCO_INFO}}}feature")}
            assert ("server", "im") in identities, str(info)
            for feature in (DISCO_INFO, DISCO_ITEMS, "urn:xmpp:ping", "jabber:iq:roster"):
                assert feature in features, f"disco#info lacks {feature}: {sorted(features)}"
            items = await a.iq(c.domain, f"<query xmlns='{DISCO_ITEMS}'/>")
            assert items["type"] == "result" and items.xml.find(f"{{{DISCO_ITEMS}}}query") is not None, str(items)

            # An unknown server IQ: service-unavailable, the stream stays up.
            answer = await a.iq(c.domain, "<query xmlns='urn:example:unknown'/>")
            assert answer["type"] == "error" and stanza_error(answer) == "service-unavailable", str(answer)
            assert (await a.iq(c.domain, "<ping xmlns='urn:xmpp:ping'/>"))["type"] == "result"
            assert not a.stream_errors, a.stream_errors

    run_async(scenario(), 40)


def test_iq_between_devices_and_stream_rules(xmpp_cluster):
    c = xmpp_cluster
    alice, bob = provision(c, "iq-")

    async def scenario():
        async with XMPPDevices() as xs:
            a = xs.new(f"{alice}/phone", "pw", c.xmpp_port("frontend-1"))
            b = xs.new(f"{bob}/tablet", "pw", c.xmpp_port("frontend-2"))
            b.c.register_plugin("xep_0199")  # B answers pings
            await a.login(presence=True)
            await b.login(presence=True)

            # An IQ to a full JID reaches that device and its answer comes back (both directions
            # cross front-ends and routers).
            answer = await a.iq(b.full, "<ping xmlns='urn:xmpp:ping'/>")
            assert answer["type"] == "result" and str(answer["from"]) == b.full, str(answer)
            # A device that does not implement a query answers with an error, routed back.
            answer = await b.iq(a.full, "<query xmlns='jabber:iq:version'/>")
            assert answer["type"] == "error" and str(answer["from"]) == a.full, str(answer)
            # An IQ to a user's bare JID is the server's to answer; nothing is served there yet.
            answer = await a.iq(bob, "<ping xmlns='urn:xmpp:ping'/>")
            assert answer["type"] == "error" and stanza_error(answer) == "service-unavailable", str(answer)
            # An IQ to a resource that is not bound: service-unavailable.
            answer = await a.iq(f"{bob}/nosuchresource", "<ping xmlns='urn:xmpp:ping'/>")
            assert answer["type"] == "error" and stanza_error(answer) == "service-unavailable", str(answer)

            # Another domain: no federation, remote-server-not-found.
            a.c.send_message(mto="someone@elsewhere.example", mbody="far away", mtype="chat")
            error = await a.next_message(what="the error for a message to another domain")
            assert error["type"] == "error" and stanza_error(error) == "remote-server-not-found", str(error)

            # A forged 'from' (RFC 6120 §8.1.2.1): the stream ends with invalid-from, nothing is routed.
            a.c.send_raw(f"<message to='{bob}' from='{bob}/forged' type='chat'><body>forged</body></message>")
            await a.wait_gone()
            assert [cond for cond, _ in a.stream_errors][:1] == ["invalid-from"], a.stream_errors
            a2 = await xs.login(f"{alice}/other", "pw", c.xmpp_port("frontend-1"))
            extra = await expect_silence(b, a2, b.full, "the forged message")
            assert not extra, f"a message with a forged from was routed: {extra}"

    run_async(scenario(), 40)
